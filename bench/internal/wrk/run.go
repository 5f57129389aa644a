package wrk

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// Run is one finished wrk process.
type Run struct {
	Stdout string
	CPU    time.Duration // wrk's own user+system time
}

// Exec runs wrk (argv, with env on top of ours) pinned to cpu and bounded
// by ctx: on expiry wrk gets SIGTERM, and SIGKILL 3 s later if it is still
// there.
func Exec(ctx context.Context, cpu int, argv, env []string) (Run, error) {
	cmd := runner.Pinned(ctx, cpu, argv, env)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	var stdout bytes.Buffer
	stderr := &runner.Tail{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	var r Run
	r.Stdout = stdout.String()
	if cmd.ProcessState != nil {
		r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("wrk stopped: %w: %s", ctx.Err(), stderr)
	case err != nil:
		return r, fmt.Errorf("wrk: %w: %s %s", err, stderr, strings.TrimSpace(r.Stdout))
	}
	return r, nil
}

// Window says how to measure a server with wrk.
type Window struct {
	Server    *runner.Server
	ClkTck    int64
	ServerCPU int
	LoadCPU   int           // where wrk runs
	QuietWait time.Duration // see runner.WaitQuiet
	Warmup    time.Duration // an unmeasured run first; 0 for none
	Duration  time.Duration
	// Argv is wrk's command line for a run of d; Env its environment on
	// top of ours.
	Argv func(d time.Duration) []string
	Env  []string
}

// Sample is one measured wrk run against one server.
type Sample struct {
	Result
	CPUPerReq  float64 // server µs per request
	ServerBusy float64 // % of one core over the run
	WrkBusy    float64
	Others     float64 // % of one core used on the two cores by neither
}

// Measure waits for quiet cores, runs an unmeasured warm-up, then the
// measured wrk run, reading the server's CPU time just before wrk starts
// and just after it exits. The window thus also holds wrk's connects and
// closes, a few thousand events against the hundreds of thousands of
// requests of a keep-alive run (and exactly what a run of new connections
// means to measure). Any socket error or status ≥ 400 fails it.
func Measure(ctx context.Context, w Window) (Sample, error) {
	var smp Sample
	runner.WaitQuiet(ctx, w.QuietWait, w.ClkTck, w.ServerCPU, w.LoadCPU)
	if w.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, w.Warmup+30*time.Second)
		_, err := Exec(wctx, w.LoadCPU, w.Argv(w.Warmup), w.Env)
		cancel()
		if err != nil {
			return smp, fmt.Errorf("warm-up: %w", err)
		}
	}
	mctx, cancel := context.WithTimeout(ctx, w.Duration+30*time.Second)
	defer cancel()
	m := &runner.Meter{Pid: w.Server.Pid(), ClkTck: w.ClkTck, CPUs: []int{w.ServerCPU, w.LoadCPU}}
	if err := m.Start(); err != nil {
		return smp, err
	}
	began := time.Now()
	run, err := Exec(mctx, w.LoadCPU, w.Argv(w.Duration), w.Env)
	wall := time.Since(began)
	terr := m.Stop()
	if err != nil {
		return smp, err
	}
	if terr != nil {
		return smp, terr
	}
	if err := w.Server.Alive(); err != nil {
		return smp, err
	}
	res, err := Parse(run.Stdout)
	if err != nil {
		return smp, err
	}
	if res.Failures() > 0 {
		return smp, fmt.Errorf("%s (%d requests)", res.FailureText(), res.Requests)
	}
	if res.Requests == 0 {
		return smp, fmt.Errorf("no request completed")
	}
	cpu := m.Server()
	return Sample{
		Result:     res,
		CPUPerReq:  cpu * 1e6 / float64(res.Requests),
		ServerBusy: 100 * cpu / wall.Seconds(),
		WrkBusy:    100 * run.CPU.Seconds() / wall.Seconds(),
		Others:     max(0, m.Other(wall.Seconds(), run.CPU.Seconds())),
	}, nil
}
