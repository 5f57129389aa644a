package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wrkRun is a wrk process running in the background until stopped.
type wrkRun struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan error
}

// startWrk starts wrk with args for at most max (its -d); stop ends it
// earlier.
func startWrk(t *testing.T, max time.Duration, args ...string) *wrkRun {
	t.Helper()
	bin := needTool(t, "wrk")
	ctx, cancel := context.WithTimeout(context.Background(), max+30*time.Second)
	t.Cleanup(cancel)
	w := &wrkRun{done: make(chan error, 1)}
	w.cmd = exec.CommandContext(ctx, bin, append([]string{"-d", fmt.Sprintf("%ds", int(max.Seconds()))}, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.err
	w.cmd.WaitDelay = 5 * time.Second
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("wrk: %v", err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

// stop interrupts wrk, which then prints its report as at the end of its
// duration, and parses that report.
func (w *wrkRun) stop(t *testing.T) wrkStats {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("wrk: %v\nstdout: %s\nstderr: %s", err, w.out.String(), w.err.String())
		}
	case <-time.After(slow(15 * time.Second)):
		t.Fatalf("wrk did not stop within %s of SIGINT", slow(15*time.Second))
	}
	s, err := parseWrk(w.out.String())
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, w.err.String())
	}
	return s
}

// reloadsUnderWrk runs 10 reloads (args: reload or reload -g), ~300 ms
// apart, while wrk -c200 keeps keep-alive connections busy against
// worker name (count processes) at path, and returns wrk's report. Every
// reload must exit 0 and replace every process with a newer generation.
func reloadsUnderWrk(t *testing.T, d *daemon, name string, count int, path string, args ...string) wrkStats {
	t.Helper()
	st := d.waitReady(name, count)
	master := st.Master.PID
	// No retries in wrk: a request lost on a reload is a socket error or
	// a missing response. The 10 s timeout keeps a slow response under a
	// loaded race-built daemon from counting as a failure; none may be lost.
	w := startWrk(t, 60*time.Second, "-t1", "-c200", "--timeout", "10s", "http://"+st.addr(name)+path)
	// The reloads start once every connection of wrk is open and requests
	// flow, so that they meet connections in use.
	waitFor(t, slow(10*time.Second), "wrk's 200 connections open and served", func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		conns, reqs := 0, uint64(0)
		for _, p := range s.procs(name) {
			conns += p.Connections
			reqs += p.TotalRequest
		}
		return conns >= 200 && reqs > 0, fmt.Sprintf("%d connections, %d requests", conns, reqs)
	})
	pids := st.pids()
	gen := slices.MaxFunc(st.procs(name), func(a, b procDoc) int { return a.Generation - b.Generation }).Generation
	var slowest time.Duration
	for i := range 10 {
		r := d.mustRun(0, args...)
		slowest = max(slowest, r.took)
		next := d.waitReplaced(name, count, pids, master)
		for _, p := range next.procs(name) {
			if p.Generation <= gen {
				t.Errorf("reload %d: process %d has generation %d, not above the previous %d", i, p.PID, p.Generation, gen)
			}
		}
		gen = slices.MaxFunc(next.procs(name), func(a, b procDoc) int { return a.Generation - b.Generation }).Generation
		pids = next.pids()
		time.Sleep(300 * time.Millisecond) // the pace: requests flow between reloads
	}
	time.Sleep(300 * time.Millisecond) // and after the last one
	s := w.stop(t)
	t.Logf("%s under wrk -c200: %s; slowest reload %s", strings.Join(args, " "), s, slowest.Round(time.Millisecond))
	if s.failed() {
		t.Logf("hand-over in the daemon's log: %s", handoverSummary(d.logFile))
	}
	return s
}

var (
	logCountRE   = regexp.MustCompile(`"count": (\d+)`)
	logPIDRE     = regexp.MustCompile(`\{"pid": (\d+)`)
	logFromPIDRE = regexp.MustCompile(`"from_pid": (\d+)`)
)

