package cliapp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/logging"
	"github.com/workermand/workermand/internal/master"
	"github.com/workermand/workermand/internal/pidfile"
	"github.com/workermand/workermand/internal/sdnotify"
	"github.com/workermand/workermand/websocket"
)

// Exit codes, one table for every command (see docs/cli.md).
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2 // usage or config error
	exitNotRunning = 3 // status: not running (LSB)
	exitNoMaster   = 7 // reload, connections, reopen: not running
)

// streams carries the command's outputs, the shared -c flag and the
// program.
type streams struct {
	out, err io.Writer
	config   *string
	prog     *Program
}

// envDaemon marks the re-executed daemon of `start -d`; it inherits the
// pid-file lock on fd 3 and reports readiness on fd 4.
const envDaemon = "WORKERMAND_DAEMON"

const (
	daemonLockFD  = 3
	daemonReadyFD = 4
)

// name is what messages call the daemon: the program's name, or
// workermand.
func (st streams) name() string { return daemonName(&config.Config{Program: st.prog.Name}) }

// daemonName is the name of cfg's daemon: its program's, or workermand.
func daemonName(cfg *config.Config) string {
	if cfg.Program != "" {
		return cfg.Program
	}
	return "workermand"
}

// UsageError makes err end the command with the exit code of a usage or
// config error.
func UsageError(err error) error { return &exitError{code: exitUsage, err: err} }

// checkProtocolTable validates a worker's [worker.http] and
// [worker.websocket] tables (config.Hooks.ProtocolTable), so that a bad
// value is reported at its key's line.
func checkProtocolTable(scheme, table string, decode func(into any) error) error {
	if table == "websocket" {
		var o websocket.Options
		err := decode(&o)
		if err != nil && !config.OnlyUnknownKeys(err) {
			return err
		}
		_, verr := o.WithDefaults()
		var oe *websocket.OptionError
		if errors.As(verr, &oe) {
			verr = &config.KeyError{Key: oe.Key, Msg: oe.Msg}
		}
		return errors.Join(err, verr)
	}
	if table != "http" {
		return nil
	}
	var o http.Options
	err := decode(&o)
	if err != nil && !config.OnlyUnknownKeys(err) {
		return err
	}
	// A typo elsewhere in the table must not hide a bad value: with only
	// unknown keys, everything else decoded and is checked too.
	_, verr := o.WithDefaults()
	var oe *http.OptionError
	if errors.As(verr, &oe) {
		verr = &config.KeyError{Key: oe.Key, Msg: oe.Msg}
	}
	return errors.Join(err, verr)
}

// find decides which file to read: the one -c names, or as config.Find
// does. A code-first program reads one only when -c names it: none is
// needed, and the embedded demo is not its daemon. none reports that
// there is no file.
func (st streams) find() (path string, none, embedded bool, err error) {
	if st.prog.Name != "" && *st.config == "" {
		return "", true, false, nil
	}
	path, embedded, err = config.Find(*st.config)
	return path, false, embedded, err
}

// loadConfig finds, parses, validates and resolves the config.
func (st streams) loadConfig() (*config.Config, error) {
	path, none, embedded, err := st.find()
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if none || embedded {
		path = "" // Load validates the embedded default like any file
	}
	return st.loadConfigWith(path, none, st.handlerHook)
}

// handlerHook validates handler names and options against the registry.
func (st streams) handlerHook(name string, decode func(any) error) error {
	return st.prog.CheckHandler(name, decode)
}

