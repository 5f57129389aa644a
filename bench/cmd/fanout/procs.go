package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/fanout"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/scale"
	"github.com/workermand/workermand/bench/internal/wsload"
)

// The processes mode (-procs N): one broadcast reaching -conns websockets
// held by N processes of the stock broadcast handler, through a Channel
// backend (redis-server or nats-server started here on loopback). The
// daemon runs one worker per loopback destination address 127.0.0.k, one
// process each, all subscribed to one topic, as scalebench lays out its
// 100,000 connections (internal/scale); the client processes open their
// share over the destinations in turn, from source addresses of their
// own. A broadcast: the trigger (a connection to the first process)
// sends the message, that process publishes it, and every process sends
// it to its own clients. There is no gnet peer: gnet has no bus between
// processes.

// procsRun is one run of the processes mode.
type procsRun struct {
	options
	self    string
	plan    scale.Plan
	backend *runner.Server
	url     string
	d       *runner.Daemon
	port    string
	loads   []*client
	trig    net.Conn
	trigR   *bufio.Reader
	seq     uint64
	buf     []byte
	perPid  map[int]int // connections of each child, by pid
	pids    []int       // children in worker order
	// per round
	lasts, cpus, masterCPU, rates []float64
	misses                        int
	backendTicks                  int64 // ns over all rounds
	measured                      int   // broadcasts in rounds
	measuredWall                  float64
	backendIdlePct                float64
	missedBy                      []int // by destination
	incomplete                    int   // broadcasts some client missed
	failures                      []string
}

func runProcs(ctx context.Context, o options) (bool, error) {
	self, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("own executable: %w", err)
	}
	if o.Workermand, err = runner.WorkermandBin(o.Workermand); err != nil {
		return false, err
	}
	lim, p, err := scale.PlanHere(o.conns, o.procs, o.loaders)
	if err != nil {
		return false, err
	}
	r := &procsRun{options: o, self: self, plan: p, missedBy: make([]int, p.Procs)}
	defer r.close()
	if err := r.open(ctx, lim); err != nil {
		return false, err
	}
	for range o.warm {
		if _, err := r.broadcast(ctx); err != nil {
			return false, fmt.Errorf("warm-up: %w", err)
		}
	}
	if err := r.backendIdle(ctx); err != nil {
		return false, err
	}
	for i := range o.Rounds {
		if ctx.Err() != nil {
			return false, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		if err := r.round(ctx); err != nil {
			r.failures = append(r.failures, err.Error())
			runner.Logf("round %d/%d: FAILED: %v", i+1, o.Rounds, err)
		}
	}
	if err := runner.Report(r.report(), o.Out); err != nil {
		return false, err
	}
	return len(r.failures) == 0 && r.misses == 0, nil
}