// handoverSummary sums the connections the daemon's log says were handed
// over, passed on and adopted, names the retiring children whose
// connections the master did not all pass on, and quotes the log's
// warnings and errors: what to look at when a reload lost requests.
func handoverSummary(logFile string) string {
	data, _ := os.ReadFile(logFile)
	var over, passed, adopted int
	lost := map[string]int{} // retiring child's pid → handed over − passed on
	var problems []string
	num := func(re *regexp.Regexp, line string) (string, int) {
		m := re.FindStringSubmatch(line)
		if m == nil {
			return "", 0
		}
		n, _ := strconv.Atoi(m[1])
		return m[1], n
	}
	for _, line := range strings.Split(string(data), "\n") {
		_, n := num(logCountRE, line)
		switch {
		case strings.Contains(line, "connections handed over"):
			over += n
			pid, _ := num(logPIDRE, line)
			lost[pid] += n
		case strings.Contains(line, "connections passed on"):
			passed += n
			pid, _ := num(logFromPIDRE, line)
			lost[pid] -= n
		case strings.Contains(line, "connections adopted"):
			adopted += n
		}
		if (strings.Contains(line, "\tWARN\t") || strings.Contains(line, "\tERROR\t")) && len(problems) < 20 {
			problems = append(problems, line)
		}
	}
	var short, story []string
	for pid, n := range lost {
		if n == 0 {
			continue
		}
		short = append(short, fmt.Sprintf("child %s: %d not passed on", pid, n))
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, " "+pid+",") || strings.Contains(line, " "+pid+"}") {
				story = append(story, line)
			}
		}
	}
	slices.Sort(short)
	return fmt.Sprintf("handed over %d, passed on %d, adopted %d; %v; warnings and errors:\n%s\nthe log about those children:\n%s",
		over, passed, adopted, short, strings.Join(problems, "\n"), strings.Join(story, "\n"))
}

// The goal: keep-alive clients that never retry (wrk) see no
// failed request and no socket error across 10 reloads of a respond
// worker, plain and graceful, with one shared socket or a socket per slot
// (reuse_port). The retiring children answer what they read and hand
// their idle keep-alive connections to their replacements.
func TestHTTPReloadUnderWrk(t *testing.T) {
	t.Parallel()
	needTool(t, "wrk")
	for _, reusePort := range []bool{false, true} {
		for _, args := range [][]string{{"reload"}, {"reload", "-g"}} {
			name := "shared"
			if reusePort {
				name = "reuse_port"
			}
			name += "/" + strings.Join(args, "_")
			// Sequential: each run saturates the CPUs with wrk -c200.
			t.Run(name, func(t *testing.T) {
				d := newDaemon(t, stockBin)
				d.writeConfig(respondWorker("hello", 2, fmt.Sprintf("reuse_port = %v", reusePort)))
				d.start()
				s := reloadsUnderWrk(t, d, "hello", 2, "/", args...)
				if s.requests == 0 || s.failed() {
					t.Errorf("%s: %s\n%s", strings.Join(args, " "), s, s.report)
				}
			})
		}
	}
}

// In-flight requests survive a reload: test/httpd's async handler answers
// 50 ms later from a goroutine, so every retiring child holds requests
// read but not yet answered; it must answer them before it goes.
func TestHTTPReloadAsyncInFlight(t *testing.T) {
	t.Parallel()
	needTool(t, "wrk")
	for _, args := range [][]string{{"reload"}, {"reload", "-g"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			d := newDaemon(t, httpdBin)
			d.writeConfig(worker("slow", "http://127.0.0.1:0", "async", 2))
			d.start()
			s := reloadsUnderWrk(t, d, "slow", 2, "/?ms=50", args...)
			if s.requests == 0 || s.failed() {
				t.Errorf("%s: %s\n%s", strings.Join(args, " "), s, s.report)
			}
		})
	}
}