// locateMaster is the config of the control verbs that only address a
// running master (stop, status, connections, reopen). They need pid_file and
// control_socket alone, so a file that fails validation, which is what a
// refused reload leaves behind, must not keep them from the master: when the
// full load fails, those keys (and the stop timeouts) are read leniently,
// with a warning. If even that fails, the validation error stands.
func (st streams) locateMaster() (*config.Config, error) {
	cfg, loadErr := st.loadConfig()
	if loadErr == nil {
		return cfg, nil
	}
	path, none, embedded, err := st.find()
	if err != nil || none || embedded {
		return nil, loadErr
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, loadErr
	}
	var keys struct {
		PidFile         string          `toml:"pid_file"`
		ControlSocket   string          `toml:"control_socket"`
		StopTimeout     config.Duration `toml:"stop_timeout"`
		GracefulTimeout config.Duration `toml:"graceful_timeout"`
	}
	keys.StopTimeout.Duration = config.DefaultStopTimeout
	keys.GracefulTimeout.Duration = config.DefaultGracefulTimeout
	if _, err := toml.Decode(string(data), &keys); err != nil {
		// Not even TOML: look for the two keys among the top-level lines.
		keys.PidFile, keys.ControlSocket = "", ""
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") {
				break
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			val, err := strconv.Unquote(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			switch strings.TrimSpace(k) {
			case "pid_file":
				keys.PidFile = val
			case "control_socket":
				keys.ControlSocket = val
			}
		}
	}
	cfg = &config.Config{Path: path, Program: st.prog.Name, PidFile: keys.PidFile, ControlSocket: keys.ControlSocket,
		StopTimeout: keys.StopTimeout, GracefulTimeout: keys.GracefulTimeout}
	if cfg.PidFile == "" {
		cfg.PidFile = st.prog.Defaults.PidFile
	}
	if err := cfg.Resolve(); err != nil {
		return nil, loadErr
	}
	fmt.Fprintf(st.err, "warning: %s has errors (workermand check lists them); using its pid_file and control_socket\n", path)
	return cfg, nil
}

// reloadHandlerHook is handlerHook for a reload. The running master checks
// handler names against the binary it was started from, not the one on
// disk: a handler added by rebuilding the binary passes `check` (the new
// binary) and is unknown here until a restart, so say that.
func (st streams) reloadHandlerHook(name string, decode func(any) error) error {
	err := st.handlerHook(name, decode)
	if errors.Is(err, st.prog.UnknownHandler) {
		return fmt.Errorf("%w; the running daemon was started from a binary without it: a handler added to a rebuilt binary needs `upgrade` (or `restart`), since reload keeps the master", err)
	}
	return err
}

// loadConfigWith reads the file at path (none: no file; "": the embedded
// default), adds the program's workers and settings, and resolves it.
func (st streams) loadConfigWith(path string, none bool, handler func(string, func(any) error) error) (*config.Config, error) {
	hooks := config.Hooks{Handler: handler, ProtocolTable: checkProtocolTable, TLS: checkTLS, Code: st.prog.Code}
	var cfg *config.Config
	var err error
	if none {
		cfg, err = config.Parse(nil, "", hooks)
	} else {
		cfg, err = config.Load(path, hooks)
	}
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	st.addProgram(cfg)
	if err := cfg.SetMetricsListen(st.prog.Defaults.MetricsListen); err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if err := cfg.Resolve(); err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}

// addProgram adds what the program defines in code to cfg (its workers
// came with the hooks): its name and its global settings where the file
// is silent.
func (st streams) addProgram(cfg *config.Config) {
	p := st.prog
	cfg.Program = p.Name
	for _, d := range []struct {
		key, value string
		dst        *string
	}{
		{"pid_file", p.Defaults.PidFile, &cfg.PidFile},
		{"log_file", p.Defaults.LogFile, &cfg.LogFile},
		{"stdout_file", p.Defaults.StdoutFile, &cfg.StdoutFile},
		{"control_socket", p.Defaults.ControlSocket, &cfg.ControlSocket},
	} {
		if d.value != "" && !cfg.Sets(d.key) {
			*d.dst = d.value
		}
	}
	if m := p.Defaults.Monitor; m != nil && !cfg.Sets("monitor") {
		cfg.Monitor = *m
	}
	for _, d := range []struct {
		key   string
		value time.Duration
		dst   *config.Duration
	}{
		{"stop_timeout", p.Defaults.StopTimeout, &cfg.StopTimeout},
		{"graceful_timeout", p.Defaults.GracefulTimeout, &cfg.GracefulTimeout},
	} {
		if d.value != 0 && !cfg.Sets(d.key) {
			d.dst.Duration = d.value
		}
	}
}

type startOptions struct {
	daemon bool
}

func newStartCommand(st streams) *cobra.Command {
	var o startOptions
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the master and its workers (-d: in the background)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStart(cmd.Context(), st, o)
		},
	}
	cmd.Flags().BoolVarP(&o.daemon, "daemon", "d", false, "run in the background; returns once every worker is ready")
	return cmd
}

