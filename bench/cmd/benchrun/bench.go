package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

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
	self    string
	clkTck  int64
	samples map[string]map[string][]float64 // server → metric → one value per round
	errors  map[string]int                  // server → failed measurements (any I/O error or mismatch fails one)
}

func run(ctx context.Context, o options) (ok bool, err error) {
	self, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("find own executable: %w", err)
	}
	if err := o.preflight(self); err != nil {
		return false, err
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(),
		samples: map[string]map[string][]float64{}, errors: map[string]int{}}
	for _, s := range o.servers {
		b.samples[s] = map[string][]float64{}
	}
	start := time.Now()
	// Servers alternate within each round so slow drifts in machine noise
	// (thermal, other tenants) hit all of them alike.
	for r := 1; r <= o.rounds; r++ {
		for _, test := range []func(context.Context, string) error{b.throughput, b.idle} {
			for _, s := range o.servers {
				if ctx.Err() != nil {
					return false, fmt.Errorf("interrupted: %w", ctx.Err())
				}
				if err := test(ctx, s); err != nil {
					b.errors[s]++
					logf("round %d/%d %s: FAILED: %v", r, o.rounds, s, err)
				}
			}
		}
	}
	logf("done in %s", time.Since(start).Round(time.Second))

	table := b.report()
	fmt.Print(table)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(table), 0o644); err != nil {
			return false, fmt.Errorf("write %s: %w", o.out, err)
		}
	}
	for _, n := range b.errors {
		if n > 0 {
			return false, nil
		}
	}
	return true, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) add(server, metric string, v float64) {
	b.samples[server][metric] = append(b.samples[server][metric], v)
}

// start launches server on a fresh port, pinned to the server CPU.
func (b *bench) start(server string) (*runner.Server, error) {
	addr, err := runner.FreeAddr()
	if err != nil {
		return nil, err
	}
	argv, env := b.serverArgv(b.self, server, addr)
	return runner.StartServer(server, b.serverCPU, argv, env, addr)
}

// throughput runs reqresp then pipelined against one fresh server process.
func (b *bench) throughput(ctx context.Context, server string) error {
	p, err := b.start(server)
	if err != nil {
		return err
	}
	defer p.Stop()
	for _, mode := range []string{loadgen.ReqResp, loadgen.Pipelined} {
		res, cpuSec, err := b.window(ctx, p, mode)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		if res.Msgs == 0 {
			return fmt.Errorf("%s: no message completed", mode)
		}
		cpuPerMsg := cpuSec * 1e6 / float64(res.Msgs)
		busy := 100 * cpuSec / res.Seconds
		if mode == loadgen.ReqResp {
			b.add(server, rrRate, res.MsgsPerSec)
			b.add(server, rrP50, res.P50us)
			b.add(server, rrP99, res.P99us)
			b.add(server, rrCPU, cpuPerMsg)
			b.add(server, rrBusy, busy)
			b.add(server, rrLoad, res.CPUBusy)
		} else {
			b.add(server, plRate, res.MsgsPerSec)
			b.add(server, plCPU, cpuPerMsg)
			b.add(server, plBusy, busy)
			b.add(server, plLoad, res.CPUBusy)
		}
		lat := ""
		if mode == loadgen.ReqResp {
			lat = fmt.Sprintf(", p99 %.0fµs", res.P99us)
		}
		logf("%-10s %-9s %9.0f msgs/s%s, server %.3f µs/msg, CPU busy: server %.0f%%, generator %.0f%%",
			server, mode, res.MsgsPerSec, lat, cpuPerMsg, busy, res.CPUBusy)
	}
	return nil
}

// window runs one measured load-generator run and returns its result and
// the server CPU seconds (utime+stime) spent between START and END.
func (b *bench) window(ctx context.Context, p *runner.Server, mode string) (loadgen.Result, float64, error) {
	var res loadgen.Result
	argv := []string{b.self, "loadgen", "-addr", p.Addr, "-mode", mode,
		"-conns", strconv.Itoa(b.conns), "-batch", strconv.Itoa(b.batch),
		"-warmup", b.warmup.String(), "-duration", b.duration.String(),
		"-connect-within", "20s"}
	ctx, cancel := context.WithTimeout(ctx, b.warmup+b.duration+40*time.Second)
	defer cancel()
	var t0, t1 int64 = -1, -1
	out, err := runner.RunLoad(ctx, b.loadCPU, argv, func(ev string, _ func()) error {
		var err error
		switch ev {
		case "START":
			t0, err = proc.CPUTicks(p.Pid())
		case "END":
			t1, err = proc.CPUTicks(p.Pid())
		}
		return err
	})
	if err != nil {
		return res, 0, err
	}
	if err := b.parse(out, &res); err != nil {
		return res, 0, err
	}
	if t0 < 0 || t1 < 0 {
		return res, 0, fmt.Errorf("loadgen never announced its window")
	}
	if err := p.Alive(); err != nil {
		return res, 0, err
	}
	return res, float64(t1-t0) / float64(b.clkTck), nil
}

// parse decodes a loadgen result and books its errors against no server
// in particular: the caller's error return does that.
func (b *bench) parse(out string, res *loadgen.Result) error {
	if err := json.Unmarshal([]byte(out), res); err != nil {
		return fmt.Errorf("decode loadgen result: %w", err)
	}
	if n := res.Errors + res.Mismatches + uint64(res.DialErrors); n > 0 {
		return fmt.Errorf("%d I/O errors, %d mismatched replies, %d failed connects",
			res.Errors, res.Mismatches, res.DialErrors)
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
	runner.SleepCtx(ctx, b.settle)
	base, err := proc.RSS(p.Pid())
	if err != nil {
		return err
	}
	argv := []string{b.self, "loadgen", "-addr", p.Addr, "-mode", loadgen.Idle,
		"-conns", strconv.Itoa(b.idleConns), "-hold", "2m", "-connect-within", "60s"}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, connected, loaded, err := runner.HoldIdle(ctx, b.loadCPU, argv, b.settle, func() (int64, error) { return proc.RSS(p.Pid()) })
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	var res loadgen.Result
	if err := b.parse(out, &res); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := p.Alive(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	perConn := float64(loaded-base) / float64(connected)
	b.add(server, rssBase, float64(base)/(1<<20))
	b.add(server, idleBPC, perConn)
	logf("%-10s %-9s RSS %.1f MiB → %.1f MiB with %d conns: %.0f B/conn",
		server, "idle", float64(base)/(1<<20), float64(loaded)/(1<<20), connected, perConn)
	return nil
}
