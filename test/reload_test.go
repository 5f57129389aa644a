package test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loadGen is a load generator: each goroutine calls once in a loop (each
// call a request on a new connection) until halt, counting what succeeds
// and what fails.
type loadGen struct {
	ok, failed atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup

	mu   sync.Mutex
	errs []string
}

// startLoad loops dial, send a line, read its echo, close.
func startLoad(addr string, goroutines int) *loadGen {
	return startLoadOf(goroutines, func(n, i int) error {
		return echoOnce(addr, fmt.Sprintf("g%d req %d", n, i))
	})
}

// startLoadOf runs once(goroutine, request) in goroutines loops.
func startLoadOf(goroutines int, once func(n, i int) error) *loadGen {
	g := &loadGen{stop: make(chan struct{})}
	for n := range goroutines {
		g.wg.Go(func() {
			for i := range 1_000_000 { // bounded; halt ends it long before
				select {
				case <-g.stop:
					return
				default:
				}
				if err := once(n, i); err != nil {
					g.failed.Add(1)
					g.mu.Lock()
					if len(g.errs) < 10 {
						g.errs = append(g.errs, err.Error())
					}
					g.mu.Unlock()
					continue
				}
				g.ok.Add(1)
			}
		})
	}
	return g
}

// waitOK waits until n more requests than now succeeded.
func (g *loadGen) waitOK(t *testing.T, n int64) {
	t.Helper()
	target := g.ok.Load() + n
	waitFor(t, slow(10*time.Second), fmt.Sprintf("%d more requests answered", n), func() (bool, string) {
		return g.ok.Load() >= target, fmt.Sprintf("%d ok, %d failed", g.ok.Load(), g.failed.Load())
	})
}

func (g *loadGen) halt() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
}

// waitReplaced polls status until worker name has count idle processes, none
// of them in old, under the same master; it returns that status.
func (d *daemon) waitReplaced(name string, count int, old []int, master int) *statusDoc {
	d.t.Helper()
	var st *statusDoc
	waitFor(d.t, slow(10*time.Second), fmt.Sprintf("%d new processes of %s", count, name), func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		if s.Master.PID != master {
			d.t.Fatalf("master pid changed from %d to %d", master, s.Master.PID)
		}
		ps := s.procs(name)
		if len(ps) != count {
			return false, fmt.Sprintf("%+v", ps)
		}
		for i, p := range ps {
			if p.ID != i || p.Status != "idle" || slices.Contains(old, p.PID) {
				return false, fmt.Sprintf("%+v", ps)
			}
		}
		st = s
		return true, ""
	})
	return st
}

// 10 reloads while a load generator opens a new connection per request:
// no request fails, every reload replaces every child, the master stays.
// With one shared socket and with a reuse_port socket per slot.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	for _, reusePort := range []bool{false, true} {
		name := "shared"
		if reusePort {
			name = "reuse_port"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, stockBin)
			d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2, "reuse_port = "+strconv.FormatBool(reusePort)))
			d.start()
			st := d.waitReady("echo", 2)
			master := st.Master.PID
			first := st.pids()
			load := startLoad(st.addr("echo"), 4)
			defer load.halt()
			load.waitOK(t, 50)
			pids := first
			var slowest time.Duration
			for i := range 10 {
				r := d.mustRun(0, "reload")
				if !strings.Contains(r.out, "workermand reloaded") {
					t.Errorf("reload %d said %q", i, r.out)
				}
				slowest = max(slowest, r.took)
				pids = d.waitReplaced("echo", 2, pids, master).pids()
				load.waitOK(t, 20)
			}
			load.waitOK(t, 50)
			load.halt()
			t.Logf("%s: %d requests answered, %d failed during 10 reloads; slowest reload %s",
				name, load.ok.Load(), load.failed.Load(), slowest.Round(time.Millisecond))
			if n := load.failed.Load(); n != 0 {
				t.Errorf("%d requests failed during the reloads; first errors: %v", n, load.errs)
			}
			if both := intersect(first, pids); len(both) > 0 {
				t.Errorf("children %v survived 10 reloads", both)
			}
			st = d.mustStatus()
			if st.Master.PID != master || d.pidFromFile() != master {
				t.Errorf("master pid %d (pid file %d), was %d", st.Master.PID, d.pidFromFile(), master)
			}
			if ps := st.procs("echo"); len(ps) != 2 || ps[0].Generation < 21 {
				t.Errorf("after 10 reloads: %+v, want 2 processes of generation ≥ 21", ps)
			}
			if es := st.worker("echo").ExitStatus; len(es) != 1 || es["exit 0"] != 20 {
				t.Errorf("exit_status after 10 reloads of 2 children: %v, want {\"exit 0\": 20}", es)
			}
		})
	}
}

// lineOf is the 1-based line of the first line of path containing s.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", s, path)
	return 0
}