func runStart(ctx context.Context, st streams, o startOptions) error {
	cfg, err := st.loadConfig()
	isDaemon := os.Getenv(envDaemon) == "1"
	if os.Getenv(master.EnvUpgrade) == "1" {
		return runUpgraded(ctx, st, cfg, err, isDaemon)
	}
	if err != nil {
		return err
	}
	// Under socket activation too: the launcher's re-exec would lose the
	// inherited sockets (and LISTEN_PID names the launcher).
	underSystemd := sdnotify.Enabled() || os.Getenv("INVOCATION_ID") != "" || os.Getenv("LISTEN_FDS") != ""
	daemonizing := (o.daemon || st.prog.Defaults.Daemonize) && !isDaemon && !underSystemd
	if exe, err := executable(); err == nil && isGoRunBinary(exe) {
		// Every child, restart and reload runs the binary at this path,
		// which go run deletes when it exits.
		if daemonizing {
			return &exitError{code: exitUsage, err: fmt.Errorf("start -d from go run: its temporary binary %s is deleted when go run exits, and every child and reload runs it; build the program (go build) and run that", exe)}
		}
		fmt.Fprintf(st.err, "warning: running go run's temporary binary %s: reload and restarted children will fail once it is deleted; build the program (go build) for a daemon\n", exe)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.PidFile), 0o755); err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("pid file directory: %w", err)}
	}
	var lock *pidfile.Lock
	if isDaemon {
		lock, err = pidfile.Adopt(os.NewFile(daemonLockFD, "lock"), cfg.PidFile)
	} else {
		lock, err = pidfile.Acquire(cfg.PidFile)
	}
	if err != nil {
		var running pidfile.ErrRunning
		if errors.As(err, &running) {
			return &exitError{code: exitFailed, err: fmt.Errorf("already running: pid %d holds the pid file %s", running.PID, cfg.PidFile)}
		}
		return &exitError{code: exitFailed, err: err}
	}
	if daemonizing {
		return daemonize(st, cfg, lock)
	}
	return runMaster(ctx, st, cfg, lock, isDaemon, nil)
}

// runUpgraded runs a master started by `upgrade`: it takes over what the
// running master hands it on master.UpgradeFD, starts its children, and
// serves once the old master lets go. Any failure before that is told to
// the old master, which keeps serving.
func runUpgraded(ctx context.Context, st streams, cfg *config.Config, cfgErr error, isDaemon bool) error {
	os.Unsetenv(master.EnvUpgrade)
	in, err := master.ReceiveHandoff(os.NewFile(master.UpgradeFD, "upgrade"), 30*time.Second)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if cfgErr != nil {
		// Told to the old master, whose upgrade command prints it.
		in.Fail(cfgErr)
		return cfgErr
	}
	if in.Lock == nil {
		err = errors.New("upgrade: the old master handed over no pid-file lock")
	} else {
		var lock *pidfile.Lock
		lock, err = pidfile.Adopt(in.Lock, cfg.PidFile)
		if err == nil {
			return runMaster(ctx, st, cfg, lock, isDaemon, in)
		}
		err = fmt.Errorf("%w (pid_file cannot change on upgrade; restart instead)", err)
	}
	in.Fail(err)
	return &exitError{code: exitFailed, err: err}
}

func configName(cfg *config.Config) string {
	if cfg.Path == "" && cfg.Program != "" {
		return "none, the workers of " + cfg.Program
	}
	if cfg.Path == "" {
		return "embedded default"
	}
	return cfg.Path
}

// daemonize re-executes the binary in a new session with the lock and a
// readiness pipe, and waits for it to report.
func daemonize(st streams, cfg *config.Config, lock *pidfile.Lock) error {
	exe, err := executable()
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	defer r.Close()
	args := []string{"start"}
	if cfg.Path != "" {
		args = append(args, "-c", cfg.Path)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envDaemon+"=1")
	cmd.ExtraFiles = []*os.File{lock.File(), w}
	out, err := openStdout(cfg)
	if err != nil {
		w.Close()
		return &exitError{code: exitFailed, err: err}
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return &exitError{code: exitFailed, err: fmt.Errorf("start daemon: %w", err)}
	}
	w.Close()
	_ = lock.Close() // the daemon holds the lock now
	line, readErr := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "OK"):
		fmt.Fprintf(st.out, "%s started (pid %d, config %s)\n", st.name(), cmd.Process.Pid, configName(cfg))
		_ = cmd.Process.Release()
		return nil
	case strings.HasPrefix(line, "ERR "):
		_ = cmd.Wait()
		return &exitError{code: exitFailed, err: errors.New(strings.TrimPrefix(line, "ERR "))}
	default:
		werr := cmd.Wait()
		return &exitError{code: exitFailed, err: fmt.Errorf("daemon exited before it was ready (%v, %v); see %s", werr, readErr, cfg.DaemonLogFile())}
	}
}

