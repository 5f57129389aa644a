package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// Sizes of the measures; the README quotes them.
const (
	reloadsUnderLoad = 10
	churnWorkers     = 4
	churnRate        = 5000                   // requests per second, at most, all goroutines together
	churnMaxPerRound = 50_000                 // requests (10 s at churnRate); the load also stops 0.2 s after the last reload
	churnLead        = 200 * time.Millisecond // load before the first and after the last reload
	statusChildren   = 8
	statusCalls      = 20
	spreadChildren   = 4
	spreadConns      = 400
	spreadParallel   = 8 // connections being opened at once
)

// reloadCmd names the two load tests, by index of bench.churn.
var reloadCmd = [2]string{"reload", "reload -g"}

// bench holds the samples of every round.
type bench struct {
	options
	startCLI, startReady map[int][]float64 // children → ms, one per round
	reload               []float64         // ms
	churn                [2]churn          // [0] reload, [1] reload -g; summed over rounds
	churnRounds          [2]int            // rounds whose load test ran to the end
	replaced, kept       [2]int            // rounds where every child pid changed / the master pid stayed
	status               []float64         // ms, every call
	busy                 int               // processes reported busy by those calls
	spread               map[bool][][]int  // reuse_port → per round, connections per child (by id)
	failures             []string          // measurements that could not be taken
}

func newBench(o options) *bench {
	return &bench{options: o, startCLI: map[int][]float64{}, startReady: map[int][]float64{},
		spread: map[bool][][]int{}}
}

// round runs every measure once, each on its own fresh daemon.
func (b *bench) round(ctx context.Context) {
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"start, 1 child", func(context.Context) error { return b.measureStart(1) }},
		{"start, 4 children", func(context.Context) error { return b.measureStart(4) }},
		{"reload", func(context.Context) error { return b.measureReload() }},
		{"reloads under load", func(ctx context.Context) error { return b.measureChurn(ctx, false) }},
		{"reload -g under load", func(ctx context.Context) error { return b.measureChurn(ctx, true) }},
		{"status", func(context.Context) error { return b.measureStatus() }},
		{"spread, shared listener", func(context.Context) error { return b.measureSpread(false) }},
		{"spread, reuse_port", func(context.Context) error { return b.measureSpread(true) }},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return
		}
		if err := s.run(ctx); err != nil {
			b.failures = append(b.failures, fmt.Sprintf("%s: %v", s.name, err))
			runner.Logf("  %s: FAILED: %v", s.name, err)
		}
	}
}

