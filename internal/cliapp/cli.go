// Package cliapp is the workermand command line: start, stop, restart,
// reload, status, connections, check, reopen and serve. Package workerman
// runs it (RunAll) with what only it knows: the handler registry, the
// workers a program defines in code, how a child serves its slot. It sits
// below the public API, above the master, so every daemon binary, the
// stock one and a user's, has one entry point and the same commands.
package cliapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
)

// Version and BuildDate are set at build time with -ldflags "-X
// ...internal/cliapp.Version=..." (make build: git describe and the commit's
// date). A binary built without them (go install) reports its module
// version and the commit the go command recorded instead.
var (
	Version   = "dev"
	BuildDate = ""
)

// buildVersion is the version status and the banner show: Version, or
// for a binary built without -ldflags its module version, or dev and
// the commit the go command recorded.
func buildVersion() string {
	if Version != "dev" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			return "dev-" + s.Value[:7]
		}
	}
	return Version
}

// versionLine is what `version` prints: the version, the commit and its
// date, and the Go toolchain.
func versionLine(name string) string {
	version, date := buildVersion(), BuildDate
	var revision string
	modified := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	line := name + " " + version
	var details []string
	if revision != "" && !strings.Contains(version, revision[:min(7, len(revision))]) {
		if modified {
			revision += "-dirty"
		}
		details = append(details, "commit "+revision[:min(12, len(revision))])
	}
	if date != "" {
		details = append(details, "commit date "+date)
	}
	details = append(details, runtime.Version())
	return line + " (" + strings.Join(details, ", ") + ")"
}

// Program is what the command line needs from the runtime above it.
type Program struct {
	// Name is a code-first program's name (its binary's): its runtime
	// files are named after it, and no config file is looked for unless
	// -c names one. "" for a daemon configured by its file.
	Name string
	// Code are the workers the program defines, as [[worker]] tables
	// (config.AddCode), after the file's.
	Code []map[string]any
	// Defaults are global settings made in code (Workerman's static
	// properties); the file's keys override them.
	Defaults Defaults
	// CheckHandler builds, and so validates, a registered handler with
	// options decoded by decode.
	CheckHandler func(name string, decode func(any) error) error
	// UnknownHandler is what CheckHandler's error wraps for a name nobody
	// registered (errors.Is).
	UnknownHandler error
	// RunChild serves the slot the master hands this process and returns
	// its exit code.
	RunChild func() int
	// Serve runs one registered handler in this process until ctx ends
	// (the serve command).
	Serve func(ctx context.Context, s ServeSpec) error
}

// Defaults are the global settings a program makes in code.
type Defaults struct {
	PidFile, LogFile, StdoutFile, ControlSocket string
	StopTimeout, GracefulTimeout                time.Duration
	// Daemonize makes start behave as start -d.
	Daemonize bool
	// Monitor, when set, is the [monitor] of a file without one.
	Monitor *config.Monitor
	// MetricsListen turns the [metrics] endpoint on at host:port unless
	// the file has a [metrics] table.
	MetricsListen string
}

// ServeSpec is the serve command's worker.
type ServeSpec struct {
	Listen, Handler, Name string
	// Options decodes the handler's options.
	Options func(into any) error
	Log     *zap.Logger
	Version string
}

// IsChild reports whether this process was started by a workermand master
// as one of its children, to serve a slot instead of the command line.
func IsChild() bool { return os.Getenv(ipc.ChildEnvMarker) != "" }

// Main runs the command line of os.Args, or a child's slot in a process
// the master started, and returns the exit code.
func Main(p Program) int {
	if IsChild() {
		return p.RunChild()
	}
	return Run(context.Background(), p, os.Args[1:], os.Stdout, os.Stderr)
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Run executes the command line args and returns the exit code.
func Run(ctx context.Context, p Program, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand(p, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		name := "workermand"
		if p.Name != "" {
			name = p.Name
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 2
	}
	return 0
}

// NewRootCommand builds the command tree (also for the man page
// generator, internal/tools/mangen).
func NewRootCommand(p Program, stdout, stderr io.Writer) *cobra.Command {
	use, configHelp := "workermand", "config file (default: $WORKERMAND_CONFIG, ./workermand.toml, /etc/workermand/workermand.toml, else the embedded demo)"
	if p.Name != "" {
		use, configHelp = p.Name, "config file: global settings and more [[worker]] tables (default: none, the program's workers)"
	}
	root := &cobra.Command{
		Use:           use,
		Short:         "Workerman-style socket server daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var configPath string
	root.PersistentFlags().StringVarP(&configPath, "config", "c", "", configHelp)
	st := streams{out: stdout, err: stderr, config: &configPath, prog: &p}
	root.AddCommand(
		newStartCommand(st), newStopCommand(st), newRestartCommand(st), newReloadCommand(st), newUpgradeCommand(st),
		newStatusCommand(st), newConnectionsCommand(st), newCheckCommand(st), newReopenCommand(st),
		newDebugCommand(st),
		newServeCommand(p, stderr), newVersionCommand(use, stdout),
	)
	return root
}

func newVersionCommand(name string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, versionLine(name))
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
func newServeCommand(p Program, stderr io.Writer) *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve one handler in this process, without a master (default: text echo on :2347)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), p, f, stderr)
		},
	}
	fl := cmd.Flags()
	// A code-first program runs its own workers; serve (a registered
	// handler) stays available but out of its help.
	cmd.Hidden = p.Name != ""
	fl.StringVar(&f.listen, "listen", "text://0.0.0.0:2347", "listen address, scheme://ip:port")
	fl.StringVar(&f.handler, "handler", "echo", "registered handler to serve")
	fl.StringVar(&f.options, "options", "", "handler options as TOML, e.g. 'greeting = \"hi\"'")
	fl.StringVar(&f.name, "name", "", "worker name (default: the handler name)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a pprof CPU profile of the run to this file")
	_ = fl.MarkHidden("cpu-profile")
	return cmd
}

func runServe(ctx context.Context, p Program, f startFlags, stderr io.Writer) error {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	log := newLogger(stderr, level)
	defer func() { _ = log.Sync() }()
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
	err := p.Serve(ctx, ServeSpec{Listen: f.listen, Handler: f.handler, Name: f.name,
		Options: config.DecodeOptions(f.options), Log: log, Version: buildVersion()})
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: 1, err: err}
	}
	return nil
}

func newLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), level)
	return zap.New(core).With(zap.Int("pid", os.Getpid()))
}