func openStdout(cfg *config.Config) (*os.File, error) {
	path := cfg.StdoutFile
	if path == "" {
		path = os.DevNull
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("stdout_file: %w", err)
	}
	return f, nil
}

// executable is the binary on disk, resolved now: children and reloads run
// whatever is at this path then.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return exe, nil
}

// runMaster runs the master until it stops. in is what it inherits from
// the master it replaces (upgrade), nil for a start.
func runMaster(ctx context.Context, st streams, cfg *config.Config, lock *pidfile.Lock, isDaemon bool, in *master.Inheritance) error {
	var m *master.Master
	// The lock is shared with a new master this one handed over to, or
	// with the old master until this one took over: unlocking it then
	// would unlock it for both, so only the master that ends it releases.
	defer func() {
		if in != nil && (m == nil || !m.TookOver()) || m != nil && m.HandedOver() {
			_ = lock.Close()
			return
		}
		_ = lock.Release()
	}()
	var ready *os.File
	if isDaemon && in == nil {
		ready = os.NewFile(daemonReadyFD, "ready")
		defer ready.Close()
	}
	report := func(err error) {
		if in != nil {
			in.Fail(err)
			return
		}
		if ready == nil {
			return
		}
		if err != nil {
			fmt.Fprintf(ready, "ERR %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		} else {
			fmt.Fprintf(ready, "OK %d\n", os.Getpid())
		}
		ready.Close()
		ready = nil
	}
	logPath := ""
	if isDaemon {
		logPath = cfg.DaemonLogFile()
	}
	log, out, err := logging.New(logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat, Path: logPath,
		Fields: []zap.Field{zap.Int("pid", os.Getpid())}})
	if err != nil {
		report(err)
		return &exitError{code: exitFailed, err: err}
	}
	defer func() { _ = log.Sync() }()
	exe, err := executable()
	if err != nil {
		report(err)
		return &exitError{code: exitFailed, err: err}
	}
	stdout := io.Writer(os.Stderr)
	if isDaemon {
		f, err := openStdout(cfg)
		if err != nil {
			report(err)
			return &exitError{code: exitFailed, err: err}
		}
		defer f.Close()
		stdout = f
	}
	notify := func(string) {}
	// A new master started by upgrade notifies systemd too, once the old
	// one named it the main process (MAINPID=).
	notifySocket := os.Getenv(sdnotify.EnvSocket)
	if sdnotify.Enabled() {
		notify = func(state string) {
			if state == "RELOADING=1" {
				_ = sdnotify.Reloading() // adds MONOTONIC_USEC, which systemd wants with it
				return
			}
			_, _ = sdnotify.Notify(state)
		}
		sdnotify.Unsetenv()
	}
	inherit := in
	if inherit == nil {
		if inherit, err = master.SocketActivation(); err != nil {
			report(err)
			return &exitError{code: exitFailed, err: err}
		}
	}
	m = master.New(cfg, master.Options{
		Executable: exe,
		Logger:     log,
		LogFile: func() *os.File {
			if logPath == "" {
				return nil
			}
			return out.File()
		},
		ReopenLogs: func() error {
			if logPath == "" {
				return nil
			}
			return out.Reopen()
		},
		Stdout: stdout,
		Load: func(path string) (*config.Config, error) {
			return st.loadConfigWith(path, path == "" && st.prog.Name != "", st.reloadHandlerHook)
		},
		Daemonized: isDaemon,
		Notify:     notify,
		Version:    buildVersion(),
		BackoffMin: durationEnv("WORKERMAND_BACKOFF_MIN"),
		BackoffMax: durationEnv("WORKERMAND_BACKOFF_MAX"),
		Upgrade: func() (*exec.Cmd, error) {
			return upgradeCommand(exe, cfg.Path, notifySocket), nil
		},
		LockFile:       lock.File,
		UpgradeTimeout: durationEnv("WORKERMAND_UPGRADE_TIMEOUT"),
		Inherit:        inherit,
	})
	if err := m.Bind(); err != nil {
		report(err)
		return &exitError{code: exitFailed, err: err}
	}
	stopControl, err := m.ServeControl(cfg.ControlSocket)
	if err != nil {
		report(err)
		return &exitError{code: exitFailed, err: err}
	}
	defer stopControl()
	if in == nil {
		if err := lock.WritePID(os.Getpid()); err != nil {
			report(err)
			return &exitError{code: exitFailed, err: err}
		}
	}
	var startErr error
	err = m.Run(ctx, func(err error) {
		if err == nil && in != nil {
			// Taken over: the pid file names this master only now.
			err = lock.WritePID(os.Getpid())
		}
		startErr = err
		report(err)
		if err == nil && !isDaemon {
			printBanner(st.err, cfg, m)
		}
	})
	if err == nil {
		err = startErr
	}
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if m.HandedOver() {
		log.Info("master exits; the new master serves")
		return nil
	}
	log.Info("master stopped")
	return nil
}

