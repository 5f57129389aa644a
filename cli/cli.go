// Package cli is the workermand command line. A custom daemon binary is the
// stock main.go with blank imports of its own handler packages:
//
//	package main
//
//	import (
//		"github.com/workermand/workermand/cli"
//		_ "github.com/workermand/workermand/handlers/echo"
//		_ "example.com/myapp/handlers"
//	)
//
//	func main() { cli.Main() }
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/workermand/workermand/internal/childentry"
	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/workerman"
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// Main runs the command line and exits; it is the only place that exits. A
// process started by the master as a child runs the child entry point
// instead of the command line.
func Main() {
	if childentry.IsChild() {
		os.Exit(childentry.Run())
	}
	os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Run executes the command line args and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "workermand: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 2
	}
	return 0
}

// NewRootCommand builds the command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "workermand",
		Short:         "Workerman-style socket server daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var configPath string
	root.PersistentFlags().StringVarP(&configPath, "config", "c", "",
		"config file (default: $WORKERMAND_CONFIG, ./workermand.toml, /etc/workermand/workermand.toml, else the embedded demo)")
	st := streams{out: stdout, err: stderr, config: &configPath}
	root.AddCommand(
		newStartCommand(st), newStopCommand(st), newRestartCommand(st), newReloadCommand(st),
		newStatusCommand(st), newConnectionsCommand(st), newCheckCommand(st), newReopenCommand(st),
		newServeCommand(stderr), newVersionCommand(stdout),
	)
	return root
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "workermand %s\n", Version)
			return err
		},
	}
}

type startFlags struct {
	listen     string
	handler    string
	options    string
	name       string
	logLevel   string
	cpuProfile string
}

// newServeCommand runs one worker in this process, without a master, until
// SIGINT or SIGTERM: a quick way to try a handler, and what the event-loop
// benchmark measures.
func newServeCommand(stderr io.Writer) *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve one handler in this process, without a master (default: text echo on :2347)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), f, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "text://0.0.0.0:2347", "listen address, scheme://ip:port")
	fl.StringVar(&f.handler, "handler", "echo", "registered handler to serve")
	fl.StringVar(&f.options, "options", "", "handler options as TOML, e.g. 'greeting = \"hi\"'")
	fl.StringVar(&f.name, "name", "", "worker name (default: the handler name)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a pprof CPU profile of the run to this file")
	_ = fl.MarkHidden("cpu-profile")
	return cmd
}

func runServe(ctx context.Context, f startFlags, stderr io.Writer) error {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	log := newLogger(stderr, level)
	defer func() { _ = log.Sync() }()

	h, err := workerman.NewHandler(f.handler, config.DecodeOptions(f.options))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	w := workerman.NewWorker(f.listen)
	w.Name = f.name
	if w.Name == "" {
		w.Name = f.handler
	}
	w.Handler = h
	p, err := workerman.NewProcess(workerman.ProcessOptions{Logger: log}, w)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--cpu-profile: %w", err)}
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--cpu-profile: %w", err)}
		}
		defer pprof.StopCPUProfile()
	}
	log.Info("workermand started", zap.String("version", Version), zap.String("worker", w.Name),
		zap.String("listen", listenName(w)), zap.String("handler", f.handler))
	if err := p.Run(ctx); err != nil {
		return &exitError{code: 1, err: err}
	}
	log.Info("workermand stopped")
	return nil
}

func newLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), level)
	return zap.New(core).With(zap.Int("pid", os.Getpid()))
}

// listenName is where a worker listens, for logs: its Unix socket's path,
// or its bound ip:port ([::1]:8080 for IPv6).
func listenName(w *workerman.Worker) string {
	if p := w.SocketPath(); p != "" {
		return p
	}
	return w.Addr().String()
}