// open starts the backend, the daemon, the client processes and the
// trigger.
func (r *procsRun) open(ctx context.Context, lim scale.Limits) error {
	var err error
	if r.backend, r.url, err = runner.StartChannelBackend(r.channel); err != nil {
		return err
	}
	if r.d, err = runner.NewDaemon(r.Workermand, "fanout", runner.DaemonConfig{Count: 1, LogFiles: true}); err != nil {
		return err
	}
	_, r.port, _ = net.SplitHostPort(r.d.Addr)
	var sb strings.Builder
	fmt.Fprintf(&sb, "pid_file = %q\ncontrol_socket = %q\nlog_file = %q\nstdout_file = %q\n",
		r.d.Dir+"/workermand.pid", r.d.Dir+"/workermand.sock", r.d.Dir+"/workermand.log", r.d.Dir+"/stdout.log")
	for i, dst := range r.plan.Dests {
		fmt.Fprintf(&sb, "\n[[worker]]\nname = \"room%d\"\nlisten = \"websocket://%s:%s\"\nhandler = \"broadcast\"\ncount = 1\n"+
			"[worker.options]\nchannel = %q\ntopic = \"fanout\"\n", i+1, dst, r.port, r.url)
	}
	if err := os.WriteFile(r.d.Config, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	if _, _, err := r.d.Start(); err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	if err := r.waitChildren(ctx, func(n int) bool { return n == r.plan.Procs }, 30*time.Second); err != nil {
		return err
	}
	var targets []string
	for _, d := range r.plan.Dests {
		targets = append(targets, d+":"+r.port)
	}
	began := time.Now()
	for j := range r.plan.Loaders {
		n := min(r.plan.PerLoad, r.conns-j*r.plan.PerLoad)
		if n <= 0 {
			break
		}
		c, err := startClient(ctx, -1, []string{r.self, "fanoutload", "-targets", strings.Join(targets, ","),
			"-sources", strings.Join(r.plan.LoaderSources(j), ","), "-ports", fmt.Sprintf("%d-%d", lim.PortLo, lim.PortHi),
			"-conns", strconv.Itoa(n), "-size", strconv.Itoa(r.size), "-allow-gaps"}, n)
		if err != nil {
			return err
		}
		r.loads = append(r.loads, c)
	}
	for _, c := range r.loads {
		line, err := c.next(ctx, 3*time.Minute)
		if err != nil || line != fmt.Sprintf("READY %d", c.conns) {
			return fmt.Errorf("client process: %q, %v: %s", line, err, c.out)
		}
	}
	if r.trig, err = wsload.Dial(r.d.Addr, 10*time.Second); err != nil {
		return fmt.Errorf("trigger: %w", err)
	}
	r.trigR = bufio.NewReaderSize(r.trig, 256)
	runner.Logf("%d connections + the trigger open in %s", r.conns, time.Since(began).Round(time.Millisecond))
	// Every child must hold its share before the first broadcast counts.
	total := 0
	err = r.waitChildren(ctx, func(n int) bool {
		total = 0
		for _, c := range r.perPid {
			total += c
		}
		return total == r.conns+1
	}, 30*time.Second)
	if err != nil {
		return fmt.Errorf("the children hold %d connections, not %d: %w", total, r.conns+1, err)
	}
	return nil
}

// waitChildren reads `status --json` until done(children) holds.
func (r *procsRun) waitChildren(ctx context.Context, done func(children int) bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		s, _, err := r.d.Status()
		if err == nil {
			r.perPid = map[int]int{}
			r.pids = r.pids[:0]
			for _, p := range s.Processes {
				r.perPid[p.Pid] = p.Connections
				r.pids = append(r.pids, p.Pid)
			}
			if done(len(s.Processes)) {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("daemon not ready within %s (%v)", within, err)
		}
		runner.SleepCtx(ctx, 200*time.Millisecond)
	}
}

// broadcast sends the next message through the trigger and returns the
// time from its write until the last client had it; a client that has not
// had it within -deliver-within counts as a miss (and the time as -1).
func (r *procsRun) broadcast(ctx context.Context) (time.Duration, error) {
	r.seq++
	p := fanout.Payload(r.seq, r.size)
	var key [4]byte
	_, _ = rand.Read(key[:])
	frame := wsload.AppendFrame(nil, wsload.OpText, p, key)
	t0 := fanout.Mono()
	if _, err := r.trig.Write(frame); err != nil {
		return 0, fmt.Errorf("trigger write: %w", err)
	}
	last, missed := t0, 0
	deadline := time.Now().Add(r.deliverWithin)
	for _, c := range r.loads {
		line, err := c.nextOf(ctx, r.seq, deadline)
		if errors.Is(err, errNoWord) {
			// Late: ask for the count so far.
			if _, err := fmt.Fprintf(c.stdin, "COUNT %d\n", r.seq); err != nil {
				return 0, fmt.Errorf("broadcast %d: ask the client process: %w", r.seq, err)
			}
			for {
				line, err = c.next(ctx, 10*time.Second)
				if err != nil || !strings.HasPrefix(line, "GOT ") {
					break
				}
			}
			f := strings.Fields(line)
			if err != nil || len(f) != 3+len(r.plan.Dests) || f[0] != "COUNT" || f[1] != strconv.FormatUint(r.seq, 10) {
				return 0, fmt.Errorf("broadcast %d: client process said %q (%v): %s", r.seq, line, err, c.out)
			}
			got, _ := strconv.Atoi(f[2])
			missed += c.conns - got
			// The client's connections go to the destinations in turn.
			for k := range r.plan.Dests {
				g, _ := strconv.Atoi(f[3+k])
				want := c.conns / len(r.plan.Dests)
				if k < c.conns%len(r.plan.Dests) {
					want++
				}
				r.missedBy[k] += want - g
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("broadcast %d: %w: %s", r.seq, err, c.out)
		}
		at, err := gotAt(line, r.seq)
		if err != nil {
			return 0, err
		}
		last = max(last, at)
	}
	buf, err := checkTriggerCopy(r.trig, r.trigR, r.buf, p, r.seq)
	r.buf = buf
	if err != nil {
		return 0, err
	}
	if missed > 0 {
		r.misses += missed
		r.incomplete++
		runner.Logf("broadcast %d: %d client(s) without it after %s", r.seq, missed, r.deliverWithin)
		return -1, nil
	}
	return time.Duration(last - t0), nil
}

// backendIdle reads the backend's CPU over 3 quiet seconds: its own
// timers' share of the figure per broadcast.
func (r *procsRun) backendIdle(ctx context.Context) error {
	t0, err := ticks(r.backend.Pid())
	if err != nil {
		return err
	}
	began := time.Now()
	runner.SleepCtx(ctx, 3*time.Second)
	t1, err := ticks(r.backend.Pid())
	if err != nil {
		return err
	}
	r.backendIdlePct = 100 * float64(t1-t0) / 1e9 / time.Since(began).Seconds()
	return nil
}

// nextOf is the client's next line but a GOT of an earlier broadcast (one
// that came after it was counted as missed), by deadline.
func (c *client) nextOf(ctx context.Context, seq uint64, deadline time.Time) (string, error) {
	for {
		line, err := c.next(ctx, max(time.Until(deadline), time.Millisecond))
		var old uint64
		if err == nil && strings.HasPrefix(line, "GOT ") {
			if _, serr := fmt.Sscanf(line, "GOT %d", &old); serr == nil && old < seq {
				continue
			}
		}
		return line, err
	}
}

// ticks sums the CPU time of pids, each alone (the master's children are
// read on their own), in nanoseconds: the run time the scheduler keeps
// per thread (/proc/PID/task/*/schedstat), as a broadcast costs the
// backend well under the 10 ms tick of /proc/PID/stat.
func ticks(pids ...int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return 0, fmt.Errorf("threads of %d: %w", pid, err)
		}
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue // the thread ended
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("schedstat of %d/%s: %q", pid, t.Name(), b)
			}
			sum += ns
		}
	}
	return sum, nil
}

