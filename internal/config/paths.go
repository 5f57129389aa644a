package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Where Find looks, and what RuntimeDir asks; variables so tests can move
// them.
var (
	systemConfig = "/etc/workermand/workermand.toml"
	geteuid      = os.Geteuid
)

// EnvConfig is the environment variable Find reads when -c is not given.
const EnvConfig = "WORKERMAND_CONFIG"

// Find decides which config file to use: flagPath (-c) if given, else
// $WORKERMAND_CONFIG, else ./workermand.toml, else
// /etc/workermand/workermand.toml, else the embedded default (path "",
// embedded true; Load("") parses it). A file named by -c or the variable
// must exist; a file found in the usual places must be a regular file. The
// path returned is absolute.
func Find(flagPath string) (path string, embedded bool, err error) {
	for _, explicit := range []struct{ path, from string }{
		{flagPath, "-c"},
		{os.Getenv(EnvConfig), "$" + EnvConfig},
	} {
		if explicit.path == "" {
			continue
		}
		path, err := checkFile(explicit.path)
		if err != nil {
			return "", false, fmt.Errorf("config file %s (from %s): %w", explicit.path, explicit.from, err)
		}
		return path, false, nil
	}
	for _, candidate := range []string{"workermand.toml", systemConfig} {
		path, err := checkFile(candidate)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("config file %s: %w", candidate, err)
		}
		return path, false, nil
	}
	return "", true, nil
}

// checkFile returns the absolute path of a regular file (or a link to one).
func checkFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", pe.Err
		}
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	return filepath.Abs(path)
}

// RuntimeDir is the directory of the master's runtime files (pid file, its
// lock, control socket): /run/workermand as root, else
// $XDG_RUNTIME_DIR/workermand, else <os.TempDir()>/workermand-<uid>. It does
// not create it.
func RuntimeDir() string {
	uid := geteuid()
	if uid == 0 {
		return "/run/workermand"
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "workermand")
	}
	return filepath.Join(os.TempDir(), "workermand-"+strconv.Itoa(uid))
}

// DaemonLogFile is where a daemonized master and its children log:
// log_file, or by default a file next to the pid file named after it, as
// Workerman keeps workerman.log by default (a daemon has no terminal, and
// the reason a child failed must land somewhere). Call it after Resolve.
func (c *Config) DaemonLogFile() string {
	if c.LogFile != "" {
		return c.LogFile
	}
	return strings.TrimSuffix(c.PidFile, ".pid") + ".log"
}

// maxSocketPath is the longest path a Unix socket can have on Linux
// (sun_path is 108 bytes with the terminating NUL).
const maxSocketPath = 107

// BaseName is the name runtime files are named after: the config file's name
// without its extension ("app" for /etc/workermand/app.toml), or
// "workermand" for the embedded default; a code-first program's name
// (Program) before either.
func (c *Config) BaseName() string {
	if c.Program != "" {
		return c.Program
	}
	if c.Path == "" {
		return "workermand"
	}
	base := filepath.Base(c.Path)
	if b := strings.TrimSuffix(base, filepath.Ext(base)); b != "" {
		return b
	}
	return base
}

// Resolve fills the defaults that depend on where the file is and who runs
// it: pid_file is <RuntimeDir>/<BaseName>.pid, and control_socket is next
// to a pid_file that was set (app.pid → app.sock), else
// <RuntimeDir>/<BaseName>.sock. Relative paths (pid_file, log_file,
// stdout_file, control_socket) become absolute, relative to the directory of
// the config file (to the working directory for the embedded default).
// Calling it again changes nothing. The error is an *Errors.
func (c *Config) Resolve() error {
	dir := filepath.Dir(c.Path)
	if c.Path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return &Errors{Problems: []Problem{{File: c.name(), Msg: "cannot resolve relative paths: " + err.Error(), cause: err}}}
		}
		dir = wd
	}
	if c.ControlSocket == "" && c.PidFile != "" {
		// Next to a pid file the user chose: two daemons with their own
		// pid files must not share (and take over) one control socket.
		c.ControlSocket = strings.TrimSuffix(c.PidFile, ".pid") + ".sock"
	}
	if c.PidFile == "" {
		c.PidFile = filepath.Join(RuntimeDir(), c.BaseName()+".pid")
	}
	if c.ControlSocket == "" {
		c.ControlSocket = filepath.Join(RuntimeDir(), c.BaseName()+".sock")
	}
	for _, p := range []*string{&c.PidFile, &c.LogFile, &c.StdoutFile, &c.ControlSocket} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if len(c.ControlSocket) > maxSocketPath {
		return &Errors{Problems: []Problem{{
			File: c.name(), Line: c.lines.line("control_socket"), Key: "control_socket",
			Msg: fmt.Sprintf("%s is %d bytes long; a Unix socket path can have at most %d", c.ControlSocket, len(c.ControlSocket), maxSocketPath),
		}}}
	}
	return nil
}

// name is how problems and summaries name the file.
func (c *Config) name() string {
	if c.file != "" {
		return c.file
	}
	return c.Path
}