// A reload with a broken config exits 2 with the file:line message and
// changes nothing: the old children keep serving. Once the file is fixed,
// reload works. Runtime paths cannot change on reload.
func TestReloadBadConfigKeepsServing(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	good := worker("echo", "text://127.0.0.1:0", "echo", 2)
	d.writeConfig(good)
	d.start()
	st := d.waitReady("echo", 2)
	addr := st.addr("echo")
	c := dial(t, addr)
	c.mustEcho(t, "before")

	for _, bad := range []struct {
		name   string
		extra  string
		marker string
		want   string
	}{
		{"unknown key", "cuont = 3", "cuont", `worker[0].cuont: unknown key (did you mean "count"?)`},
		{"syntax", "listen2 = \"oops", "listen2", "strings cannot contain newlines"},
		{"type", "max_package_size = \"big\"", "max_package_size", "worker[0].max_package_size: must be an integer"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			d := d.in(t)
			d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2, bad.extra))
			line := lineOf(t, d.cfg, bad.marker)
			r := d.run("reload")
			prefix := fmt.Sprintf("%s:%d:", d.cfg, line)
			if r.code != 2 || !strings.Contains(r.err, prefix) || !strings.Contains(r.err, bad.want) {
				t.Errorf("%s\nwant exit 2 with %q and %q", r, prefix, bad.want)
			}
			// The control verbs still reach the master through the broken
			// file's pid_file and control_socket, with a warning.
			rs := d.run("status")
			if rs.code != 0 || !strings.Contains(rs.err, "warning: "+d.cfg+" has errors") {
				t.Errorf("%s\nwant exit 0 and a warning about the file", rs)
			}
			s := d.mustStatus()
			if !slices.Equal(s.pids(), st.pids()) {
				t.Errorf("children changed by a refused reload: %v, were %v", s.pids(), st.pids())
			}
			c.mustEcho(t, "still served")
			if err := echoOnce(addr, "new connection"); err != nil {
				t.Error(err)
			}
		})
	}

	// pid_file cannot change live. The CLI finds the master through the
	// file, so with a new pid_file in it `reload` cannot reach the master
	// (it reports it not running); the master refuses such a reload asked by
	// SIGUSR1, and says why in its log.
	t.Run("pid_file change", func(t *testing.T) {
		d := d.in(t)
		saved := d.globals["pid_file"]
		d.globals["pid_file"] = strconv.Quote(d.pidFile + ".new")
		d.writeConfig(good)
		d.globals["pid_file"] = saved
		r := d.run("reload")
		if r.code == 0 {
			t.Errorf("%s\nwant a failure", r)
		}
		t.Logf("reload with a new pid_file: exit %d: %s", r.code, strings.TrimSpace(r.err))
		if err := syscall.Kill(st.Master.PID, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, slow(5*time.Second), "the master refusing the reload", func() (bool, string) {
			b, _ := os.ReadFile(d.logFile)
			return strings.Contains(string(b), "pid_file: cannot change on reload"), "not in the log"
		})
		d.writeConfig(good)
		if s := d.mustStatus(); !slices.Equal(s.pids(), st.pids()) {
			t.Errorf("children changed by a refused reload")
		}
		c.mustEcho(t, "still served")
	})

	t.Run("fixed", func(t *testing.T) {
		d := d.in(t)
		d.writeConfig(good)
		d.mustRun(0, "reload")
		s := d.waitReplaced("echo", 2, st.pids(), st.Master.PID)
		if s.addr("echo") != addr {
			t.Errorf("address changed from %s to %s by a reload of the same listen", addr, s.addr("echo"))
		}
		if err := echoOnce(addr, "after the fix"); err != nil {
			t.Fatal(err)
		}
		// The connection open across a plain reload is closed by the old
		// child; a new one is served by the new generation.
		if _, _, err := c.waitEOF(slow(5 * time.Second)); err != nil {
			t.Errorf("connection to a retired child: %v", err)
		}
	})
}

// reload applies a changed count: 1 → 3 → 2 processes, slots 0..n-1.
func TestReloadCountChange(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	d.start()
	st := d.waitReady("echo", 1)
	addr := st.addr("echo")
	prev := st.pids()
	for _, count := range []int{3, 2} {
		d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", count))
		d.mustRun(0, "reload")
		s := d.waitReplaced("echo", count, prev, st.Master.PID)
		if w := s.worker("echo"); w.Count != count {
			t.Errorf("workers[0].count %d, want %d", w.Count, count)
		}
		waitGone(t, slow(5*time.Second), "the retired children", prev...)
		if s.addr("echo") != addr {
			t.Errorf("address changed to %s", s.addr("echo"))
		}
		for i := range 2 * count {
			if err := echoOnce(addr, fmt.Sprintf("count %d #%d", count, i)); err != nil {
				t.Fatal(err)
			}
		}
		prev = s.pids()
	}
}

// A stop that arrives while a reload is rolling (children slow to start)
// still stops everything promptly; the reload command fails rather than
// hang.
func TestStopDuringReload(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	d.writeConfig(worker("slow", "text://127.0.0.1:0", "busy", 3, "[worker.options]", "start_delay_ms = 600"))
	d.start()
	st := d.waitReady("slow", 3)
	reloaded := make(chan result, 1)
	go func() { reloaded <- d.run("reload") }()
	// The reload has begun once a fourth process exists (the first
	// replacement, starting).
	waitFor(t, slow(5*time.Second), "the reload rolling", func() (bool, string) {
		b, _ := os.ReadFile(d.logFile)
		return strings.Contains(string(b), "reloading"), "no 'reloading' in the log"
	})
	r := d.mustRun(0, "stop")
	t.Logf("stop during a reload took %s", r.took.Round(time.Millisecond))
	if r.took > slow(5*time.Second) {
		t.Errorf("stop during a reload took %s", r.took)
	}
	select {
	case rr := <-reloaded:
		t.Logf("the interrupted reload: exit %d, %s", rr.code, strings.TrimSpace(rr.err+rr.out))
	case <-time.After(slow(10 * time.Second)):
		t.Fatal("reload still waiting 10 s after the master was stopped")
	}
	waitGone(t, slow(3*time.Second), "master and children", append(st.pids(), st.Master.PID)...)
	// Children the reload may have started are gone too.
	waitFor(t, slow(3*time.Second), "every process of the stopped master gone", func() (bool, string) {
		left := d.marked()
		return len(left) == 0, fmt.Sprintf("still alive: %v", left)
	})
}
