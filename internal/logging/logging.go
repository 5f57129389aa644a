// Package logging builds workermand's zap loggers: one core over an Output
// (the process's log sink) and an AtomicLevel, with ISO 8601 times and JSON
// or console encoding.
//
// # Reopening for logrotate
//
// zap cannot reopen a file, so Output is a zapcore.WriteSyncer over an
// atomic pointer to the current *os.File. Write loads the pointer and writes.
// Reopen opens the path again (O_APPEND, so master and children can share the
// file with line-sized records), stores the new file, then closes the old one.
// A Write that loaded the old pointer just before the close either finishes
// on it (os.File defers the close(2) until in-flight calls return) or gets
// os.ErrClosed before writing anything and retries on the new file, so no
// line is lost or torn across a reopen and Write takes no lock.
//
// # Master and children
//
// The master opens log_file (New with Options.Path) and passes File to each
// child at spawn; a child builds its logger with FromFile. On a reopen
// (SIGHUP or workermand reopen) the master calls Reopen and sends the new
// File to every child, which installs it with Swap: a child that runs as
// nobody could not open a root-owned log itself.
//
// # Other process-wide plumbing
//
// Sync ignores the EINVAL and ENOTTY that fsync(2) returns for pipes, sockets
// and terminals (stderr under systemd or a shell). RedirectStdLog sends the
// standard library's log package into a logger, so a stray log.Print lands in
// the same sink.
package logging

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// Log formats accepted by Options.Format.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// FileMode is the mode of a log file that Reopen or New creates (before the
// umask).
const FileMode = 0o644

// Options configures New.
type Options struct {
	// Level is the minimum level: "debug", "info", "warn" or "error"; ""
	// means "info".
	Level string
	// Format is "json" or "console"; "" means "json".
	Format string
	// Path is the log file, opened for appending and created if needed. ""
	// means stderr (the foreground, systemd's journal, a container).
	Path string
	// Fields are added to every entry (pid, role, worker, …).
	Fields []zap.Field
}

// Output is a process's log sink and level. It implements
// zapcore.WriteSyncer; its methods are safe for concurrent use.
type Output struct {
	path  string
	file  atomic.Pointer[os.File]
	level zap.AtomicLevel
	mu    sync.Mutex // serialises Reopen, Swap and Close
}

var _ zapcore.WriteSyncer = (*Output)(nil)

// New builds a logger from o. It returns the logger and its Output, through
// which the caller reopens the file, changes the level and hands the file to
// children. The Output's file is closed by Close (never stderr).
func New(o Options) (*zap.Logger, *Output, error) {
	lvl, err := ParseLevel(o.Level)
	if err != nil {
		return nil, nil, err
	}
	format, err := ParseFormat(o.Format)
	if err != nil {
		return nil, nil, err
	}
	f := os.Stderr
	if o.Path != "" {
		if f, err = openLog(o.Path); err != nil {
			return nil, nil, err
		}
	}
	out := &Output{path: o.Path, level: zap.NewAtomicLevelAt(lvl)}
	out.file.Store(f)
	return out.logger(format, o.Fields), out, nil
}

// FromFile builds a logger over a file the process was given rather than
// opened: a child's copy of the master's log file. The Output has no path:
// the master reopens and the child installs the result with Swap. level and
// format are as in Options.
func FromFile(f *os.File, level, format string, fields ...zap.Field) (*zap.Logger, *Output, error) {
	if f == nil {
		return nil, nil, errors.New("logging: FromFile: nil file")
	}
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	format, err = ParseFormat(format)
	if err != nil {
		return nil, nil, err
	}
	out := &Output{level: zap.NewAtomicLevelAt(lvl)}
	out.file.Store(f)
	return out.logger(format, fields), out, nil
}

func (o *Output) logger(format string, fields []zap.Field) *zap.Logger {
	cfg := zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		CallerKey:      "caller",
		FunctionKey:    zapcore.OmitKey,
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.ISO8601TimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
	}
	var enc zapcore.Encoder
	if format == FormatConsole {
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	} else {
		enc = zapcore.NewJSONEncoder(cfg)
	}
	return zap.New(&keyedCore{Core: zapcore.NewCore(enc, o, o.level)},
		zap.AddCaller(),
		// Stacks only for DPanic and worse: an error logged by the master
		// (a child crashed) gains nothing from the master's own stack.
		zap.AddStacktrace(zapcore.DPanicLevel),
		// zap reports its own write failures here; the log file is what
		// failed, so not there.
		zap.ErrorOutput(zapcore.Lock(os.Stderr)),
		zap.Fields(fields...),
	)
}

// keyedCore remembers the top-level keys its logger adds to every entry.
// zap writes a key given twice twice, and a JSON object with a repeated key
// is one that parsers reject or read differently; code adding context that
// a logger may carry already (the worker, which a child's logger names)
// asks HasField first.
type keyedCore struct {
	zapcore.Core
	keys   []string
	nested bool // a Namespace was opened: later keys are not top-level
}

