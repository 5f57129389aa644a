package httpproto

import (
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/logging"
)

// accessFlushEvery bounds how long a line waits in memory before it reaches
// the file; accessFlushAt flushes early under load. Writing each line at once
// would add a write(2) to every request.
const (
	accessFlushEvery = time.Second
	accessFlushAt    = 64 << 10
)

// AccessLog writes one line per answered request, buffered, to its own
// file: "common" and "combined" as nginx and Apache write them, or "json".
// It is safe for concurrent use (several loops may share one in tests).
type AccessLog struct {
	path   string
	format string
	open   FileOpener

	mu   sync.Mutex
	f    *os.File
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

// FileOpener opens a log file for appending. A child whose worker runs as
// another user gets the descriptor the master opened for it instead: the
// user may not be allowed to open the file (a log in a root-owned
// directory).
type FileOpener func(path string) (*os.File, error)

// OpenAccessLog opens path through open (nil: logging.OpenAppend; "-" is
// stderr) and starts the background flush.
func OpenAccessLog(path, format string, open FileOpener) (*AccessLog, error) {
	if open == nil {
		open = logging.OpenAppend
	}
	l := &AccessLog{path: path, format: format, open: open, stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.openFile(); err != nil {
		return nil, err
	}
	go l.flushLoop()
	return l, nil
}

func (l *AccessLog) openFile() error {
	if l.path == "-" {
		l.f = os.Stderr
		return nil
	}
	f, err := l.open(l.path)
	if err != nil {
		return err // an *os.PathError: "open PATH: why"
	}
	l.f = f
	return nil
}

func (l *AccessLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(accessFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			l.flushLocked()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

func (l *AccessLog) flushLocked() {
	if len(l.buf) == 0 || l.f == nil {
		return
	}
	// A failed write loses these lines; there is nowhere better to say so
	// than the log that failed.
	_, _ = l.f.Write(l.buf)
	l.buf = l.buf[:0]
}

// Log records one answered request.
func (l *AccessLog) Log(r *http.Request, status int, bodyBytes int64, started time.Time) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.format == "json" {
		l.buf = appendJSONLine(l.buf, r, status, bodyBytes, started, now)
	} else {
		l.buf = appendCLFLine(l.buf, r, status, bodyBytes, started, l.format == "combined")
	}
	if len(l.buf) >= accessFlushAt {
		l.flushLocked()
	}
}

// Reopen flushes and reopens the file, for log rotation.
func (l *AccessLog) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	if l.f == os.Stderr {
		return nil
	}
	old := l.f
	if err := l.openFile(); err != nil {
		l.f = old
		return err
	}
	return old.Close()
}

// Close flushes and closes the file.
func (l *AccessLog) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	if l.f == os.Stderr {
		return nil
	}
	return l.f.Close()
}

// appendCLFLine writes the common (or combined) log format:
//
//	127.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/8.0"
func appendCLFLine(b []byte, r *http.Request, status int, n int64, t time.Time, combined bool) []byte {
	b = append(b, logRemote(r)...)
	b = append(b, " - - ["...)
	b = t.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendLogSafe(b, r.Method())
	b = append(b, ' ')
	b = appendLogSafe(b, r.URI())
	b = append(b, " HTTP/"...)
	b = append(b, r.ProtocolVersion()...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if n == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, n, 10)
	}
	if combined {
		b = append(b, " \""...)
		b = appendLogSafe(b, orDash(r.Header("Referer")))
		b = append(b, "\" \""...)
		b = appendLogSafe(b, orDash(r.Header("User-Agent")))
		b = append(b, '"')
	}
	return append(b, '\n')
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendLogSafe escapes quotes, backslashes and bytes outside printable
// ASCII as \xHH, as nginx does, so a client cannot forge log lines.
func appendLogSafe(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

type jsonLine struct {
	Time       string  `json:"time"`
	Remote     string  `json:"remote"`
	Method     string  `json:"method"`
	URI        string  `json:"uri"`
	Proto      string  `json:"proto"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	Referer    string  `json:"referer,omitempty"`
	UserAgent  string  `json:"user_agent,omitempty"`
}

func appendJSONLine(b []byte, r *http.Request, status int, n int64, started, now time.Time) []byte {
	line, err := json.Marshal(jsonLine{
		Time: started.UTC().Format(time.RFC3339Nano), Remote: logRemote(r),
		Method: r.Method(), URI: r.URI(), Proto: "HTTP/" + r.ProtocolVersion(),
		Status: status, Bytes: n, DurationMS: float64(now.Sub(started).Microseconds()) / 1000,
		Referer: r.Header("Referer"), UserAgent: r.Header("User-Agent"),
	})
	if err != nil { // strings and numbers only: cannot happen
		return b
	}
	return append(append(b, line...), '\n')
}

// logRemote is the client as the access log names it: its IP ("::1" for
// IPv6, without brackets, as nginx's $remote_addr), or "unix:" for a peer
// on a Unix socket, which has no address (nginx writes the same).
func logRemote(r *http.Request) string {
	if ip := r.ClientIP(); ip.IsValid() {
		return ip.String()
	}
	return "unix:"
}
