package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/scale"
)

// A row of the table: a figure and, where the issue sets one, its goal.
type row struct {
	label, value, goal string
	met                *bool // nil: no goal
}

type bench struct {
	options
	self string
	lim  scale.Limits
	rows []row
	errs []error
}

func run(ctx context.Context, o options) (bool, error) {
	self, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("own executable: %w", err)
	}
	lim, p, err := scale.PlanHere(o.conns, o.procs, o.loaders)
	if err != nil {
		return false, err
	}
	b := &bench{options: o, self: self, lim: lim}
	b.scale(ctx, p)
	if o.compare > 0 && ctx.Err() == nil {
		b.comparison(ctx)
	}
	if err := runner.Report(b.report(p), o.out); err != nil {
		runner.Logf("%v", err)
	}
	ok := true
	for _, r := range b.rows {
		if r.met != nil && !*r.met {
			ok = false
		}
	}
	return ok, errors.Join(b.errs...)
}

func (b *bench) fail(what string, err error) {
	runner.Logf("%s: %v", what, err)
	b.errs = append(b.errs, fmt.Errorf("%s: %w", what, err))
}

func (b *bench) add(label, value, goal string, met *bool) {
	b.rows = append(b.rows, row{label, value, goal, met})
}

func (b *bench) addGoal(label, value, goal string, met bool) { b.add(label, value, goal, &met) }

// status is the part of `status --json` this benchmark reads.
type status struct {
	Processes []struct {
		Pid          int    `json:"pid"`
		Worker       string `json:"worker"`
		Connections  int    `json:"connections"`
		Status       string `json:"status"`
		AcceptPauses uint64 `json:"accept_pauses"`
		Rejected     uint64 `json:"rejected"`
	} `json:"processes"`
}

func readStatus(d *runner.Daemon) (status, error) {
	var s status
	out, err := d.CLI(time.Minute, "status", "--json")
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return s, fmt.Errorf("decode status --json: %w", err)
	}
	return s, nil
}