// upgradeCommand is the new master of `upgrade`: the binary children run,
// started as this master was (start with its config file; not its own
// arguments, which may be restart's) with its environment (the notify
// socket put back), writing where this master writes.
func upgradeCommand(exe, configPath, notifySocket string) *exec.Cmd {
	args := []string{"start"}
	if configPath != "" {
		args = append(args, "-c", configPath)
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = os.Environ()
	if notifySocket != "" {
		cmd.Env = append(cmd.Env, sdnotify.EnvSocket+"="+notifySocket)
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd
}

// durationEnv reads a duration tuning knob from the environment (tests use
// it to make crash-loop back-off fast); 0 when unset or invalid.
func durationEnv(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}

func printBanner(w io.Writer, cfg *config.Config, m *master.Master) {
	addrs := m.Addrs()
	fmt.Fprintf(w, "%s %s  config %s  master pid %d\n", daemonName(cfg), buildVersion(), configName(cfg), os.Getpid())
	for _, wc := range cfg.Workers {
		listen := wc.Listen
		if listen == "" {
			listen = "(none)"
		}
		if a, ok := addrs[wc.Name]; ok {
			listen = wc.Addr.Scheme + "://" + a
		}
		fmt.Fprintf(w, "  %-20s %-32s processes %d  handler %s\n", wc.Name, listen, wc.Count, handlerName(wc))
	}
	if u := m.MetricsURL(); u != "" {
		fmt.Fprintf(w, "  metrics at %s\n", u)
	}
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}

type stopOptions struct{ graceful bool }

func newStopCommand(st streams) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the master and its workers (-g: let connections finish)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.locateMaster()
			if err != nil {
				return err
			}
			return runStop(st, cfg, o.graceful)
		},
	}
	cmd.Flags().BoolVarP(&o.graceful, "graceful", "g", false, "stop accepting, let open connections finish (up to graceful_timeout)")
	return cmd
}

func runStop(st streams, cfg *config.Config, graceful bool) error {
	pid, running, err := pidfile.Running(cfg.PidFile)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if !running {
		fmt.Fprintln(st.out, st.name()+" is not running")
		return nil
	}
	if _, err := control(cfg.ControlSocket, master.Request{Cmd: "stop", Graceful: graceful}); err != nil {
		// No control socket: fall back to the signal.
		sig := syscall.SIGTERM
		if graceful {
			sig = syscall.SIGQUIT
		}
		if pid <= 0 {
			return &exitError{code: exitFailed, err: fmt.Errorf("cannot reach the master: %w", err)}
		}
		if err := syscall.Kill(pid, sig); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("signal pid %d: %w", pid, err)}
		}
	}
	wait := cfg.StopTimeout.Duration + 5*time.Second
	if graceful {
		wait = cfg.GracefulTimeout.Duration + 5*time.Second
		if cfg.GracefulTimeout.Duration == 0 {
			wait = 0
		}
	}
	deadline := time.Now().Add(wait)
	for wait == 0 || time.Now().Before(deadline) {
		if _, running, _ := pidfile.Running(cfg.PidFile); !running {
			fmt.Fprintln(st.out, st.name()+" stopped")
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("master (pid %d) still running after %s", pid, wait)}
}

func newRestartCommand(st streams) *cobra.Command {
	var o startOptions
	var graceful bool
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Stop, then start (-d: in the background, -g: stop gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.loadConfig()
			if err != nil {
				return err
			}
			if err := runStop(st, cfg, graceful); err != nil {
				return err
			}
			return runStart(cmd.Context(), st, o)
		},
	}
	cmd.Flags().BoolVarP(&o.daemon, "daemon", "d", false, "run in the background")
	cmd.Flags().BoolVarP(&graceful, "graceful", "g", false, "stop gracefully first")
	return cmd
}

