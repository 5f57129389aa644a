package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

// Metric keys, in table order.
const (
	mRate    = "rate"
	mP50     = "p50"
	mP99     = "p99"
	mCPU     = "cpu"
	mBusy    = "busy"
	mLoad    = "load"
	mOther   = "other"
	mRSSBase = "rss_base"
	mIdleBPC = "idle_bpc"
)

var metrics = []runner.Metric{
	{Key: mRate, Label: "echo msgs/s", Better: "higher", Format: "%.0f"},
	{Key: mP50, Label: "p50 latency (µs)", Better: "lower", Format: "%.1f"},
	{Key: mP99, Label: "p99 latency (µs)", Better: "lower", Format: "%.1f"},
	{Key: mCPU, Label: "**server CPU (µs/msg)**", Better: "lower", Format: "%.3f"},
	{Key: mBusy, Label: "server CPU busy (%)", Format: "%.0f"},
	{Key: mLoad, Label: "generator CPU busy (%)", Format: "%.0f"},
	{Key: mOther, Label: "other CPU on both cores (%)", Format: "%.0f"},
	{Key: mRSSBase, Label: "RSS after start (MiB)", Better: "lower", Format: "%.1f"},
	{Key: mIdleBPC, Label: "**RSS per idle websocket (bytes)**", Better: "lower", Format: "%.0f"},
}

type bench struct {
	options
	self   string
	clkTck int64
	*runner.Comparison
}

func run(ctx context.Context, o options) (ok bool, err error) {
	self, err := runner.Preflight(o.Servers, o.serverArgv, "gorilla,gnet")
	if err != nil {
		return false, err
	}
	// Servers and the generator inherit the raised limit: each holds
	// -idle connections at once.
	nofile, err := runner.RaiseNoFile()
	if err != nil {
		return false, err
	}
	if uint64(o.idleConns)+64 > nofile {
		return false, fmt.Errorf("-idle %d needs more open files than the limit %d allows", o.idleConns, nofile)
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers)}
	return b.Run(ctx, o.Rounds, o.Out, b.report, b.throughput, b.idle)
}

// start launches server on a fresh port, pinned to the server CPU, and
// checks it echoes correctly before anything is measured.
func (b *bench) start(server string) (*runner.Server, error) {
	s, err := runner.Launch(server, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, server, addr)
	})
	if err != nil {
		return nil, err
	}
	if err := wsserver.Verify("ws://"+s.Addr+"/", nil); err != nil {
		s.Stop()
		return nil, fmt.Errorf("echo check: %w; output: %s", err, s.Out)
	}
	return s, nil
}

// generator is the generator's command: this program's wsload, with the
// message size and type.
func (b *bench) generator() []string {
	argv := []string{b.self, "wsload", "-size", strconv.Itoa(b.size)}
	if b.text {
		argv = append(argv, "-text")
	}
	return argv
}

// throughput runs the echo test against a fresh server: msgs/s, latency,
// and the server's CPU per message between the generator's START and END.
func (b *bench) throughput(ctx context.Context, server string) error {
	s, err := b.start(server)
	if err != nil {
		return err
	}
	defer s.Stop()
	smp, err := runner.Quietest(b.maxOther, func() (loadgen.Sample, error) { return b.measure(ctx, s) },
		func(smp loadgen.Sample) float64 { return smp.Others },
		func(smp loadgen.Sample) {
			runner.Logf("%-10s echo: other work used %.0f%% of a core (over -max-other %.0f): measuring again", server, smp.Others, b.maxOther)
		})
	if err != nil {
		return err
	}
	res, cpu := smp.Result, smp.CPU
	b.Add(server, mRate, res.MsgsPerSec)
	b.Add(server, mP50, res.P50us)
	b.Add(server, mP99, res.P99us)
	b.Add(server, mCPU, cpu*1e6/float64(res.Msgs))
	b.Add(server, mBusy, 100*cpu/res.Seconds)
	b.Add(server, mLoad, res.CPUBusy)
	if smp.Others >= 0 {
		b.Add(server, mOther, smp.Others)
	}
	runner.Logf("%-10s echo %9.0f msgs/s, p99 %.0fµs, server %.3f µs/msg, CPU busy: server %.0f%%, generator %.0f%%, other %.0f%%",
		server, res.MsgsPerSec, res.P99us, cpu*1e6/float64(res.Msgs), 100*cpu/res.Seconds, res.CPUBusy, smp.Others)
	return nil
}

// measure waits for quiet cores, then runs one echo window on s.
func (b *bench) measure(ctx context.Context, s *runner.Server) (loadgen.Sample, error) {
	return loadgen.Bench{ClkTck: b.clkTck, ServerCPU: b.ServerCPU, LoadCPU: b.LoadCPU, QuietWait: b.quietWait,
		Warmup: b.Warmup, Duration: b.Duration}.Measure(ctx, s, b.generator(), loadgen.ReqResp, b.conns)
}

// idle measures resident memory per idle websocket on a fresh server: RSS
// after start-up, then with b.idleConns upgraded connections open, each
// having echoed one message.
func (b *bench) idle(ctx context.Context, server string) error {
	s, err := b.start(server)
	if err != nil {
		return err
	}
	defer s.Stop()
	base, loaded, connected, err := loadgen.IdleRSS(ctx, s, b.LoadCPU, b.generator(), b.idleConns, b.settle, b.settle)
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	perConn := float64(loaded-base) / float64(connected)
	b.Add(server, mRSSBase, float64(base)/(1<<20))
	b.Add(server, mIdleBPC, perConn)
	runner.Logf("%-10s idle RSS %.1f MiB → %.1f MiB with %d websockets: %.0f B/conn",
		server, float64(base)/(1<<20), float64(loaded)/(1<<20), connected, perConn)
	return nil
}

// report renders the medians as a Markdown table with one ratio column
// per other server against the first (workermand by default).
func (b *bench) report() string {
	var sb strings.Builder
	kind := "binary"
	if b.text {
		kind = "text"
	}
	fmt.Fprintf(&sb, "\nMedians of %d round(s); %s windows after %s warm-up; %d conns, %d-byte %s messages; %d idle websockets.\n",
		b.Rounds, b.Duration, b.Warmup, b.conns, b.size, kind, b.idleConns)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, load generator to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, metrics)
	return sb.String()
}
