package loadgen

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

// What a driver (benchrun, wsbench, idlebench) needs to run a generator
// process against a server it started: the shared flags, one measured
// window, and the idle-memory test.

// WindowArgs are the generator flags of a measured run against addr; the
// generator gets 20 s to open its connections.
func WindowArgs(addr, mode string, conns int, warmup, duration time.Duration) []string {
	return []string{"-addr", addr, "-mode", mode, "-conns", strconv.Itoa(conns),
		"-warmup", warmup.String(), "-duration", duration.String(), "-connect-within", "20s"}
}

// Window runs the generator argv, pinned to cpu, for one measured window
// against s, with m reading s's CPU (and the cores') at the generator's
// START and END. It fails when the generator saw any I/O error, mismatch
// or failed connect, completed no message, or the server died.
func Window(ctx context.Context, s *runner.Server, cpu int, argv []string, warmup, duration time.Duration, m *runner.Meter) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, warmup+duration+40*time.Second)
	defer cancel()
	var started, ended bool
	out, err := runner.RunLoad(ctx, cpu, argv, func(ev string, _ func()) error {
		switch ev {
		case "START":
			started = true
			return m.Start()
		case "END":
			ended = true
			return m.Stop()
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	res, err := ParseResult(out)
	if err != nil {
		return res, err
	}
	if !started || !ended {
		return res, errors.New("the generator never announced its window")
	}
	if err := s.Alive(); err != nil {
		return res, err
	}
	if res.Msgs == 0 || res.Seconds <= 0 {
		return res, errors.New("no message completed")
	}
	return res, nil
}

// IdleRSS measures what idle connections cost s: its RSS after before,
// then with conns connections of the generator argv (pinned to cpu) open,
// each having echoed once, read settle after the last one opened. It
// returns both readings and the connections that opened.
func IdleRSS(ctx context.Context, s *runner.Server, cpu int, argv []string, conns int, before, settle time.Duration) (base, loaded int64, connected int, err error) {
	runner.SleepCtx(ctx, before)
	if base, err = proc.RSS(s.Pid()); err != nil {
		return 0, 0, 0, err
	}
	argv = append(slices.Clip(argv), "-addr", s.Addr, "-mode", Idle,
		"-conns", strconv.Itoa(conns), "-hold", "2m", "-connect-within", "60s")
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, connected, loaded, err := runner.HoldIdle(ctx, cpu, argv, settle, func() (int64, error) { return proc.RSS(s.Pid()) })
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := ParseResult(out); err != nil {
		return 0, 0, 0, err
	}
	if err := s.Alive(); err != nil {
		return 0, 0, 0, err
	}
	return base, loaded, connected, nil
}

// Bench says where a driver runs its servers and generators.
type Bench struct {
	ClkTck             int64
	ServerCPU, LoadCPU int
	QuietWait          time.Duration // see runner.WaitQuiet; 0 to not wait
	Warmup, Duration   time.Duration
}

// Sample is one measured window against a server.
type Sample struct {
	Result
	CPU    float64 // the server's CPU seconds in the window
	Others float64 // % of one core other work used on the two cores; -1 if unknown
}

// PerMsg is the server's CPU µs per message.
func (s Sample) PerMsg() float64 { return s.CPU * 1e6 / float64(s.Msgs) }

// Busy is the server's CPU use over the window, in % of one core.
func (s Sample) Busy() float64 { return 100 * s.CPU / s.Seconds }

// Measure waits for quiet cores, then runs one measured window of the
// generator gen (its command without the window's flags) against s with
// conns connections in mode.
func (b Bench) Measure(ctx context.Context, s *runner.Server, gen []string, mode string, conns int) (Sample, error) {
	runner.WaitQuiet(ctx, b.QuietWait, b.ClkTck, b.ServerCPU, b.LoadCPU)
	m := &runner.Meter{Pid: s.Pid(), ClkTck: b.ClkTck, CPUs: []int{b.ServerCPU, b.LoadCPU}}
	argv := append(slices.Clip(gen), WindowArgs(s.Addr, mode, conns, b.Warmup, b.Duration)...)
	res, err := Window(ctx, s, b.LoadCPU, argv, b.Warmup, b.Duration, m)
	if err != nil {
		return Sample{Others: -1}, err
	}
	return Sample{Result: res, CPU: m.Server(), Others: m.Other(res.Seconds, res.CPUBusy*res.Seconds/100)}, nil
}

// Keys of a request/answer benchmark's metrics (RoundTripMetrics,
// Sample.AddRoundTrip).
const (
	KeyRate = "rate"
	KeyP50  = "p50"
	KeyP99  = "p99"
	KeyCPU  = "cpu"
	KeyBusy = "busy"
	KeyLoad = "load"
)

// RoundTripMetrics is the table of a request/answer benchmark: rateLabel
// (per second), the p50 and p99 round trips, the server's CPU per unit
// ("round trip", "datagram"), and how busy server and generator were.
func RoundTripMetrics(rateLabel, unit string) []runner.Metric {
	return []runner.Metric{
		{Key: KeyRate, Label: rateLabel, Better: "higher", Format: "%.0f"},
		{Key: KeyP50, Label: "p50 round trip (µs)", Better: "lower", Format: "%.1f"},
		{Key: KeyP99, Label: "p99 round trip (µs)", Better: "lower", Format: "%.1f"},
		{Key: KeyCPU, Label: "server CPU (µs/" + unit + ")", Better: "lower", Format: "%.3f"},
		{Key: KeyBusy, Label: "server CPU busy (%)", Format: "%.0f"},
		{Key: KeyLoad, Label: "generator CPU busy (%)", Format: "%.0f"},
	}
}

// AddRoundTrip adds s's figures for server to c under RoundTripMetrics'
// keys and logs them, naming the unit ("round trip", "datagram").
func (s Sample) AddRoundTrip(c *runner.Comparison, server, unit string) {
	per := s.PerMsg()
	c.Add(server, KeyRate, s.MsgsPerSec)
	c.Add(server, KeyP50, s.P50us)
	c.Add(server, KeyP99, s.P99us)
	c.Add(server, KeyCPU, per)
	c.Add(server, KeyBusy, s.Busy())
	c.Add(server, KeyLoad, s.CPUBusy)
	runner.Logf("%-10s %9.0f %ss/s, p99 %.0fµs, server %.3f µs/%s, CPU busy: server %.0f%%, generator %.0f%%",
		server, s.MsgsPerSec, unit, s.P99us, per, unit, s.Busy(), s.CPUBusy)
}