func (c *keyedCore) With(fields []zapcore.Field) zapcore.Core {
	next := &keyedCore{Core: c.Core.With(fields), keys: slices.Clip(c.keys), nested: c.nested}
	for _, f := range fields {
		if next.nested {
			break
		}
		if f.Type == zapcore.NamespaceType {
			next.nested = true
		}
		next.keys = append(next.keys, f.Key)
	}
	return next
}

// HasField reports whether l, built by this package, adds key to every
// entry at the top level (Options.Fields, or With). For other loggers it
// reports false.
func HasField(l *zap.Logger, key string) bool {
	c, ok := l.Core().(*keyedCore)
	return ok && slices.Contains(c.keys, key)
}

// ParseLevel parses a log level: "debug", "info", "warn" or "error"; ""
// means "info". Config validation uses it too.
func ParseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "", "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("logging: unknown log level %q (want debug, info, warn or error)", s)
}

// ParseFormat checks a log format and returns it, "" becoming "json".
func ParseFormat(s string) (string, error) {
	switch s {
	case "", FormatJSON:
		return FormatJSON, nil
	case FormatConsole:
		return FormatConsole, nil
	}
	return "", fmt.Errorf("logging: unknown log format %q (want json or console)", s)
}

// Write writes p to the current file, in one write(2) for an entry-sized p
// on a regular file. See the package documentation for what happens during a
// concurrent Reopen.
func (o *Output) Write(p []byte) (int, error) {
	f := o.file.Load()
	written := 0
	for {
		n, err := f.Write(p[written:])
		written += n
		if err == nil || !errors.Is(err, os.ErrClosed) {
			return written, err
		}
		next := o.file.Load()
		if next == f {
			return written, err // closed for good (Close)
		}
		f = next // swapped and closed under us: write to the new one
	}
}

// Sync flushes the current file to storage (fsync). EINVAL and ENOTTY, which
// mean the file is a pipe, socket or terminal that cannot be synced, are not
// errors.
func (o *Output) Sync() error {
	f := o.file.Load()
	for {
		err := f.Sync()
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
			return nil
		}
		if next := o.file.Load(); errors.Is(err, os.ErrClosed) && next != f {
			f = next
			continue
		}
		return fmt.Errorf("logging: sync %s: %w", f.Name(), err)
	}
}

// Reopen opens Path again (O_WRONLY|O_APPEND|O_CREATE|O_CLOEXEC, FileMode),
// makes it the current file, and closes the previous one: after logrotate
// renamed the file, new entries go to a new file at Path. If the open fails,
// the current file stays in use and the error is returned. Without a path
// (stderr, or an Output from FromFile) there is nothing to reopen and Reopen
// returns nil; such an Output changes files through Swap.
func (o *Output) Reopen() error {
	if o.path == "" {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := openLog(o.path)
	if err != nil {
		return err
	}
	return o.swapLocked(f)
}

// Swap makes f the current file and closes the previous one (unless it is
// os.Stdout or os.Stderr, or f itself). A child calls it with the file the
// master sent after a reopen. Swap takes ownership of f.
func (o *Output) Swap(f *os.File) error {
	if f == nil {
		return errors.New("logging: swap: nil file")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.swapLocked(f)
}

func (o *Output) swapLocked(f *os.File) error {
	old := o.file.Swap(f)
	if old == f || isStd(old) {
		return nil
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("logging: close previous log file %s: %w", old.Name(), err)
	}
	return nil
}

// File returns the current file, for the master to pass to children. It
// stays open until the next Reopen, Swap or Close; do not close it.
func (o *Output) File() *os.File { return o.file.Load() }

// Path returns the log file's path; "" for stderr or an Output from
// FromFile.
func (o *Output) Path() string { return o.path }

// Level returns the logger's level, which can change at run time.
func (o *Output) Level() zap.AtomicLevel { return o.level }

// SetLevel parses s as ParseLevel does and applies it to the logger at once
// (a reload that changed log_level). On error the level is unchanged.
func (o *Output) SetLevel(s string) error {
	lvl, err := ParseLevel(s)
	if err != nil {
		return err
	}
	o.level.SetLevel(lvl)
	return nil
}

// Close syncs and closes the current file, unless it is os.Stdout or
// os.Stderr. Writes after Close fail with os.ErrClosed.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	serr := o.Sync()
	f := o.file.Load()
	if isStd(f) {
		return serr
	}
	if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return errors.Join(serr, fmt.Errorf("logging: close %s: %w", f.Name(), err))
	}
	return serr
}

// RedirectStdLog sends the standard library's log output (log.Print and
// friends, and libraries that use them) to l at info level, under the name
// "stdlog". It returns a function that restores the previous log output.
func RedirectStdLog(l *zap.Logger) (restore func()) {
	return zap.RedirectStdLog(l.Named("stdlog"))
}

// OpenAppend opens a log file for appending (O_APPEND, so several
// processes can share it), creating it with FileMode. Its error is the
// *os.PathError, which names the path.
func OpenAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, FileMode)
}

func openLog(path string) (*os.File, error) {
	f, err := OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("logging: open log file: %w", err)
	}
	return f, nil
}

func isStd(f *os.File) bool { return f == os.Stderr || f == os.Stdout }
