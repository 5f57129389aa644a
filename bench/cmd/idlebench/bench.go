package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

// Metric keys, in table order, with their labels and targets.
var metrics = []struct{ key, label, unit, target string }{
	{"rest2_gc", "at rest, master + 2 children: garbage collections in the window (all processes)", "", "0"},
	{"rest2_master_cpu", "at rest, master + 2 children: master CPU", "%", ""},
	{"rest2_master_rss", "at rest, master + 2 children: master RSS", "MiB", ""},
	{"rest2_child_cpu", "at rest, master + 2 children: children's CPU (sum)", "%", ""},
	{"rest2_child_anon", "at rest: a child's anonymous RSS (largest of 2)", "MiB", "< 6"},
	{"rest2_child_rss", "at rest: a child's RSS (largest of 2)", "MiB", ""},
	{"rest16_gc", "at rest, master + 16 children: garbage collections in the window", "", "0"},
	{"rest16_master_rss", "at rest, master + 16 children: master RSS", "MiB", "< 30"},
	{"rest16_master_cpu", "at rest, master + 16 children: master CPU", "%", "< 2"},
	{"rest16_child_cpu", "at rest, master + 16 children: children's CPU (sum)", "%", ""},
	{"idle_wm", "idle connections: workermand daemon child, bytes each", "B", ""},
	{"idle_gnet", "idle connections: gnet, bytes each", "B", ""},
	{"idle_ratio", "idle connections: workermand / gnet", "×", "≤ 1.1"},
}

type bench struct {
	options
	self    string
	clkTck  int64
	samples map[string][]float64
	errs    []error
}

// run runs the rounds and prints the table; a measure that could not be
// taken fails the run.
func run(ctx context.Context, o options) (bool, error) {
	self, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("own executable: %w", err)
	}
	if _, err := runner.RaiseNoFile(); err != nil {
		runner.Logf("cannot raise the open-files limit: %v", err)
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), samples: map[string][]float64{}}
	for r := 1; r <= o.rounds && ctx.Err() == nil; r++ {
		runner.Logf("round %d of %d", r, o.rounds)
		b.try("at rest with 2 children", b.rest(ctx, 2))
		b.try("at rest with 16 children", b.rest(ctx, 16))
		wm, err := b.idle(ctx, "workermand")
		b.try("idle connections in workermand", err)
		gn, err := b.idle(ctx, "gnet")
		b.try("idle connections in gnet", err)
		if wm > 0 && gn > 0 {
			b.samples["idle_wm"] = append(b.samples["idle_wm"], wm)
			b.samples["idle_gnet"] = append(b.samples["idle_gnet"], gn)
			b.samples["idle_ratio"] = append(b.samples["idle_ratio"], wm/gn)
		}
	}
	if err := runner.Report(b.report(), o.out); err != nil {
		runner.Logf("%v", err)
	}
	return true, errors.Join(b.errs...)
}

func (b *bench) try(what string, err error) {
	if err != nil {
		runner.Logf("%s: %v", what, err)
		b.errs = append(b.errs, fmt.Errorf("%s: %w", what, err))
	}
}

func (b *bench) add(key string, v float64) { b.samples[key] = append(b.samples[key], v) }

// gcCounter counts the lines GODEBUG=gctrace=1 prints, one per collection,
// from the master and (through its output) every child.
type gcCounter struct {
	mu      sync.Mutex
	partial []byte
	n       int
}

func (g *gcCounter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.partial = append(g.partial, p...)
	for {
		i := bytes.IndexByte(g.partial, '\n')
		if i < 0 {
			break
		}
		if bytes.HasPrefix(g.partial[:i], []byte("gc ")) {
			g.n++
		}
		g.partial = g.partial[i+1:]
	}
	return len(p), nil
}

func (g *gcCounter) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// newDaemon writes a config with one text echo worker of count processes
// into a new temp dir; the processes' output goes to the master's.
func (b *bench) newDaemon(count int) (*runner.Daemon, error) {
	return runner.NewDaemon(b.workermand, "idlebench", runner.DaemonConfig{Count: count})
}

