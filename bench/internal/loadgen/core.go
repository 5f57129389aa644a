package loadgen

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// This file is the generator core that loadgen (lines over TCP) and
// wsload (websocket messages) share: opening the connections, holding
// them for a memory test, and running the measured window around the
// START and END events. A protocol brings only how to open one
// connection and how to make one checked exchange on it.

// Opened is what became of one connection attempt.
type Opened int

const (
	OpenOK         Opened = iota
	DialFailed            // no connection
	ExchangeFailed        // connected, but the handshake or the first echo failed (closed again)
	Mismatched            // connected, but the first echo differed (closed again)
)

// An Exchange sends one request numbered seq on its connection (a line, a
// batch of lines, a message) and checks the echo; a mismatch ends the
// connection's run, since its stream is out of step then.
type Exchange func(seq uint64) (mismatch bool, err error)

// Deadliner is a connection the core can bound with one absolute deadline.
type Deadliner interface{ SetDeadline(time.Time) error }

// Protocol is what a generator brings to Drive.
type Protocol[C Deadliner] struct {
	// Open makes connection id; in idle mode it also makes a first
	// exchange, which proves the server has accepted (a completed TCP
	// handshake alone may still sit in the listen backlog) and makes it
	// allocate its per-connection state.
	Open func(ctx context.Context, id int) (C, Opened)
	// Start prepares connection id for the measured run and returns its
	// exchange and the messages each exchange carries.
	Start func(id int, c C) (ex Exchange, msgs int)
	// Close closes the connections at the end; idle says whether it was
	// an idle run, whose thousands of sockets should not linger.
	Close func(conns []C, idle bool)
}

// Drive runs cfg with p: it opens cfg.Conns connections, then holds them
// (idle mode) or runs the warm-up and the measured window on them.
func Drive[C Deadliner](ctx context.Context, cfg Config, p Protocol[C]) (Result, error) {
	if cfg.Events == nil {
		cfg.Events = io.Discard
	}
	res := Result{Mode: cfg.Mode}
	conns, fails := openAll(ctx, cfg, p.Open)
	defer p.Close(conns, cfg.Mode == Idle)
	res.Conns, res.DialErrors, res.Errors, res.Mismatches = len(conns), fails.dial, fails.Errors, fails.Mismatches
	if len(conns) == 0 {
		return res, fmt.Errorf("no connection to %s succeeded (%d failed)", cfg.Addr, fails.dial)
	}
	if cfg.Mode == Idle {
		fmt.Fprintf(cfg.Events, "CONNECTED %d\n", len(conns))
		runner.SleepCtx(ctx, cfg.Hold) // cancelling ctx is the normal way to release the hold
		return res, nil
	}
	err := measure(ctx, cfg, conns, p.Start, &res)
	return res, err
}

// openFails counts the connections that did not open.
type openFails struct {
	dial int
	counts
}

// openAll opens cfg.Conns connections with at most cfg.DialParallel
// attempts in flight, giving up after cfg.ConnectIn.
func openAll[C any](ctx context.Context, cfg Config, open func(context.Context, int) (C, Opened)) (conns []C, fails openFails) {
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
				c, o := open(ctx, id)
				mu.Lock()
				switch o {
				case DialFailed:
					fails.dial++
				case ExchangeFailed:
					fails.Errors++
				case Mismatched:
					fails.Mismatches++
				default:
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns, fails
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// counts are one connection's counters, merged after the run so the hot
// loop touches no shared memory except the phase flag.
type counts struct {
	Msgs, Errors, Mismatches uint64
	hist                     Hist
}

// measure runs every connection's exchanges on its own goroutine through
// the warm-up and the measured window, announcing START and END around
// the window, and adds what the window counted to res.
func measure[C Deadliner](ctx context.Context, cfg Config, conns []C, start func(int, C) (Exchange, int), res *Result) error {
	var phase atomic.Int32
	// One absolute deadline per connection instead of one per operation:
	// cheaper for the generator, and it still bounds a stuck server.
	deadline := time.Now().Add(cfg.Warmup + cfg.Duration + cfg.IOTimeout)
	each := make([]counts, len(conns))
	latency := cfg.Mode == ReqResp // a pipelined batch has no one round trip to time
	var wg sync.WaitGroup
	for i, c := range conns {
		if err := c.SetDeadline(deadline); err != nil {
			return fmt.Errorf("set deadline: %w", err)
		}
		ex, msgs := start(i, c)
		k := &each[i]
		wg.Go(func() { k.loop(ex, uint64(msgs), latency, &phase) })
	}

	runner.SleepCtx(ctx, cfg.Warmup)
	phase.Store(phaseMeasure)
	t0, cpu0 := time.Now(), cpuTime()
	fmt.Fprintln(cfg.Events, "START")
	runner.SleepCtx(ctx, cfg.Duration)
	phase.Store(phaseDone)
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	fmt.Fprintln(cfg.Events, "END")
	wg.Wait()

	var h Hist
	for i := range each {
		k := &each[i]
		res.Msgs += k.Msgs
		res.Errors += k.Errors
		res.Mismatches += k.Mismatches
		h.Merge(&k.hist)
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
	return ctx.Err()
}

// loop makes exchanges until the phase is done, an error occurs, or an
// echo does not match.
func (k *counts) loop(ex Exchange, msgs uint64, latency bool, phase *atomic.Int32) {
	for seq := uint64(0); phase.Load() != phaseDone; seq++ {
		start := time.Now()
		mismatch, err := ex(seq)
		lat := time.Since(start)
		if err != nil {
			k.Errors++
			return
		}
		if mismatch {
			k.Mismatches++
			return
		}
		if phase.Load() == phaseMeasure {
			k.Msgs += msgs
			if latency {
				k.hist.Record(lat)
			}
		}
	}
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
