// Package loadgen is the load generator: it drives a line-echo server over
// TCP in one of three modes and verifies every echoed byte.
//
// Progress is announced on the events writer, one word per line, so an
// orchestrator can sample the server exactly around the measured window:
//
//	START        the measured window begins (reqresp, pipelined)
//	END          the measured window ends
//	CONNECTED n  idle mode: n connections are open and each has echoed once
//
// Its core (Drive, Command, ParseResult) is shared with the websocket
// generator, wsload.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Modes.
const (
	ReqResp   = "reqresp"
	Pipelined = "pipelined"
	Idle      = "idle"
)

// Config describes one run of any generator (wsload embeds it). Zero
// durations and counts are invalid; Command fills in the documented
// defaults.
type Config struct {
	Addr         string
	Mode         string
	Conns        int           // connections to open
	Size         int           // bytes per line, '\n' included (wsload: payload bytes)
	Batch        int           // pipelined: lines per write (loadgen only)
	Warmup       time.Duration // reqresp/pipelined: unmeasured lead-in
	Duration     time.Duration // reqresp/pipelined: measured window
	Hold         time.Duration // idle: longest time to hold the connections
	DialTimeout  time.Duration // per connection attempt
	IOTimeout    time.Duration // grace for a reply after the run should end
	DialParallel int           // concurrent connection attempts
	ConnectIn    time.Duration // give up opening connections after this long
	Events       io.Writer     // receives START/END/CONNECTED lines; may be nil
}

// Result is what a run measured. Counts are over the measured window only.
type Result struct {
	Mode       string  `json:"mode"`
	Conns      int     `json:"conns"` // connections that opened (and echoed, in idle mode)
	DialErrors int     `json:"dial_errors"`
	Msgs       uint64  `json:"msgs"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us,omitempty"`
	P99us      float64 `json:"p99_us,omitempty"`
	CPUBusy    float64 `json:"cpu_busy_pct,omitempty"` // the generator's own CPU use in the window
	Errors     uint64  `json:"errors"`                 // I/O errors and timeouts, dial errors excluded
	Mismatches uint64  `json:"mismatches"`             // replies that differ from what was sent
}

// Run executes cfg against cfg.Addr.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Size < 2 {
		return Result{}, fmt.Errorf("size %d: need at least 2 bytes", cfg.Size)
	}
	if cfg.Mode != ReqResp && cfg.Mode != Pipelined && cfg.Mode != Idle {
		return Result{}, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	if cfg.Mode == Pipelined && cfg.Batch < 1 {
		return Result{}, fmt.Errorf("batch %d: need at least 1", cfg.Batch)
	}
	batch := 1
	if cfg.Mode == Pipelined {
		batch = cfg.Batch
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	return Drive(ctx, cfg, Protocol[net.Conn]{
		Open: func(ctx context.Context, id int) (net.Conn, Opened) {
			c, err := d.DialContext(ctx, "tcp", cfg.Addr)
			if err != nil {
				return nil, DialFailed
			}
			if cfg.Mode != Idle {
				return c, OpenOK
			}
			return checkedOpen(c, cfg, id)
		},
		Start: func(id int, c net.Conn) (Exchange, int) {
			out := makeLines(cfg.Size, batch, id)
			in := make([]byte, len(out))
			return func(seq uint64) (bool, error) {
				for i := range batch {
					stamp(out[i*cfg.Size:], seq*uint64(batch)+uint64(i))
				}
				if _, err := c.Write(out); err != nil {
					return false, err
				}
				if _, err := io.ReadFull(c, in); err != nil {
					return false, err
				}
				return !bytes.Equal(in, out), nil
			}, batch
		},
		Close: closeAll,
	})
}

// makeLines returns n lines of size bytes, each ending in '\n', tagged with
// the connection id so that crossed streams would show up as mismatches.
func makeLines(size, n, id int) []byte {
	b := make([]byte, size*n)
	for i := range n {
		line := b[i*size : (i+1)*size]
		for j := range line {
			line[j] = 'a' + byte(j%26)
		}
		tag := fmt.Appendf(nil, " c%d ", id)
		copy(line[min(16, len(line)-1):len(line)-1], tag)
		line[size-1] = '\n'
	}
	return b
}

// stamp writes seq as hex into the first 16 bytes (or fewer) of line, so
// every line on a connection differs from its neighbours.
func stamp(line []byte, seq uint64) {
	n := min(16, len(line)-1)
	for i := n - 1; i >= 0; i-- {
		line[i] = "0123456789abcdef"[seq&15]
		seq >>= 4
	}
}

// ping sends one line and checks its echo.
// checkedOpen keeps c only if one exchange on it comes back right.
func checkedOpen(c net.Conn, cfg Config, id int) (net.Conn, Opened) {
	mismatch, err := ping(c, cfg, id)
	switch {
	case err != nil:
		c.Close()
		return nil, ExchangeFailed
	case mismatch:
		c.Close()
		return nil, Mismatched
	}
	return c, OpenOK
}

func ping(c net.Conn, cfg Config, id int) (mismatch bool, err error) {
	out := makeLines(cfg.Size, 1, id)
	if err := c.SetDeadline(time.Now().Add(cfg.DialTimeout)); err != nil {
		return false, fmt.Errorf("set deadline: %w", err)
	}
	if _, err := c.Write(out); err != nil {
		return false, fmt.Errorf("ping write: %w", err)
	}
	in := make([]byte, len(out))
	if _, err := io.ReadFull(c, in); err != nil {
		return false, fmt.Errorf("ping read: %w", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return false, fmt.Errorf("clear deadline: %w", err)
	}
	return !bytes.Equal(in, out), nil
}

// closeAll closes every connection. Idle runs reset them (SO_LINGER 0) so
// thousands of sockets per round do not pile up in TIME_WAIT.
func closeAll(conns []net.Conn, reset bool) {
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}