// childPids asks the running daemon for its children, and succeeds once
// count of them are ready and idle.
func childPids(d *runner.Daemon, count int) ([]int, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _, err := d.Status()
		if err == nil {
			var pids []int
			for _, p := range st.Processes {
				if p.Status == "idle" {
					pids = append(pids, p.Pid)
				}
			}
			if len(pids) == count {
				return pids, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d children not ready within 20 s (%v)", count, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rest starts a daemon with count children in the foreground, lets it
// settle, and measures it over the window doing nothing.
func (b *bench) rest(ctx context.Context, count int) error {
	d, err := b.newDaemon(count)
	if err != nil {
		return err
	}
	defer d.Stop()
	gc := &gcCounter{}
	cmd := exec.Command(b.workermand, "start", "-c", d.Config)
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	cmd.Stdout, cmd.Stderr = gc, gc
	srv, err := runner.Start("workermand", cmd, d.Addr)
	if err != nil {
		return err
	}
	srv.Grace = 10 * time.Second // the master stops 16 children first
	defer srv.Stop()
	master := srv.Pid()
	children, err := childPids(d, count)
	if err != nil {
		return fmt.Errorf("%w; output: %s", err, srv.Out)
	}
	if c, err := net.DialTimeout("tcp", d.Addr, time.Second); err == nil {
		c.Close()
	}
	runner.SleepCtx(ctx, b.settleRest)
	ticks := func(pids ...int) (int64, error) {
		var sum int64
		for _, pid := range pids {
			t, err := proc.Ticks(pid)
			if err != nil {
				return 0, err
			}
			sum += t
		}
		return sum, nil
	}
	m0, err := ticks(master)
	if err != nil {
		return err
	}
	c0, err := ticks(children...)
	if err != nil {
		return err
	}
	gc0 := gc.count()
	start := time.Now()
	runner.SleepCtx(ctx, b.window)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	secs := time.Since(start).Seconds()
	gcs := gc.count() - gc0
	m1, err := ticks(master)
	if err != nil {
		return err
	}
	c1, err := ticks(children...)
	if err != nil {
		return fmt.Errorf("a child went away during the window: %w", err)
	}
	pct := func(t int64) float64 { return 100 * float64(t) / float64(b.clkTck) / secs }
	masterRSS, err := proc.StatusKiB(master, "VmRSS")
	if err != nil {
		return err
	}
	var anon, rss int64
	for _, pid := range children {
		a, err := proc.StatusKiB(pid, "RssAnon")
		if err != nil {
			return err
		}
		r, err := proc.StatusKiB(pid, "VmRSS")
		if err != nil {
			return err
		}
		anon, rss = max(anon, a), max(rss, r)
	}
	pre := "rest" + strconv.Itoa(count) + "_"
	b.add(pre+"gc", float64(gcs))
	b.add(pre+"master_cpu", pct(m1-m0))
	b.add(pre+"master_rss", float64(masterRSS)/1024)
	b.add(pre+"child_cpu", pct(c1-c0))
	b.add(pre+"child_anon", float64(anon)/1024)
	b.add(pre+"child_rss", float64(rss)/1024)
	runner.Logf("at rest, %2d children, %.0f s: %d GCs; master %.2f%% CPU, %.1f MiB; children %.2f%% CPU; largest child %.1f MiB (anon %.1f MiB)",
		count, secs, gcs, pct(m1-m0), float64(masterRSS)/1024, pct(c1-c0), float64(rss)/1024, float64(anon)/1024)
	return nil
}

// idle opens b.conns connections to one fresh server, each echoing one
// line (so the server has accepted and served it), and returns the RSS
// they added per connection, read b.settle after the last one opened.
func (b *bench) idle(ctx context.Context, server string) (float64, error) {
	var p *runner.Server
	var err error
	switch server {
	case "workermand":
		d, err := b.newDaemon(1)
		if err != nil {
			return 0, err
		}
		defer d.Stop() // removes the dir: the master started below is no Start of d's
		p, err = runner.StartServer(server, 1, []string{b.workermand, "start", "-c", d.Config}, nil, d.Addr)
		if err != nil {
			return 0, err
		}
	case "gnet":
		p, err = runner.Launch(server, 1, func(addr string) ([]string, []string, error) {
			return []string{b.self, "gnetecho", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
		})
		if err != nil {
			return 0, err
		}
	}
	defer p.Stop()
	base, loaded, connected, err := loadgen.IdleRSS(ctx, p, 0, []string{b.self, "loadgen"}, b.conns, time.Second, b.settle)
	if err != nil {
		return 0, err
	}
	if connected < b.conns {
		return 0, fmt.Errorf("%d of %d connections opened", connected, b.conns)
	}
	per := float64(loaded-base) / float64(connected)
	runner.Logf("idle %-10s RSS %.1f MiB → %.1f MiB with %d connections, read %s after: %.0f B each",
		server, float64(base)/(1<<20), float64(loaded)/(1<<20), connected, b.settle, per)
	return per, nil
}

func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "workermand at rest and idle connections: %d round(s), %s window after %s at rest; %d connections read %s after the last opened; medians (range)\n\n",
		b.rounds, b.window, b.settleRest, b.conns, b.settle)
	runner.Row(&sb, []string{"metric", "median", "range", "target"})
	runner.Row(&sb, []string{"---", "---:", "---:", "---:"})
	for _, m := range metrics {
		xs := b.samples[m.key]
		if len(xs) == 0 {
			continue
		}
		lo, hi := xs[0], xs[0]
		for _, x := range xs {
			lo, hi = min(lo, x), max(hi, x)
		}
		format := "%.2f"
		switch m.unit {
		case "B", "":
			format = "%.0f"
		case "MiB":
			format = "%.1f"
		}
		cell := func(v float64) string { return runner.Num(format, v) + " " + m.unit }
		runner.Row(&sb, []string{m.label, cell(runner.Median(xs)), cell(lo) + " – " + cell(hi), m.target})
	}
	return sb.String()
}
