// Package wsload is the websocket load generator: N connections, each
// sending one message and waiting for its echo, or holding idle
// connections for a memory test. Every echo is checked byte for byte and
// by message type.
//
// The client is written by hand on net.Conn so that the generator stays
// cheaper than the servers it measures: each message is framed and masked
// into a reused buffer (a fresh random mask key per frame, as RFC 6455
// asks of clients), and each echo is read through a reused buffer.
//
// It speaks the same event protocol as package loadgen (START, END,
// CONNECTED n, then RESULT <json>) and returns a loadgen.Result.
package wsload

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
)

// Modes.
const (
	ReqResp = "reqresp"
	Idle    = "idle"
)

// Config describes one run.
type Config struct {
	Addr         string
	Mode         string
	Conns        int
	Size         int  // payload bytes per message
	Text         bool // text frames (else binary)
	Warmup       time.Duration
	Duration     time.Duration
	Hold         time.Duration // idle: longest time to hold the connections
	DialTimeout  time.Duration // per connect + handshake (+ first echo in idle mode)
	IOTimeout    time.Duration // grace for a reply after the window ends
	DialParallel int
	ConnectIn    time.Duration // give up opening connections after this long
	Events       io.Writer
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// conn is one websocket client connection with its reused buffers.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	out []byte // the frame being sent
	in  []byte // the payload last read
	rng *rand.PCG
	// counters, merged after the run
	msgs, errors, mismatches uint64
	hist                     loadgen.Hist
}

func newConn(c net.Conn, seed uint64) *conn {
	return &conn{c: c, r: bufio.NewReaderSize(c, 512), rng: rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
}

// makePayload returns size bytes tagged with the connection id, so crossed
// streams show up as mismatches. Binary payloads carry bytes that are not
// valid UTF-8, which a server mistaking them for text would reject.
func makePayload(size, id int, text bool) []byte {
	p := make([]byte, size)
	for j := range p {
		if text {
			p[j] = 'a' + byte(j%26)
		} else {
			p[j] = byte(0x80 + j%128)
		}
	}
	tag := fmt.Appendf(nil, " c%d ", id)
	if size > 16 {
		copy(p[16:], tag)
	}
	return p
}

// stamp writes seq as hex into the first 16 bytes (or fewer) of p.
func stamp(p []byte, seq uint64) {
	for i := min(16, len(p)) - 1; i >= 0; i-- {
		p[i] = "0123456789abcdef"[seq&15]
		seq >>= 4
	}
}

// roundTrip sends payload as one frame and reads its echo; it reports a
// mismatch when the echo differs in type or bytes.
func (w *conn) roundTrip(op byte, payload []byte) (mismatch bool, err error) {
	k := w.rng.Uint64()
	key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	w.out = appendFrame(w.out[:0], op, payload, key)
	if _, err := w.c.Write(w.out); err != nil {
		return false, fmt.Errorf("write: %w", err)
	}
	gotOp, fin, got, err := readFrame(w.r, w.in)
	if err != nil {
		return false, fmt.Errorf("read: %w", err)
	}
	w.in = got
	return gotOp != op || !fin || !bytes.Equal(got, payload), nil
}

// Run executes cfg.
func Run(ctx context.Context, cfg Config) (loadgen.Result, error) {
	res := loadgen.Result{Mode: cfg.Mode}
	if cfg.Size < 1 {
		return res, fmt.Errorf("size %d: need at least 1 byte", cfg.Size)
	}
	if cfg.Mode != ReqResp && cfg.Mode != Idle {
		return res, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	if cfg.Events == nil {
		cfg.Events = io.Discard
	}
	op := byte(OpBinary)
	if cfg.Text {
		op = OpText
	}
	conns, dialErrs, fails := dialAll(ctx, cfg, op)
	defer closeAll(conns, cfg.Mode == Idle)
	res.Conns, res.DialErrors, res.Errors, res.Mismatches = len(conns), dialErrs, fails.errors, fails.mismatches
	if len(conns) == 0 {
		return res, fmt.Errorf("no websocket connection to %s succeeded (%d failed)", cfg.Addr, dialErrs)
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
	// One absolute deadline per connection: cheaper than one per
	// operation, and it still bounds a stuck server.
	deadline := time.Now().Add(cfg.Warmup + cfg.Duration + cfg.IOTimeout)
	var wg sync.WaitGroup
	for i, w := range conns {
		if err := w.c.SetDeadline(deadline); err != nil {
			return res, fmt.Errorf("set deadline: %w", err)
		}
		wg.Go(func() { w.loop(i, cfg, op, &phase) })
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

	var h loadgen.Hist
	for _, w := range conns {
		res.Msgs += w.msgs
		res.Errors += w.errors
		res.Mismatches += w.mismatches
		h.Merge(&w.hist)
	}
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.MsgsPerSec = float64(res.Msgs) / res.Seconds
		res.CPUBusy = 100 * cpu.Seconds() / res.Seconds
	}
	if h.Count() > 0 {
		res.P50us = float64(h.Quantile(0.50)) / 1e3
		res.P99us = float64(h.Quantile(0.99)) / 1e3
	}
	return res, ctx.Err()
}

// loop does request/response until the phase is done, an error occurs, or
// an echo does not match (the stream is out of step then).
func (w *conn) loop(id int, cfg Config, op byte, phase *atomic.Int32) {
	payload := makePayload(cfg.Size, id, cfg.Text)
	for seq := uint64(1); phase.Load() != phaseDone; seq++ {
		stamp(payload, seq)
		start := time.Now()
		mismatch, err := w.roundTrip(op, payload)
		lat := time.Since(start)
		if err != nil {
			w.errors++
			return
		}
		if mismatch {
			w.mismatches++
			return
		}
		if phase.Load() == phaseMeasure {
			w.msgs++
			w.hist.Record(lat)
		}
	}
}

// dialAll opens cfg.Conns websocket connections, at most cfg.DialParallel
// at once. In idle mode each also echoes one message, which proves the
// server has accepted and upgraded it and makes it allocate its state.
func dialAll(ctx context.Context, cfg Config, op byte) (conns []*conn, dialErrs int, fails conn) {
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectIn)
	defer cancel()
	for range max(1, min(cfg.DialParallel, cfg.Conns)) {
		wg.Go(func() {
			for id := int(next.Add(1)) - 1; id < cfg.Conns && ctx.Err() == nil; id = int(next.Add(1)) - 1 {
				c, err := dial(cfg.Addr, cfg.DialTimeout)
				var w *conn
				var mismatch bool
				if err == nil {
					w = newConn(c, uint64(id)+uint64(time.Now().UnixNano()))
					if cfg.Mode == Idle {
						_ = c.SetDeadline(time.Now().Add(cfg.DialTimeout))
						mismatch, err = w.roundTrip(op, makePayload(cfg.Size, id, cfg.Text))
						_ = c.SetDeadline(time.Time{})
						if err != nil || mismatch {
							c.Close()
						}
						// An idle connection keeps no buffers in the generator.
						w.out, w.in = nil, nil
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
					conns = append(conns, w)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns, dialErrs, fails
}

// closeAll closes every connection. Idle runs reset them (SO_LINGER 0) so
// thousands of sockets per round do not pile up in TIME_WAIT; the others
// send a close frame first, as a polite client does.
func closeAll(conns []*conn, reset bool) {
	for _, w := range conns {
		if tc, ok := w.c.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		} else {
			_ = w.c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = w.c.Write(appendFrame(nil, OpClose, []byte{0x03, 0xe8}, [4]byte{1, 2, 3, 4}))
		}
		_ = w.c.Close()
	}
}

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
