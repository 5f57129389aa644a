package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

func run(ctx context.Context, o options) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("own executable: %w", err)
	}
	if _, err := runner.RaiseNoFile(); err != nil {
		logf("cannot raise the open-files limit: %v", err)
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), samples: map[string][]float64{}}
	for r := 1; r <= o.rounds && ctx.Err() == nil; r++ {
		logf("round %d of %d", r, o.rounds)
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
	return b.report(), errors.Join(b.errs...)
}

func (b *bench) try(what string, err error) {
	if err != nil {
		logf("%s: %v", what, err)
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
	tail    runner.Tail
}

func (g *gcCounter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, _ = g.tail.Write(p)
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

// daemonConfig writes a config with one text echo worker of count
// processes into a new temp dir.
func daemonConfig(count int) (dir, cfg, addr string, err error) {
	dir, err = os.MkdirTemp("", "idlebench-")
	if err != nil {
		return "", "", "", err
	}
	addr, err = runner.FreeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	cfg = dir + "/workermand.toml"
	text := fmt.Sprintf("pid_file = %q\ncontrol_socket = %q\n\n[[worker]]\nname = \"echo\"\nlisten = \"text://%s\"\nhandler = \"echo\"\ncount = %d\n",
		dir+"/workermand.pid", dir+"/workermand.sock", addr, count)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	return dir, cfg, addr, nil
}

// childPids asks the running daemon for its children, and succeeds once
// count of them are ready and idle.
func (b *bench) childPids(cfg string, count int) ([]int, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(b.workermand, "status", "--json", "-c", cfg).Output()
		if err == nil {
			var st struct {
				Processes []struct {
					PID    int    `json:"pid"`
					Status string `json:"status"`
				} `json:"processes"`
			}
			if err := json.Unmarshal(out, &st); err != nil {
				return nil, fmt.Errorf("status --json: %w", err)
			}
			var pids []int
			for _, p := range st.Processes {
				if p.Status == "idle" {
					pids = append(pids, p.PID)
				}
			}
			if len(pids) == count {
				return pids, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d children not ready within 20 s (%v): %s", count, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rest starts a daemon with count children in the foreground, lets it
// settle, and measures it over the window doing nothing.
func (b *bench) rest(ctx context.Context, count int) error {
	dir, cfg, addr, err := daemonConfig(count)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	gc := &gcCounter{}
	cmd := exec.Command(b.workermand, "start", "-c", cfg)
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	cmd.Stdout, cmd.Stderr = gc, gc
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer stopDaemon(cmd.Process.Pid, exited)
	master := cmd.Process.Pid
	children, err := b.childPids(cfg, count)
	if err != nil {
		return fmt.Errorf("%w; output: %s", err, gc.tail.String())
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
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
	logf("at rest, %2d children, %.0f s: %d GCs; master %.2f%% CPU, %.1f MiB; children %.2f%% CPU; largest child %.1f MiB (anon %.1f MiB)",
		count, secs, gcs, pct(m1-m0), float64(masterRSS)/1024, pct(c1-c0), float64(rss)/1024, float64(anon)/1024)
	return nil
}

// stopDaemon stops the master we started (it stops its children) and, if
// it does not go within 10 s, kills its process group.
func stopDaemon(pid int, exited <-chan struct{}) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

// idle opens b.conns connections to one fresh server, each echoing one
// line (so the server has accepted and served it), and returns the RSS
// they added per connection, read b.settle after the last one opened.
func (b *bench) idle(ctx context.Context, server string) (float64, error) {
	var (
		argv []string
		env  []string
		addr string
		err  error
	)
	switch server {
	case "workermand":
		var dir, cfg string
		dir, cfg, addr, err = daemonConfig(1)
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		argv = []string{b.workermand, "start", "-c", cfg}
	case "gnet":
		if addr, err = runner.FreeAddr(); err != nil {
			return 0, err
		}
		argv, env = []string{b.self, "gnetecho", "-addr", addr}, []string{"GOMAXPROCS=1"}
	}
	p, err := runner.StartServer(server, 1, argv, env, addr)
	if err != nil {
		return 0, err
	}
	defer p.Stop()
	runner.SleepCtx(ctx, time.Second)
	base, err := proc.RSS(p.Pid())
	if err != nil {
		return 0, err
	}
	argv = []string{b.self, "loadgen", "-addr", addr, "-mode", loadgen.Idle,
		"-conns", strconv.Itoa(b.conns), "-hold", "2m", "-connect-within", "60s"}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	_, connected, loaded, err := runner.HoldIdle(ctx, 0, argv, b.settle, func() (int64, error) { return proc.RSS(p.Pid()) })
	if err != nil {
		return 0, err
	}
	if connected < b.conns {
		return 0, fmt.Errorf("%d of %d connections opened", connected, b.conns)
	}
	if err := p.Alive(); err != nil {
		return 0, err
	}
	per := float64(loaded-base) / float64(connected)
	logf("idle %-10s RSS %.1f MiB → %.1f MiB with %d connections, read %s after: %.0f B each",
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
