package workerman

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/cliapp"
	"github.com/workermand/workermand/internal/config"
)

// Daemon holds the settings Workerman keeps in Worker's static properties
// (Worker::$pidFile, $logFile, $stdoutFile, $daemonize). A config file
// given with -c overrides each key it sets.
type Daemon struct {
	// PidFile is where the master writes its pid (default: named after
	// the program, in /run/workermand as root, else in
	// $XDG_RUNTIME_DIR/workermand or /tmp/workermand-<uid>).
	PidFile string
	// LogFile receives the log of a daemonized master and its children
	// (default: next to the pid file, named after it, with .log).
	LogFile string
	// StdoutFile receives what a daemon prints (default /dev/null).
	StdoutFile string
	// Monitor, when set, reloads the reloadable workers when a watched
	// file changes (FileMonitor; a -c file's [monitor] overrides it).
	Monitor *FileMonitor
	// ControlSocket is the Unix socket the commands talk to the master
	// through (default: next to PidFile when that is set, else in the
	// runtime directory named after the program).
	ControlSocket string
	// StopTimeout is how long `stop` waits before killing processes
	// (default 2 s); GracefulTimeout bounds `stop -g` and `reload -g`
	// (default 30 s).
	StopTimeout, GracefulTimeout time.Duration
	// Daemonize makes `start` behave as `start -d`.
	Daemonize bool
	// MetricsListen serves Prometheus metrics from the master at
	// host:port (an IP address, as in "127.0.0.1:9100"), as a [metrics]
	// table with that listen does; a file's [metrics] table overrides it.
	MetricsListen string
}

// RunAll runs the program as a daemon, as Workerman's Worker::runAll():
// the command line of os.Args (start [-d], stop [-g], restart, reload [-g],
// status [-d] [--json], connections, check, reopen) drives a master that
// starts Count processes of each worker. Each process re-runs the program,
// builds the same workers, and serves its own slot from this call, as
// Workerman forks after runAll; so build the workers the same way every
// time and do nothing before RunAll that must happen once.
//
// A config file is optional: `-c app.toml` sets the global keys and may add
// [[worker]] tables served by registered handlers. Without workers, RunAll
// is the stock workermand binary: it reads its config file, or serves the
// embedded demo. RunAll does not return: it exits with the command's
// status.
//
// A worker's Name identifies it in status and across reloads (default:
// its ListenAddr, or "none" for a worker without one). What the master
// binds (ListenAddr, Transport, Count, User, Group, ReusePort, IPv6Only,
// Reloadable) is read once, when the daemon starts; `reload` runs the new
// binary's callbacks, handlers and options, and a changed address or count
// needs `restart`.
func RunAll(workers ...*Worker) { Daemon{}.RunAll(workers...) }

// RunAll is the package's RunAll with d's settings.
func (d Daemon) RunAll(workers ...*Worker) { os.Exit(d.run(workers)) }

// run builds the command line's Program and runs it.
func (d Daemon) run(workers []*Worker) int {
	code := make(map[string]*Worker, len(workers))
	tables := make([]map[string]any, 0, len(workers))
	for _, w := range workers {
		if w.Name == "" {
			w.Name = w.ListenAddr
		}
		if w.Name == "" {
			w.Name = "none" // Workerman's default name
		}
		tables = append(tables, w.daemonTable())
		if _, dup := code[w.Name]; !dup { // a duplicate is the config's complaint
			code[w.Name] = w
		}
	}
	prog := cliapp.Program{
		Code:           tables,
		CheckHandler:   checkHandler,
		UnknownHandler: ErrUnknownHandler,
		RunChild:       func() int { return runChild(code, tables) },
		Serve:          serve,
	}
	if len(workers) > 0 {
		prog.Name = filepath.Base(os.Args[0])
	}
	for _, p := range []struct {
		from string
		to   *string
	}{
		{d.PidFile, &prog.Defaults.PidFile},
		{d.LogFile, &prog.Defaults.LogFile},
		{d.StdoutFile, &prog.Defaults.StdoutFile},
		{d.ControlSocket, &prog.Defaults.ControlSocket},
	} {
		// Relative to where the program started, as a user reading their
		// own code expects (a file's keys are relative to the file).
		if p.from != "" {
			abs, err := filepath.Abs(p.from)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", prog.Name, err)
				return 2
			}
			*p.to = abs
		}
	}
	prog.Defaults.Daemonize = d.Daemonize
	if d.Monitor != nil {
		m, err := d.Monitor.config()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", prog.Name, err)
			return 2
		}
		prog.Defaults.Monitor = m
	}
	prog.Defaults.MetricsListen = d.MetricsListen
	prog.Defaults.StopTimeout, prog.Defaults.GracefulTimeout = d.StopTimeout, d.GracefulTimeout
	return cliapp.Main(prog)
}