// waitChildren waits until n children are ready and idle and returns
// their pids by worker name.
func waitChildren(d *runner.Daemon, n int) (map[string]int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := readStatus(d)
		if err == nil {
			pids := map[string]int{}
			for _, p := range s.Processes {
				if p.Status == "idle" {
					pids[p.Worker] = p.Pid
				}
			}
			if len(pids) == n {
				return pids, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d children not ready within 30 s (%v)", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newScaleDaemon writes a config with one websocket echo worker per
// destination address, all on the same port.
func (b *bench) newScaleDaemon(p scale.Plan) (*runner.Daemon, error) {
	d, err := runner.NewDaemon(b.workermand, "scalebench", runner.DaemonConfig{Count: 1, LogFiles: true})
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(d.Addr)
	var sb strings.Builder
	fmt.Fprintf(&sb, "pid_file = %q\ncontrol_socket = %q\nlog_file = %q\nstdout_file = %q\n",
		d.Dir+"/workermand.pid", d.Dir+"/workermand.sock", d.Dir+"/workermand.log", d.Dir+"/stdout.log")
	for i, dst := range p.Dests {
		fmt.Fprintf(&sb, "\n[[worker]]\nname = \"ws%d\"\nlisten = \"websocket://%s:%s\"\nhandler = \"echo\"\ncount = 1\n", i+1, dst, port)
	}
	if err := os.WriteFile(d.Config, []byte(sb.String()), 0o644); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// loader is a running load process.
type loader struct {
	cmd      *exec.Cmd
	ok, fail int
	start    time.Time
	end      time.Time
	firstErr string
	ticks    int64 // its CPU time once its connections were open
}

// startLoaders starts the load processes of p against port and returns
// once each has reported its connections open (or failed).
func (b *bench) startLoaders(ctx context.Context, p scale.Plan, port string, within time.Duration) ([]*loader, error) {
	var targets []string
	for _, d := range p.Dests {
		targets = append(targets, d+":"+port)
	}
	type report struct {
		l   *loader
		err error
	}
	reports := make(chan report, p.Loaders)
	var ls []*loader
	for j := range p.Loaders {
		n := min(p.PerLoad, p.Conns-j*p.PerLoad)
		if n <= 0 {
			break
		}
		argv := []string{"hold", "-targets", strings.Join(targets, ","), "-conns", strconv.Itoa(n),
			"-sources", strings.Join(p.LoaderSources(j), ","),
			"-ports", fmt.Sprintf("%d-%d", b.lim.PortLo, b.lim.PortHi),
			"-parallel", strconv.Itoa(b.parallel), "-connect-within", within.String()}
		cmd := exec.CommandContext(ctx, b.self, argv...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return ls, err
		}
		if err := cmd.Start(); err != nil {
			return ls, fmt.Errorf("start load process: %w", err)
		}
		l := &loader{cmd: cmd}
		ls = append(ls, l)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.SplitN(sc.Text(), " ", 6)
				if len(f) < 5 || f[0] != "CONNECTED" {
					continue
				}
				l.ok, _ = strconv.Atoi(f[1])
				l.fail, _ = strconv.Atoi(f[2])
				s, _ := strconv.ParseInt(f[3], 10, 64)
				e, _ := strconv.ParseInt(f[4], 10, 64)
				l.start, l.end = time.Unix(0, s), time.Unix(0, e)
				l.ticks, _ = proc.Ticks(cmd.Process.Pid)
				if len(f) == 6 {
					l.firstErr = f[5]
				}
				reports <- report{l, nil}
				_, _ = bufio.NewReader(out).WriteTo(discard{}) // until it exits
				return
			}
			reports <- report{l, fmt.Errorf("load process ended without reporting: %v", sc.Err())}
		}()
	}
	var errs []error
	for range ls {
		if r := <-reports; r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return ls, errors.Join(errs...)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func stopLoaders(ls []*loader) {
	for _, l := range ls {
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, l := range ls {
		_ = l.cmd.Wait()
	}
}

// settledRSS reads the pids' RSS (KiB) every second until no reading
// moved by more than 0.5% (or 64 KiB) since the last, or for at most
// limit: it reads memory once the daemon has given back what setting up
// the connections left.
func settledRSS(ctx context.Context, pids []int, limit time.Duration) (map[int]int64, time.Duration, error) {
	t0 := time.Now()
	read := func() (map[int]int64, error) {
		m := map[int]int64{}
		for _, pid := range pids {
			kb, err := proc.StatusKiB(pid, "VmRSS")
			if err != nil {
				return nil, err
			}
			m[pid] = kb
		}
		return m, nil
	}
	last, err := read()
	if err != nil {
		return nil, 0, err
	}
	for time.Since(t0) < limit && ctx.Err() == nil {
		runner.SleepCtx(ctx, time.Second)
		cur, err := read()
		if err != nil {
			return nil, 0, err
		}
		steady := true
		for pid, kb := range cur {
			if d := kb - last[pid]; max(d, -d) > max(64, last[pid]/200) {
				steady = false
			}
		}
		last = cur
		if steady && time.Since(t0) >= 3*time.Second {
			break
		}
	}
	return last, time.Since(t0), nil
}

// fdUse returns how many descriptors pid holds and its soft limit.
func fdUse(pid int) (n int, limit int64, err error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				limit, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return len(ents), limit, nil
}

// timeCLI runs a command b.repeat times and returns the median duration
// and the last output.
func (b *bench) timeCLI(d *runner.Daemon, args ...string) (time.Duration, string, error) {
	var ds []float64
	var out string
	for range b.repeat {
		t0 := time.Now()
		o, err := d.CLI(5*time.Minute, args...)
		if err != nil {
			return 0, "", err
		}
		ds = append(ds, time.Since(t0).Seconds())
		out = o
	}
	return time.Duration(runner.Median(ds) * float64(time.Second)), out, nil
}

// scale runs the main case: p.Conns websockets over p.Procs children.
func (b *bench) scale(ctx context.Context, p scale.Plan) {
	d, err := b.newScaleDaemon(p)
	if err != nil {
		b.fail("daemon config", err)
		return
	}
	defer d.Stop()
	if _, _, err := d.Start(); err != nil {
		b.fail("start the daemon", err)
		return
	}
	pids, err := waitChildren(d, p.Procs)
	if err != nil {
		b.fail("start the daemon", err)
		return
	}
	if _, _, err := d.Status(); err != nil { // the master's and children's pids, for the descriptor check
		b.fail("status", err)
		return
	}
	var children []int
	for _, pid := range pids {
		children = append(children, pid)
	}
	runner.SleepCtx(ctx, 2*time.Second)
	base, _, err := settledRSS(ctx, children, 5*time.Second)
	if err != nil {
		b.fail("RSS at start", err)
		return
	}
	_, port, _ := net.SplitHostPort(d.Addr)
	runner.Logf("daemon up: %d children; opening %d websockets", len(children), p.Conns)
	ticks := func() int64 {
		var sum int64
		for _, pid := range d.Pids {
			t, _ := proc.Ticks(pid)
			sum += t
		}
		return sum
	}
	t0 := ticks()
	ls, err := b.startLoaders(ctx, p, port, 3*time.Minute)
	defer stopLoaders(ls)
	if err != nil {
		b.fail("load processes", err)
		return
	}
	cpu := float64(ticks()-t0) / float64(proc.ClockTicks())
	var ok, failed int
	var first, last time.Time
	var loadTicks int64
	for _, l := range ls {
		loadTicks += l.ticks
		ok += l.ok
		failed += l.fail
		if first.IsZero() || l.start.Before(first) {
			first = l.start
		}
		if l.end.After(last) {
			last = l.end
		}
		if l.firstErr != "" {
			runner.Logf("a load process's first error: %s", l.firstErr)
		}
	}
	span := last.Sub(first)
	rate := float64(ok) / span.Seconds()
	runner.Logf("%d websockets open (%d failed) in %.1f s: %.0f/s", ok, failed, span.Seconds(), rate)
	b.addGoal("websockets open at once", fmt.Sprintf("%d of %d (%d failed)", ok, p.Conns, failed), "all", ok == p.Conns)
	b.addGoal("setup rate, whole daemon (connections/s)", fmt.Sprintf("%.0f (%.1f s)", rate, span.Seconds()), "≥ 10000", rate >= 10000)
	// The rate depends on what else the cores run (the load processes, and
	// other tenants); the daemon's own CPU per connection does not.
	if ok > 0 {
		b.add("daemon CPU per connection set up (µs; master and children)", fmt.Sprintf("%.1f", cpu*1e6/float64(ok)), "", nil)
		b.add("setup rate the daemon's CPU allows on all cores (connections/s)",
			fmt.Sprintf("%.0f", float64(ok)/cpu*float64(b.lim.CPUs)), "", nil)
		b.add("load processes' CPU per connection (µs)",
			fmt.Sprintf("%.1f", float64(loadTicks)/float64(proc.ClockTicks())*1e6/float64(ok)), "", nil)
	}

	// Memory first: the status and connections commands below make
	// garbage of their own.
	rss, waited, err := settledRSS(ctx, children, b.settle)
	if err != nil {
		b.fail("RSS with the connections", err)
		return
	}
	s, err := readStatus(d)
	if err != nil {
		b.fail("status", err)
		return
	}
	var per []float64
	total, pauses := 0, uint64(0)
	for _, pr := range s.Processes {
		total += pr.Connections
		pauses += pr.AcceptPauses
		if pr.Connections > 0 {
			per = append(per, float64(rss[pr.Pid]-base[pr.Pid])*1024/float64(pr.Connections))
		}
	}
	slices.Sort(per)
	if len(per) == 0 {
		b.fail("RSS per connection", errors.New("no child holds a connection"))
		return
	}
	med, worst := runner.Median(per), per[len(per)-1]
	runner.Logf("RSS per connection, settled after %.0f s: median %.0f B, largest %.0f B over %d children", waited.Seconds(), med, worst, len(per))
	b.addGoal("connections in status after settling", strconv.Itoa(total), strconv.Itoa(ok), total == ok)
	b.addGoal(fmt.Sprintf("child RSS per idle websocket, median of %d children (bytes)", len(per)), fmt.Sprintf("%.0f", med), "≤ 1024", med <= 1024)
	b.add("child RSS per idle websocket, largest child (bytes)", fmt.Sprintf("%.0f", worst), "", nil)
	b.add("wait for memory to settle (s)", fmt.Sprintf("%.0f", waited.Seconds()), "", nil)

	// Descriptors: every process of the daemon under its limit.
	all := append([]int{}, d.Pids...)
	worstFD := 0.0
	var worstDesc string
	for _, pid := range all {
		n, limit, err := fdUse(pid)
		if err != nil || limit <= 0 {
			continue
		}
		if f := float64(n) / float64(limit); f > worstFD {
			worstFD, worstDesc = f, fmt.Sprintf("%d of %d (pid %d)", n, limit, pid)
		}
	}
	b.addGoal("most descriptors a daemon process holds, of its limit", worstDesc, "< limit", worstFD < 1)
	b.add("accept pauses for lack of descriptors (all children)", strconv.FormatUint(pauses, 10), "", nil)

	for _, c := range []struct {
		args  []string
		label string
		goal  time.Duration
	}{
		{[]string{"status"}, "`status`", time.Second},
		{[]string{"status", "--json"}, "`status --json`", time.Second},
		{[]string{"connections", "--json"}, "`connections --json`", 10 * time.Second},
	} {
		took, out, err := b.timeCLI(d, c.args...)
		if err != nil {
			b.fail(strings.Join(c.args, " "), err)
			continue
		}
		label := fmt.Sprintf("%s with all open, median of %d (s)", c.label, b.repeat)
		if c.args[0] == "connections" {
			var rows []json.RawMessage
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				b.fail("decode connections --json", err)
				continue
			}
			label = fmt.Sprintf("%s (%d rows, %.1f MB) with all open, median of %d (s)", c.label, len(rows), float64(len(out))/1e6, b.repeat)
			if len(rows) != ok {
				b.fail("connections --json", fmt.Errorf("%d rows, want %d", len(rows), ok))
			}
		}
		runner.Logf("%s: %.3f s", strings.Join(c.args, " "), took.Seconds())
		b.addGoal(label, fmt.Sprintf("%.3f", took.Seconds()), fmt.Sprintf("< %.0f", c.goal.Seconds()), took < c.goal)
	}
}

// comparison holds b.compare websockets in one daemon child, then in
// gnet's minimal websocket server, and reports the memory each costs.
func (b *bench) comparison(ctx context.Context) {
	p, err := scale.MakePlan(b.compare, b.lim, 1, 1)
	if err != nil {
		b.fail("comparison", err)
		return
	}
	setupCPU := map[string]float64{}
	measure := func(name string, pid int, addr string) (float64, error) {
		runner.SleepCtx(ctx, 2*time.Second)
		base, _, err := settledRSS(ctx, []int{pid}, 5*time.Second)
		if err != nil {
			return 0, err
		}
		_, port, _ := net.SplitHostPort(addr)
		t0, _ := proc.Ticks(pid)
		ls, err := b.startLoaders(ctx, p, port, time.Minute)
		defer stopLoaders(ls)
		if err != nil {
			return 0, err
		}
		t1, _ := proc.Ticks(pid)
		setupCPU[name] = float64(t1-t0) / float64(proc.ClockTicks()) * 1e6 / float64(b.compare)
		if ls[0].ok != b.compare {
			return 0, fmt.Errorf("%d of %d connections opened: %s", ls[0].ok, b.compare, ls[0].firstErr)
		}
		rss, waited, err := settledRSS(ctx, []int{pid}, b.settle)
		if err != nil {
			return 0, err
		}
		per := float64(rss[pid]-base[pid]) * 1024 / float64(b.compare)
		runner.Logf("%s: RSS %.1f → %.1f MiB with %d websockets, settled after %.0f s: %.0f B each",
			name, float64(base[pid])/1024, float64(rss[pid])/1024, b.compare, waited.Seconds(), per)
		return per, nil
	}

	var wm, gn float64
	func() {
		d, err := runner.NewDaemon(b.workermand, "scalebench", runner.DaemonConfig{LogFiles: true,
			Worker: "[[worker]]\nname = \"ws\"\nlisten = \"websocket://{addr}\"\nhandler = \"echo\"\ncount = 1\n"})
		if err != nil {
			b.fail("comparison daemon", err)
			return
		}
		defer d.Stop()
		if _, _, err := d.Start(); err != nil {
			b.fail("comparison daemon", err)
			return
		}
		pids, err := waitChildren(d, 1)
		if err != nil {
			b.fail("comparison daemon", err)
			return
		}
		if wm, err = measure("workermand child", pids["ws"], d.Addr); err != nil {
			b.fail("comparison: workermand", err)
		}
	}()
	func() {
		s, err := runner.Launch("gnet", 1, func(addr string) ([]string, []string, error) {
			return []string{b.self, "wsgnet", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
		})
		if err != nil {
			b.fail("comparison: start gnet", err)
			return
		}
		defer s.Stop()
		if gn, err = measure("gnet", s.Pid(), s.Addr); err != nil {
			b.fail("comparison: gnet", err)
		}
	}()
	if wm > 0 {
		b.add(fmt.Sprintf("%d idle websockets in one child: RSS each (bytes)", b.compare), fmt.Sprintf("%.0f", wm), "", nil)
	}
	if gn > 0 {
		b.add(fmt.Sprintf("%d idle websockets in gnet's minimal server: RSS each (bytes)", b.compare), fmt.Sprintf("%.0f", gn), "", nil)
	}
	if wm > 0 && gn > 0 {
		b.add("workermand / gnet", fmt.Sprintf("%.2f", wm/gn), "", nil)
	}
	// Setting the connections up, in the same run: the server's CPU per
	// connection (accept, handshake, one echo).
	w, g := setupCPU["workermand child"], setupCPU["gnet"]
	if w > 0 {
		b.add(fmt.Sprintf("setting up %d websockets, one child: CPU each (µs)", b.compare), fmt.Sprintf("%.1f", w), "", nil)
	}
	if g > 0 {
		b.add(fmt.Sprintf("setting up %d websockets, gnet: CPU each (µs)", b.compare), fmt.Sprintf("%.1f", g), "", nil)
	}
	if w > 0 && g > 0 {
		b.add("workermand / gnet", fmt.Sprintf("%.2f", w/g), "", nil)
	}
}

func (b *bench) report(p scale.Plan) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "scalebench: %v.\n", p)
	fmt.Fprintf(&sb, "Limits: %d open files per process, local ports %d–%d, %d cores; %s.\n\n", b.lim.NoFile, b.lim.PortLo, b.lim.PortHi, b.lim.CPUs, runner.Machine())
	runner.Row(&sb, []string{"metric", "value", "goal", "met"})
	runner.Row(&sb, []string{"---", "---:", "---:", "---"})
	for _, r := range b.rows {
		met := ""
		if r.met != nil {
			met = "yes"
			if !*r.met {
				met = "**no**"
			}
		}
		runner.Row(&sb, []string{r.label, r.value, r.goal, met})
	}
	return sb.String()
}
