package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

// Metric keys; see the metrics table in report.go for labels.
const (
	rrRate  = "rr_rate"
	rrP50   = "rr_p50"
	rrP99   = "rr_p99"
	rrCPU   = "rr_cpu"
	rrBusy  = "rr_busy"
	rrLoad  = "rr_load"
	plRate  = "pl_rate"
	plCPU   = "pl_cpu"
	plBusy  = "pl_busy"
	plLoad  = "pl_load"
	rssBase = "rss_base"
	idleBPC = "idle_bpc"
)

// bench holds the run's settings and the samples gathered so far.
type bench struct {
	options
	self   string
	clkTck int64
	*runner.Comparison
}

func run(ctx context.Context, o options) (ok bool, err error) {
	self, err := runner.Preflight(o.Servers, o.serverArgv, "gnet,net")
	if err != nil {
		return false, err
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers)}
	return b.Run(ctx, o.Rounds, o.Out, b.report, b.throughput, b.idle)
}

// start launches server on a fresh port, pinned to the server CPU.
func (b *bench) start(server string) (*runner.Server, error) {
	return runner.Launch(server, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, server, addr)
	})
}

// throughput runs reqresp then pipelined against one fresh server process.
func (b *bench) throughput(ctx context.Context, server string) error {
	p, err := b.start(server)
	if err != nil {
		return err
	}
	defer p.Stop()
	for _, mode := range []string{loadgen.ReqResp, loadgen.Pipelined} {
		m := &runner.Meter{Pid: p.Pid(), ClkTck: b.clkTck, CPUs: []int{b.ServerCPU, b.LoadCPU}}
		argv := append([]string{b.self, "loadgen", "-batch", strconv.Itoa(b.batch)},
			loadgen.WindowArgs(p.Addr, mode, b.conns, b.Warmup, b.Duration)...)
		res, err := loadgen.Window(ctx, p, b.LoadCPU, argv, b.Warmup, b.Duration, m)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		cpuSec := m.Server()
		cpuPerMsg := cpuSec * 1e6 / float64(res.Msgs)
		busy := 100 * cpuSec / res.Seconds
		if mode == loadgen.ReqResp {
			b.Add(server, rrRate, res.MsgsPerSec)
			b.Add(server, rrP50, res.P50us)
			b.Add(server, rrP99, res.P99us)
			b.Add(server, rrCPU, cpuPerMsg)
			b.Add(server, rrBusy, busy)
			b.Add(server, rrLoad, res.CPUBusy)
		} else {
			b.Add(server, plRate, res.MsgsPerSec)
			b.Add(server, plCPU, cpuPerMsg)
			b.Add(server, plBusy, busy)
			b.Add(server, plLoad, res.CPUBusy)
		}
		lat := ""
		if mode == loadgen.ReqResp {
			lat = fmt.Sprintf(", p99 %.0fµs", res.P99us)
		}
		runner.Logf("%-10s %-9s %9.0f msgs/s%s, server %.3f µs/msg, CPU busy: server %.0f%%, generator %.0f%%",
			server, mode, res.MsgsPerSec, lat, cpuPerMsg, busy, res.CPUBusy)
	}
	return nil
}

// idle measures resident memory per idle connection on a fresh server:
// RSS after start-up, then RSS with b.idleConns connections open, each
// having echoed one line.
func (b *bench) idle(ctx context.Context, server string) error {
	p, err := b.start(server)
	if err != nil {
		return err
	}
	defer p.Stop()
	base, loaded, connected, err := loadgen.IdleRSS(ctx, p, b.LoadCPU, []string{b.self, "loadgen"}, b.idleConns, b.settle, b.settle)
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	perConn := float64(loaded-base) / float64(connected)
	b.Add(server, rssBase, float64(base)/(1<<20))
	b.Add(server, idleBPC, perConn)
	runner.Logf("%-10s %-9s RSS %.1f MiB → %.1f MiB with %d conns: %.0f B/conn",
		server, "idle", float64(base)/(1<<20), float64(loaded)/(1<<20), connected, perConn)
	return nil
}
