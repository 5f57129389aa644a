// Package config reads and validates workermand's TOML config file: the
// global settings and the [[worker]] tables. Parse collects every problem of
// a file at once, each with its file, line and key path, so `workermand
// check` and a refused reload can list them all.
//
// The package knows nothing of handlers: the caller passes Hooks that build
// the named handler from its [worker.options] table. Protocols are looked up
// in the codec registry, so the binary must have registered them (package
// workerman imports the built-in ones).
package config

import (
	_ "embed"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/tlsconfig"
)

//go:embed default.toml
var defaultTOML []byte

// Defaults of keys the file leaves out.
const (
	DefaultStopTimeout       = 2 * time.Second
	DefaultGracefulTimeout   = 30 * time.Second
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "console"
	DefaultStdoutFile        = "/dev/null"
	DefaultTransport         = "tcp"
	DefaultHandler           = "echo"
	DefaultMaxPackageSize    = codec.DefaultMaxPackageSize // 10 MiB
	DefaultMaxSendBufferSize = 1 << 20                     // 1 MiB, as Workerman
	DefaultBacklog           = 102400                      // as Workerman; the kernel caps it at net.core.somaxconn
	DefaultSendTimeout       = 60 * time.Second            // as nginx's send_timeout
)

// Config is a parsed and validated config file.
type Config struct {
	// Path is the absolute path of the file, "" for the embedded default.
	Path string
	// Source is the exact TOML text parsed; the master passes it to children
	// so that they see the same file even if it changed on disk.
	Source []byte

	// PidFile is where the master writes its pid; its lock is
	// PidFile+".lock". Resolve fills the default.
	PidFile string
	// LogFile receives the log when daemonized ("" = none given).
	LogFile string
	// LogLevel is debug, info (default), warn or error.
	LogLevel string
	// LogFormat is console (default) or json.
	LogFormat string
	// StdoutFile receives the output of a daemon (default /dev/null).
	StdoutFile string
	// ControlSocket is the Unix socket of the master's control channel.
	// Resolve fills the default.
	ControlSocket string
	// StopTimeout is how long a stop waits before killing children
	// (default 2s).
	StopTimeout Duration
	// GracefulTimeout bounds a graceful stop or reload (default 30s; 0 =
	// wait forever, as Workerman does).
	GracefulTimeout Duration

	// Program is the name of a code-first program (workerman.RunAll with
	// workers): its runtime files are named after it rather than after
	// the file. "" for a daemon configured by its file alone.
	Program string

	// Monitor is the [monitor] table: files whose change reloads the
	// workers (monitor.go).
	Monitor Monitor

	// Metrics is the [metrics] table: the master's Prometheus endpoint
	// (metrics.go).
	Metrics Metrics

	// Workers are the [[worker]] tables in file order, then the workers the
	// program defines in code (AddCode).
	Workers []*Worker

	file  string    // the file as named by the caller, for problems
	lines lineIndex // key → line
}

// Worker is one [[worker]] table.
type Worker struct {
	// Index is the worker's position in the file, from 0: the N of
	// worker[N] in problems (of RunAll[N] for a worker defined in code).
	Index int
	// Line is the line of the worker's [[worker]] header (0 if unknown).
	Line int

	// Name identifies the worker in status and logs and matches workers
	// across reloads; required and unique.
	Name string
	// Listen is the address as written, scheme://ip:port; required.
	Listen string
	// Addr is Listen parsed; Addr.Scheme is the protocol.
	Addr listenaddr.Addr
	// Transport is tcp (the default), ssl (set by https://, wss:// and
	// ssl://, whose Addr.Scheme is then http, websocket and tcp; see TLS),
	// udp or unix (Addr.Path is then the socket file, and Addr.Scheme the
	// protocol: tcp for unix:///path).
	Transport string
	// Count is the number of processes (default 1).
	Count int
	// User and Group the processes run as ("" = the master's).
	User, Group string
	// UID and GID are User and Group resolved, -1 when not set; with only a
	// user, GID is that user's primary group.
	UID, GID int
	// ReusePort gives each process its own SO_REUSEPORT socket.
	ReusePort bool
	// IPv6Only keeps an IPv6 listener to IPv6 (IPV6_V6ONLY); by default
	// [::] serves IPv4 too, as Linux does.
	IPv6Only bool
	// SocketMode is a Unix socket file's permissions (0: the umask's).
	SocketMode fs.FileMode
	// SocketOwner and SocketGroup own a Unix socket file, as written
	// ("" = the worker's user and group, as Workerman does).
	SocketOwner, SocketGroup string
	// SocketUID and SocketGID are the socket file's owner and group
	// resolved, -1 to keep the master's.
	SocketUID, SocketGID int
	// Code marks a worker the program defines in code (AddCode): its
	// callbacks, TLS config and protocol options live in the program, which
	// each child re-runs, so Handler is "" and TLS nil.
	Code bool
	// Reloadable workers are restarted by reload (default true); others
	// only get OnWorkerReload.
	Reloadable bool
	// Handler is the registered handler serving the worker (default echo).
	Handler string
	// MaxPackageSize is the largest packet accepted (default 10 MiB).
	MaxPackageSize int
	// MaxSendBufferSize is the limit of queued output per connection
	// (default 1 MiB).
	MaxSendBufferSize int
	// MaxConnections is the connection limit per process (0 = none).
	MaxConnections int
	// MaxRequests restarts a process gracefully after that many requests
	// (0 = never).
	MaxRequests int
	// Backlog is the listen backlog (default 102400).
	Backlog int
	// MemoryLimit is each process's soft memory limit for the Go runtime
	// (GOMEMLIMIT) in bytes: near it the garbage collector works harder
	// instead of letting the heap grow to twice the live data (0 = none).
	MemoryLimit int
	// IdleTimeout closes connections silent for that long (0 = never).
	IdleTimeout Duration
	// SendTimeout closes connections whose queued output made no progress
	// for that long: the peer stopped reading (default 60s, 0 = never).
	SendTimeout Duration
	// ProxyProtocol lists the sources (IPs or CIDR prefixes) allowed to
	// send PROXY protocol v1/v2 headers, as written.
	ProxyProtocol []string
	// ProxyPrefixes is ProxyProtocol parsed; a bare IP becomes a prefix of
	// one address.
	ProxyPrefixes []netip.Prefix
	// Options is [worker.options], decoded by the handler (DecodeOptions).
	Options Table
	// HTTP and WebSocket are [worker.http] and [worker.websocket], accepted
	// as they are and decoded by those protocols.
	HTTP, WebSocket Table
	// TLS is [worker.tls], set on a TLS worker (Transport "ssl") only. The
	// certificates are read by whoever builds the server (Hooks.TLS, a
	// child at start), not by Parse.
	TLS *TLS

	tlsKey      string    // the table's path, as in "worker[0].tls"
	tlsWarnings []Problem // what Hooks.TLS found acceptable but suspect, for Check
}