// round runs -sends broadcasts and reads the children's, the master's and
// the backend's CPU time around them.
func (r *procsRun) round(ctx context.Context) error {
	master := r.d.Pids[0]
	read := func() (children, m, backend int64, err error) {
		if children, err = ticks(r.pids...); err != nil {
			return
		}
		if m, err = ticks(master); err != nil {
			return
		}
		backend, err = ticks(r.backend.Pid())
		return
	}
	c0, m0, b0, err := read()
	if err != nil {
		return err
	}
	began := time.Now()
	var lasts []float64
	for range r.sends {
		d, err := r.broadcast(ctx)
		if err != nil {
			return err
		}
		if d >= 0 {
			lasts = append(lasts, d.Seconds()*1e3)
		}
	}
	wall := time.Since(began).Seconds()
	c1, m1, b1, err := read()
	if err != nil {
		return err
	}
	deliveries := float64(r.sends * (r.conns + 1))
	sec := func(t int64) float64 { return float64(t) / 1e9 }
	r.cpus = append(r.cpus, sec(c1-c0)*1e6/deliveries)
	r.masterCPU = append(r.masterCPU, sec(m1-m0)*1e6/deliveries)
	r.backendTicks += b1 - b0
	r.measured += r.sends
	r.measuredWall += wall
	r.rates = append(r.rates, deliveries/wall)
	if len(lasts) > 0 {
		r.lasts = append(r.lasts, runner.Median(lasts))
	}
	runner.Logf("%d broadcasts to %d: children %.3f µs/delivery, backend %.0f µs/broadcast, last client median %.2f ms, max %.2f ms",
		r.sends, r.conns+1, sec(c1-c0)*1e6/deliveries, sec(b1-b0)*1e6/float64(r.sends), runner.Median(lasts), maxOf(lasts))
	return nil
}

func (r *procsRun) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nMedians of %d round(s) of %d broadcasts: %d-byte text message to %d client connections + the trigger, over %d processes of the stock broadcast handler (127.0.0.1–%d) through %s; %d client processes; no gnet peer (gnet has no bus between processes).\n",
		r.Rounds, r.sends, r.size, r.conns, r.plan.Procs, r.plan.Procs, r.url[:strings.Index(r.url, ":")]+"-server", r.plan.Loaders)
	fmt.Fprintf(&sb, "%s.\n\n", runner.Machine())
	sb.WriteString("| metric | value |\n| --- | ---: |\n")
	row := func(label, v string) { fmt.Fprintf(&sb, "| %s | %s |\n", label, v) }
	row("**last client has it, median (ms)**", fmtMedian("%.2f", r.lasts))
	row("**server CPU per delivered message, all children (µs)**", fmtMedian("%.3f", r.cpus))
	row("master CPU per delivered message (µs)", fmtMedian("%.3f", r.masterCPU))
	if r.measured > 0 {
		bsec := float64(r.backendTicks) / 1e9
		net := bsec - r.backendIdlePct/100*r.measuredWall // less what its timers take when idle
		row(r.channel+"-server CPU per broadcast over all rounds, all and above its idle (µs)",
			fmt.Sprintf("%.0f, %.0f", bsec*1e6/float64(r.measured), net*1e6/float64(r.measured)))
		row(r.channel+"-server CPU busy while broadcasting, and idle (%)", fmt.Sprintf("%.1f, %.1f", 100*bsec/r.measuredWall, r.backendIdlePct))
	}
	row("deliveries/s while broadcasting", fmtMedian("%.0f", r.rates))
	var per []string
	for _, pid := range r.pids {
		per = append(per, strconv.Itoa(r.perPid[pid]))
	}
	row("deliveries per broadcast, by process", strings.Join(per, " / "))
	var missed []string
	for _, m := range r.missedBy {
		missed = append(missed, strconv.Itoa(m))
	}
	row(fmt.Sprintf("missed deliveries (not there after %s), by process", r.deliverWithin),
		fmt.Sprintf("%d in %d of %d broadcasts (%s)", r.misses, r.incomplete, int(r.seq), strings.Join(missed, " / ")))
	row("failed rounds", strconv.Itoa(len(r.failures)))
	return sb.String()
}

func fmtMedian(format string, xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf(format, runner.Median(xs))
}

// close ends the trigger, the client processes, the daemon and the
// backend.
func (r *procsRun) close() {
	(&room{trig: r.trig, loads: r.loads}).closeClients()
	if r.d != nil {
		r.d.Stop()
	}
	if r.backend != nil {
		r.backend.Stop()
	}
}
