// Package loadgen is the load generator: it drives a line-echo server over
// TCP in one of three modes and verifies every echoed byte.
//
// Progress is announced on the events writer, one word per line, so an
// orchestrator can sample the server exactly around the measured window:
//
//	START        the measured window begins (reqresp, pipelined)
//	END          the measured window ends
//	CONNECTED n  idle mode: n connections are open and each has echoed once
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Modes.
const (
	ReqResp   = "reqresp"
	Pipelined = "pipelined"
	Idle      = "idle"
)

// Config describes one run. Zero durations and counts are invalid; Main
// fills in the documented defaults.
type Config struct {
	Addr         string
	Mode         string
	Conns        int           // connections to open
	Size         int           // bytes per line, '\n' included
	Batch        int           // pipelined: lines per write
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

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// worker holds one connection's private counters, merged after the run so
// the hot loop touches no shared memory except the phase flag.
type worker struct {
	msgs       uint64
	errors     uint64
	mismatches uint64
	hist       Hist
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
	if cfg.Events == nil {
		cfg.Events = io.Discard
	}
	res := Result{Mode: cfg.Mode}
	conns, dialErrs, pingFails := dialAll(ctx, cfg)
	defer closeAll(conns, cfg.Mode == Idle)
	res.Conns, res.DialErrors, res.Errors = len(conns), dialErrs, pingFails.errors
	res.Mismatches = pingFails.mismatches
	if len(conns) == 0 {
		return res, fmt.Errorf("no connection to %s succeeded (%d failed)", cfg.Addr, dialErrs)
	}
	if cfg.Mode == Idle {
		fmt.Fprintf(cfg.Events, "CONNECTED %d\n", len(conns))
		t := time.NewTimer(cfg.Hold)
		defer t.Stop()
		select { // cancelling ctx is the normal way to release the hold
		case <-t.C:
		case <-ctx.Done():
		}
		return res, nil
	}

	var phase atomic.Int32
	// One absolute deadline per connection instead of one per operation:
	// cheaper for the generator, and it still bounds a stuck server.
	deadline := time.Now().Add(cfg.Warmup + cfg.Duration + cfg.IOTimeout)
	workers := make([]worker, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		if err := c.SetDeadline(deadline); err != nil {
			return res, fmt.Errorf("set deadline: %w", err)
		}
		w := &workers[i]
		wg.Go(func() { w.loop(c, i, cfg, &phase) })
	}

	sleep(ctx, cfg.Warmup)
	phase.Store(phaseMeasure)
	t0, cpu0 := time.Now(), cpuTime()
	fmt.Fprintln(cfg.Events, "START")
	sleep(ctx, cfg.Duration)
	phase.Store(phaseDone)
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	fmt.Fprintln(cfg.Events, "END")
	wg.Wait()

	var h Hist
	for i := range workers {
		w := &workers[i]
		res.Msgs += w.msgs
		res.Errors += w.errors
		res.Mismatches += w.mismatches
		h.Merge(&w.hist)
	}
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 { // NaN would not encode as JSON
		res.MsgsPerSec = float64(res.Msgs) / res.Seconds
		res.CPUBusy = 100 * cpu.Seconds() / res.Seconds
	}
	if h.Count() > 0 {
		res.P50us = float64(h.Quantile(0.50)) / 1e3
		res.P99us = float64(h.Quantile(0.99)) / 1e3
	}
	return res, ctx.Err()
}

// cpuTime is this process's user+system CPU time. Showing it next to the
// server's tells which side of the 2-core box capped the throughput.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// loop runs request/response (batch 1) or pipelined batches until the
// phase is done, an error occurs, or a reply does not match.
func (w *worker) loop(c net.Conn, id int, cfg Config, phase *atomic.Int32) {
	batch := 1
	if cfg.Mode == Pipelined {
		batch = cfg.Batch
	}
	out := makeLines(cfg.Size, batch, id)
	in := make([]byte, len(out))
	for seq := uint64(0); phase.Load() != phaseDone; seq++ {
		for i := range batch {
			stamp(out[i*cfg.Size:], seq*uint64(batch)+uint64(i))
		}
		start := time.Now()
		if _, err := c.Write(out); err != nil {
			w.errors++
			return
		}
		if _, err := io.ReadFull(c, in); err != nil {
			w.errors++
			return
		}
		lat := time.Since(start)
		if !bytes.Equal(in, out) {
			// The stream is out of step now; stop using this connection.
			w.mismatches++
			return
		}
		if phase.Load() == phaseMeasure {
			w.msgs += uint64(batch)
			if cfg.Mode == ReqResp {
				w.hist.Record(lat)
			}
		}
	}
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

// dialAll opens cfg.Conns connections with at most cfg.DialParallel in
// flight. In idle mode each new connection also echoes one line, which
// proves the server has accepted it (a completed handshake alone may still
// sit in the listen backlog) and makes it allocate its per-connection state.
func dialAll(ctx context.Context, cfg Config) (conns []net.Conn, dialErrs int, fails worker) {
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectIn)
	defer cancel()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	for range max(1, min(cfg.DialParallel, cfg.Conns)) {
		wg.Go(func() {
			for id := int(next.Add(1)) - 1; id < cfg.Conns && ctx.Err() == nil; id = int(next.Add(1)) - 1 {
				c, err := d.DialContext(ctx, "tcp", cfg.Addr)
				var mismatch bool
				if err == nil && cfg.Mode == Idle {
					mismatch, err = ping(c, cfg, id)
					if err != nil || mismatch {
						c.Close()
					}
				}
				mu.Lock()
				switch {
				case err != nil && c == nil:
					dialErrs++
				case err != nil:
					fails.errors++
				case mismatch:
					fails.mismatches++
				default:
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns, dialErrs, fails
}

// ping sends one line and checks its echo.
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