// started starts a fresh daemon and checks it runs count children.
func (b *bench) started(count int, reusePort bool) (*runner.Daemon, runner.Status, error) {
	d, err := newDaemon(b.workermand, count, reusePort)
	if err != nil {
		return nil, runner.Status{}, err
	}
	if _, _, err := d.Start(); err != nil {
		d.Stop()
		return nil, runner.Status{}, err
	}
	st, _, err := d.Status()
	if err == nil && len(st.Processes) != count {
		err = fmt.Errorf("status lists %d processes, want %d", len(st.Processes), count)
	}
	if err != nil {
		d.Stop()
		return nil, runner.Status{}, err
	}
	return d, st, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// measureStart times `start -d` until it returns and until the port answers.
func (b *bench) measureStart(count int) error {
	d, err := newDaemon(b.workermand, count, false)
	if err != nil {
		return err
	}
	defer d.Stop()
	cli, ready, err := d.Start()
	if err != nil {
		return err
	}
	if n := len(d.Pids) - 1; n != count {
		return fmt.Errorf("status lists %d processes, want %d", n, count)
	}
	b.startCLI[count] = append(b.startCLI[count], ms(cli))
	b.startReady[count] = append(b.startReady[count], ms(ready))
	runner.Logf("  start -d, %d %s: command returned after %.1f ms, port answered after %.1f ms", count, plural(count, "child", "children"), ms(cli), ms(ready))
	return nil
}

// measureReload times one `reload` of 4 idle children and checks that a
// new generation replaced them.
func (b *bench) measureReload() error {
	d, before, err := b.started(4, false)
	if err != nil {
		return err
	}
	defer d.Stop()
	took, err := reload(d, false)
	if err != nil {
		return err
	}
	if _, err := waitReplaced(d, before); err != nil {
		return err
	}
	b.reload = append(b.reload, ms(took))
	runner.Logf("  reload of 4 children: %.1f ms", ms(took))
	return nil
}

// replacedAll checks that after has as many children as before and none
// of before's pids.
func replacedAll(before, after runner.Status) error {
	old := before.ChildPids()
	if len(after.Processes) != len(old) {
		return fmt.Errorf("%d processes, %d before the reload", len(after.Processes), len(old))
	}
	for _, p := range after.ChildPids() {
		if slices.Contains(old, p) {
			return fmt.Errorf("child pid %d survived the reload", p)
		}
	}
	return nil
}

// waitReplaced polls status until replacedAll holds: `reload` returns once
// the new generation serves, and the old one may still be on its way out
// (a moment for `reload`, until its connections close for `reload -g`).
func waitReplaced(d *runner.Daemon, before runner.Status) (runner.Status, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, _, err := d.Status()
		if err != nil {
			return after, err
		}
		err = replacedAll(before, after)
		if err == nil || time.Now().After(deadline) {
			return after, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// measureChurn runs 10 reloads (reload -g if graceful) back to back while
// churnWorkers goroutines each open a new connection per request.
func (b *bench) measureChurn(ctx context.Context, graceful bool) error {
	g := 0
	if graceful {
		g = 1
	}
	d, before, err := b.started(4, false)
	if err != nil {
		return err
	}
	defer d.Stop()
	var c churn
	loadCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() { runChurn(loadCtx, d.Addr, churnWorkers, churnRate, churnMaxPerRound, &c); close(done) }()

	runner.SleepCtx(loadCtx, churnLead)
	t0 := time.Now()
	var reloadErr error
	for i := 0; i < reloadsUnderLoad && reloadErr == nil; i++ {
		_, reloadErr = reload(d, graceful)
	}
	took := time.Since(t0)
	runner.SleepCtx(loadCtx, churnLead)
	cancel()
	<-done

	c.addTo(&b.churn[g])
	runner.Logf("  %d × %s under load in %.0f ms: %d requests, %d failed (dial %d, reset %d, short %d, timeout %d, mismatch %d, other %d)",
		reloadsUnderLoad, reloadCmd[g], ms(took), c.total(), c.failed(), c.dial.Load(), c.reset.Load(), c.short.Load(),
		c.timeout.Load(), c.mismatch.Load(), c.other.Load())
	for _, s := range c.sample {
		runner.Logf("    %s", s)
	}
	if reloadErr != nil {
		return reloadErr
	}
	if c.total() >= churnMaxPerRound {
		return fmt.Errorf("the load stopped at %d requests before the reloads ended", churnMaxPerRound)
	}
	after, err := waitReplaced(d, before)
	if err != nil && after.Master.Pid == 0 {
		return err // no status at all
	}
	b.churnRounds[g]++
	if err == nil {
		b.replaced[g]++
	} else {
		runner.Logf("    %v", err)
	}
	if after.Master.Pid == before.Master.Pid {
		b.kept[g]++
	}
	return nil
}

// addTo adds c's counts to t.
func (c *churn) addTo(t *churn) {
	t.ok.Add(c.ok.Load())
	t.dial.Add(c.dial.Load())
	t.reset.Add(c.reset.Load())
	t.short.Add(c.short.Load())
	t.timeout.Add(c.timeout.Load())
	t.mismatch.Add(c.mismatch.Load())
	t.other.Add(c.other.Load())
}

// measureStatus times statusCalls runs of `status --json` with 8 children.
func (b *bench) measureStatus() error {
	d, _, err := b.started(statusChildren, false)
	if err != nil {
		return err
	}
	defer d.Stop()
	var worst time.Duration
	for range statusCalls {
		st, took, err := d.Status()
		if err != nil {
			return err
		}
		if len(st.Processes) != statusChildren {
			return fmt.Errorf("status lists %d processes, want %d", len(st.Processes), statusChildren)
		}
		for _, p := range st.Processes {
			if p.Status == "busy" {
				b.busy++
			}
		}
		b.status = append(b.status, ms(took))
		worst = max(worst, took)
	}
	runner.Logf("  status --json with %d children: max %.1f ms over %d calls", statusChildren, ms(worst), statusCalls)
	return nil
}

// measureSpread opens spreadConns connections to 4 children and reads how
// many each one holds.
func (b *bench) measureSpread(reusePort bool) error {
	d, _, err := b.started(spreadChildren, reusePort)
	if err != nil {
		return err
	}
	defer d.Stop()
	conns, err := openIdle(d.Addr, spreadConns, spreadParallel)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return fmt.Errorf("%d of %d connections opened: %w", len(conns), spreadConns, err)
	}
	// Every connection has echoed, so a child holds it; status may still
	// be a moment behind.
	var counts []int
	for deadline := time.Now().Add(3 * time.Second); ; {
		st, _, err := d.Status()
		if err != nil {
			return err
		}
		counts = make([]int, spreadChildren)
		sum := 0
		for _, p := range st.Processes {
			if p.ID >= 0 && p.ID < spreadChildren {
				counts[p.ID] += p.Connections
			}
			sum += p.Connections
		}
		if sum == spreadConns {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("status counts %d connections, want %d", sum, spreadConns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.spread[reusePort] = append(b.spread[reusePort], counts)
	runner.Logf("  %d connections over %d children, reuse_port=%t: %v", spreadConns, spreadChildren, reusePort, counts)
	return nil
}