func newReloadCommand(st streams) *cobra.Command {
	var graceful bool
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Re-read the config and replace the workers' processes, new before old (-g: drain old ones)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.loadConfig()
			if err != nil {
				return err
			}
			resp, err := commandMaster(cfg, master.Request{Cmd: "reload", Graceful: graceful})
			if err != nil {
				return err
			}
			if !resp.OK {
				return &exitError{code: resp.Code, err: errors.New(resp.Error)}
			}
			fmt.Fprintln(st.out, st.name()+" reloaded")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&graceful, "graceful", "g", false, "let the old processes finish their connections")
	return cmd
}

func newUpgradeCommand(st streams) *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade",
		Short: "Replace the master itself with the binary on disk: a new master takes the sockets over, then the old one retires",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.locateMaster()
			if err != nil {
				return err
			}
			old, _, _ := pidfile.Running(cfg.PidFile)
			resp, err := commandMaster(cfg, master.Request{Cmd: "upgrade"})
			if err != nil {
				return err
			}
			if !resp.OK {
				return &exitError{code: resp.Code, err: fmt.Errorf("upgrade failed, the running master (pid %d) keeps serving: %s", old, resp.Error)}
			}
			fmt.Fprintf(st.out, "%s upgraded: master pid %d replaced by %d\n", st.name(), old, resp.NewPID)
			return nil
		},
	}
}

func newReopenCommand(st streams) *cobra.Command {
	return &cobra.Command{
		Use:   "reopen",
		Short: "Reopen the log files (after logrotate moved them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.locateMaster()
			if err != nil {
				return err
			}
			if _, err := commandMaster(cfg, master.Request{Cmd: "reopen"}); err != nil {
				return err
			}
			fmt.Fprintln(st.out, "logs reopened")
			return nil
		},
	}
}

func newCheckCommand(st streams) *cobra.Command {
	var system bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the config and list its workers (like nginx -t; --system: this machine's limits too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.loadConfig()
			if err != nil {
				return err
			}
			cfg.Check(func(msg string) { fmt.Fprintf(st.err, "warning: %s\n", msg) })
			fmt.Fprint(st.out, cfg.Summary())
			fmt.Fprintln(st.out, "config ok")
			if system {
				printSystem(st.out, cfg.CheckSystem())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&system, "system", false, "also report what on this machine limits the daemon (open files, somaxconn, tcp_migrate_req, ports)")
	return cmd
}

// printSystem lists check --system's findings, warnings first.
func printSystem(w io.Writer, fs []config.Finding) {
	fmt.Fprintln(w, "system:")
	for _, warn := range []bool{true, false} {
		for _, f := range fs {
			if f.Warn != warn {
				continue
			}
			verdict := "ok     "
			if f.Warn {
				verdict = "warning"
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", verdict, f.What, f.Msg)
		}
	}
}

// commandMaster sends req to the running master; exit code 7 when none runs.
func commandMaster(cfg *config.Config, req master.Request) (*master.Response, error) {
	var resp master.Response
	if err := commandMasterInto(cfg, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// commandMasterInto is commandMaster decoding the answer into resp.
func commandMasterInto(cfg *config.Config, req master.Request, resp any) error {
	if _, running, _ := pidfile.Running(cfg.PidFile); !running {
		msg := fmt.Sprintf("%s is not running (config %s, pid file %s)", daemonName(cfg), configName(cfg), cfg.PidFile)
		if req.Cmd == "reload" {
			// The likeliest surprise: the file now names another pid file or
			// control socket than the running master uses.
			msg += "; if pid_file or control_socket changed in the file, the running master still uses the old ones: they cannot change on reload (restart instead)"
		}
		return &exitError{code: exitNoMaster, err: errors.New(msg)}
	}
	if err := controlInto(cfg.ControlSocket, req, resp); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}

// handlerName is how the banner names what serves a worker.
func handlerName(wc *config.Worker) string {
	if wc.Code {
		return "(code)"
	}
	return wc.Handler
}

// isGoRunBinary reports whether exe is a binary go run built in its
// temporary work directory (…/go-build123/b001/exe/app).
func isGoRunBinary(exe string) bool {
	return strings.Contains(exe, "/go-build") && filepath.Base(filepath.Dir(exe)) == "exe"
}