// Key is the worker's path in problems, as in "worker[1]".
// A worker defined in code is "RunAll[i]", its place among RunAll's
// arguments.
func (w *Worker) Key() string {
	if w.Code {
		return indexKey("RunAll", w.Index)
	}
	return indexKey("worker", w.Index)
}

// DecodeOptions decodes [worker.options] strictly into into, usually a
// pointer to the handler's options struct: unknown keys and wrong types are
// errors (an *Errors naming each key). It fits workerman.NewHandler:
//
//	h, err := workerman.NewHandler(w.Handler, w.DecodeOptions)
func (w *Worker) DecodeOptions(into any) error { return w.Options.Decode(into) }

// Hooks connect validation to what this package does not know.
type Hooks struct {
	// Handler builds (and so validates) the named handler, decoding its
	// options with decode. An error returned before decode was called is
	// reported at worker[i].handler (an unknown handler), after it at
	// worker[i].options. nil skips the check.
	Handler func(name string, decode func(into any) error) error
	// ProtocolTable decodes (and so validates) a protocol's table of a
	// worker listening on scheme: table is "http" for [worker.http] or
	// "websocket". A problem found by decode is reported with its key and
	// line, as is a *KeyError (several may be joined with errors.Join);
	// another error is filed under the table. When decode reports only
	// unknown keys (OnlyUnknownKeys), the rest of the table decoded and the
	// hook may go on checking it. nil skips the check.
	ProtocolTable func(scheme, table string, decode func(into any) error) error
	// TLS reads and checks a TLS worker's certificates (tlsconfig.Load):
	// each problem is reported at its key in [worker.tls], a warning is
	// kept for Check. Parse reads no files itself, so a child, which loads
	// them at start anyway, and tests of other keys need none. nil skips
	// the check.
	TLS func(s tlsconfig.Settings) []tlsconfig.Problem
	// Code are the workers the program defines in code (workerman.RunAll),
	// each a table of the [[worker]] keys the master needs (name, listen,
	// transport, count, user, group, reuse_port, reloadable, ipv6_only):
	// the program keeps the rest (callbacks, handler, TLS config, protocol
	// options). They come after the file's workers (Worker.Code set) and
	// are checked as those are, in "(program)" at RunAll[i]; with them the
	// file may have no [[worker]] table.
	Code []map[string]any
}

// Parse reads a config file's text, applies defaults and validates
// everything it can; path names the file in problems ("" for none) and
// becomes Config.Path made absolute. The error, if any, is an *Errors that
// lists every problem.
func Parse(data []byte, path string, hooks Hooks) (*Config, error) {
	c, errs := parse(data, path, path, hooks)
	if errs != nil {
		return nil, errs
	}
	return c, nil
}

// Load reads and parses the file at path; path "" parses the embedded
// default (see Find). Errors are *Errors, read failures included (they
// unwrap to the os error).
func Load(path string, hooks Hooks) (*Config, error) {
	if path == "" {
		c, errs := parse(defaultTOML, "", embeddedName, hooks)
		if errs != nil {
			return nil, errs
		}
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &Errors{Problems: []Problem{{File: path, Msg: msg, cause: err}}}
	}
	return Parse(data, path, hooks)
}

// embeddedName names the embedded default in problems and summaries.
const embeddedName = "(embedded default)"

// Default returns the embedded demo config: an echo worker on
// text://0.0.0.0:2347. It runs no hooks and does not need the protocols to
// be registered; Load("", hooks) validates it fully.
func Default() *Config {
	c, _ := parse(defaultTOML, "", embeddedName, Hooks{})
	return c
}

// DefaultSource returns the text of the embedded default.
func DefaultSource() []byte { return append([]byte(nil), defaultTOML...) }

func absPath(path string) string {
	if path == "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// WrittenFiles are the files the worker's processes write besides the main
// log: the http:// access log. The master opens them and hands the
// descriptors over, at start and on `reopen`, because a worker with `user`
// runs unprivileged and could not open a log in a root-owned directory
// ("-", stderr, is not a file).
func (w *Worker) WrittenFiles() []string {
	if w.Addr.Scheme != "http" {
		return nil
	}
	if p, ok := w.HTTP.raw["access_log"].(string); ok && p != "" && p != "-" {
		return []string{p}
	}
	return nil
}