// daemonTable is what the master needs of a worker defined in code, as
// the keys of a [[worker]] table: where and how to listen, how many
// processes, as whom. The rest stays in the program.
func (w *Worker) daemonTable() map[string]any {
	m := map[string]any{"name": w.Name, "count": int64(max(w.Count, 1))}
	if w.ListenAddr != "" {
		m["listen"] = w.ListenAddr
	}
	// Only what differs from the defaults, as a file would say it, so that
	// a key that does not apply is a problem only when set.
	for key, set := range map[string]bool{"reuse_port": w.ReusePort, "ipv6_only": w.IPv6Only} {
		if set {
			m[key] = true
		}
	}
	if !w.Reloadable {
		m["reloadable"] = false
	}
	switch {
	case w.Transport != "":
		m["transport"] = w.Transport
	case w.TLS != nil: // as resolveTLS: a TLS config makes a TLS worker
		m["transport"] = "ssl"
	}
	if w.User != "" {
		m["user"] = w.User
	}
	if w.Group != "" {
		m["group"] = w.Group
	}
	return m
}

// checkHandler validates a registered handler and its options.
func checkHandler(name string, decode func(any) error) error {
	_, err := NewHandler(name, decode)
	return err
}

// serve runs one registered handler in this process until SIGINT or
// SIGTERM: the serve command.
func serve(ctx context.Context, s cliapp.ServeSpec) error {
	h, err := NewHandler(s.Handler, s.Options)
	if err != nil {
		return cliapp.UsageError(err)
	}
	w := NewWorker(s.Listen)
	w.Name = s.Name
	if w.Name == "" {
		w.Name = s.Handler
	}
	w.Handler = h
	p, err := NewProcess(ProcessOptions{Logger: s.Log}, w)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	listen := w.SocketPath()
	if listen == "" {
		listen = w.Addr().String()
	}
	s.Log.Info("workermand started", zap.String("version", s.Version), zap.String("worker", w.Name),
		zap.String("listen", listen), zap.String("handler", s.Handler))
	if err := p.Run(ctx); err != nil {
		return err
	}
	s.Log.Info("workermand stopped")
	return nil
}

var errNotInProgram = errors.New("is neither in the config the master sent nor among this program's workers")

// StopAll stops the daemon, as `stop` does and as Workerman's
// Worker::stopAll(): in a process RunAll started, the master stops every
// process and exits; in a program running Processes itself, each of them
// stops. It may be called from any goroutine and returns at once.
func StopAll() {
	running.mu.Lock()
	ps := slices.Clone(running.ps)
	running.mu.Unlock()
	for _, p := range ps {
		if p.stopDaemon != nil {
			p.stopDaemon()
			continue
		}
		p.Stop()
	}
}

// FileMonitor is Workerman's FileMonitor (manual 1.15.3) for a code-first
// program: a change to a watched file reloads the reloadable workers, so a
// rebuilt binary or an edited template is served without a command.
// Changes are debounced and a binary is reloaded only once it is
// completely written. It runs in the foreground only unless InDaemon: a
// deploy copying files would otherwise reload halfway through.
type FileMonitor struct {
	// Paths are the files and directories watched (recursively), relative
	// to the working directory (default: the program's binary).
	Paths []string
	// Extensions keep the files of watched directories with these
	// extensions ("tmpl", no dot); empty keeps all.
	Extensions []string
	// Exclude are globs left out of watched directories (default: hidden
	// files, editor backups, *.log).
	Exclude []string
	// InDaemon keeps the monitor on under start -d.
	InDaemon bool
	// Debounce is the quiet period after the last change (default
	// 300 ms).
	Debounce time.Duration
}

// config is the [monitor] table fm stands for.
func (fm *FileMonitor) config() (*config.Monitor, error) {
	m := &config.Monitor{Enabled: true, Extensions: fm.Extensions, Exclude: fm.Exclude, InDaemon: fm.InDaemon,
		Debounce: config.Duration{Duration: fm.Debounce}}
	if m.Debounce.Duration <= 0 {
		m.Debounce.Duration = config.DefaultMonitorDebounce
	}
	if m.Exclude == nil {
		m.Exclude = config.DefaultMonitorExclude
	}
	for _, p := range fm.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("workerman: FileMonitor path %q: %w", p, err)
		}
		m.Paths = append(m.Paths, abs)
	}
	return m, nil
}
