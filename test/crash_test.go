package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitRespawn polls status until slot id of worker name is served by a new,
// idle process (not old) and returns it and how long that took.
func (d *daemon) waitRespawn(name string, id, old int, timeout time.Duration) (procDoc, *statusDoc, time.Duration) {
	d.t.Helper()
	var got procDoc
	var st *statusDoc
	took := waitFor(d.t, timeout, fmt.Sprintf("worker %s #%d respawned", name, id), func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		for _, p := range s.procs(name) {
			if p.ID == id && p.PID != old && p.Status == "idle" {
				got, st = p, s
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", s.procs(name))
	})
	return got, st, took
}

// A child killed (kill -9, or stopped by TERM or INT) is respawned into the
// same slot at once; its exit is counted in the worker's exit_status.
func TestChildKilledRespawnsSameSlot(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		sig    syscall.Signal
		status string
	}{
		{syscall.SIGKILL, "signal 9"},
		{syscall.SIGTERM, "exit 0"},
		{syscall.SIGINT, "exit 0"},
	} {
		t.Run(c.sig.String(), func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, stockBin)
			d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
			d.start()
			st := d.waitReady("echo", 2)
			victim, other := st.procs("echo")[0], st.procs("echo")[1]
			client := dial(t, st.addr("echo"))
			client.mustEcho(t, "before")
			begin := time.Now()
			if err := syscall.Kill(victim.PID, c.sig); err != nil {
				t.Fatal(err)
			}
			p, st2, _ := d.waitRespawn("echo", victim.ID, victim.PID, slow(5*time.Second))
			took := time.Since(begin)
			t.Logf("%s: slot #%d served by a new child %s after the signal", c.sig, victim.ID, took.Round(time.Millisecond))
			if took > slow(time.Second) {
				t.Errorf("slot #%d respawned %s after %s, want within 1 s", victim.ID, took, c.sig)
			}
			if p.Generation <= victim.Generation {
				t.Errorf("respawned child has generation %d, the old one had %d", p.Generation, victim.Generation)
			}
			if alive(victim.PID) {
				t.Errorf("old child %d still alive", victim.PID)
			}
			if o := st2.procs("echo"); len(o) != 2 || o[1].PID != other.PID {
				t.Errorf("the other slot changed: %+v, was %+v", o, other)
			}
			if got := st2.worker("echo").ExitStatus; !maps.Equal(got, map[string]int{c.status: 1}) {
				t.Errorf("exit_status %v, want {%q: 1}", got, c.status)
			}
			r := d.mustRun(0, "status")
			if !strings.Contains(r.out, c.status) {
				t.Errorf("status table does not show %q:\n%s", c.status, r.out)
			}
			for i := range 4 {
				if err := echoOnce(st.addr("echo"), fmt.Sprintf("after %d", i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// A panic in a callback closes that connection only: the process stays
// (same pid), its other connections and status are served, the panic is
// logged. A handler that exits the process gets its slot respawned, and
// exit_status shows its status.
func TestPanicAndCrashHandlers(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	d.writeConfig(
		worker("panicky", "text://127.0.0.1:0", "panicky", 1),
		worker("crash", "text://127.0.0.1:0", "crash", 1),
	)
	d.start()
	d.waitReady("panicky", 1)
	st := d.waitReady("crash", 1)

	t.Run("panic", func(t *testing.T) {
		d := d.in(t)
		pan := st.procs("panicky")[0]
		addr := st.addr("panicky")
		keep := dial(t, addr)
		keep.mustEcho(t, "one")
		bad := dial(t, addr)
		bad.mustEcho(t, "fine so far")
		if _, err := bad.Write([]byte("panic\n")); err != nil {
			t.Fatal(err)
		}
		if _, data, err := bad.waitEOF(slow(5 * time.Second)); err != nil || data != "" {
			t.Fatalf("the panicking connection: %q, %v; want it closed", data, err)
		}
		keep.mustEcho(t, "two")
		if err := echoOnce(addr, "new connection"); err != nil {
			t.Fatal(err)
		}
		s := d.mustStatus()
		p := s.procs("panicky")
		if len(p) != 1 || p[0].PID != pan.PID || p[0].Status != "idle" {
			t.Fatalf("after the panic: %+v, want the same process %d, idle", p, pan.PID)
		}
		if p[0].TotalRequest < 5 || p[0].Connections != 1 {
			t.Errorf("after the panic: total_request %d (want ≥ 5), connections %d (want 1)", p[0].TotalRequest, p[0].Connections)
		}
		if len(s.worker("panicky").ExitStatus) != 0 {
			t.Errorf("exit_status %v after a panic, want none", s.worker("panicky").ExitStatus)
		}
		waitFor(t, slow(5*time.Second), "the panic in the log", func() (bool, string) {
			b, _ := os.ReadFile(d.logFile)
			return strings.Contains(string(b), "panicky: asked to panic"), "not logged"
		})
	})

	t.Run("crash", func(t *testing.T) {
		d := d.in(t)
		old := st.procs("crash")[0]
		c := dial(t, st.addr("crash"))
		c.mustEcho(t, "hello")
		if _, err := c.Write([]byte("crash\n")); err != nil {
			t.Fatal(err)
		}
		if _, data, err := c.waitEOF(slow(5 * time.Second)); err != nil || data != "" {
			t.Fatalf("connection to the crashing child: %q, %v; want it closed", data, err)
		}
		_, s, took := d.waitRespawn("crash", 0, old.PID, slow(5*time.Second))
		t.Logf("crashed slot served again after %s", took.Round(time.Millisecond))
		if got := s.worker("crash").ExitStatus; !maps.Equal(got, map[string]int{"exit 3": 1}) {
			t.Errorf("exit_status %v, want {\"exit 3\": 1}", got)
		}
		if err := echoOnce(st.addr("crash"), "after the crash"); err != nil {
			t.Fatal(err)
		}
		// The panicky worker was not affected.
		if p := s.procs("panicky"); len(p) != 1 || p[0].PID != st.procs("panicky")[0].PID {
			t.Errorf("panicky worker changed: %+v", p)
		}
	})
}

// logEntry is one line of a JSON log.
type logEntry map[string]any

// readLog parses a JSON log file, skipping lines that are not JSON.
func readLog(path string) []logEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func (e logEntry) msg() string { s, _ := e["msg"].(string); return s }

// A slot whose child cannot start crash-loops with growing delays (back-off
// tuned down by WORKERMAND_BACKOFF_MIN/MAX): the master stays up and logs
// it, the other worker keeps serving, the slot recovers once the cause is
// gone, and stop is prompt even while a restart is pending.
func TestCrashLoopBackoff(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"attach", "exit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, crashBin)
			d.env = append(d.env, "WORKERMAND_BACKOFF_MIN=50ms", "WORKERMAND_BACKOFF_MAX=400ms")
			d.globals["log_format"] = `"json"`
			failFile := filepath.Join(d.dir, "fail")
			d.writeConfig(
				worker("flaky", "text://127.0.0.1:0", "failstart", 1, "[worker.options]",
					fmt.Sprintf("mode = %q", mode), fmt.Sprintf("file = %q", failFile)),
				worker("echo", "text://127.0.0.1:0", "echo", 1),
			)
			d.start()
			st := d.waitReady("flaky", 1)
			d.waitReady("echo", 1)
			if err := echoOnce(st.addr("flaky"), "healthy"); err != nil {
				t.Fatal(err)
			}
			// From now on the slot cannot start.
			writeFile(t, failFile, "")
			if err := syscall.Kill(st.procs("flaky")[0].PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Exits 1–5 are followed by delays 0, 50, 100, 200 and 400 ms:
			// the fifth exit logs the cap, 350 ms plus four failed starts
			// after the kill. Without back-off there would be hundreds of
			// exits by then; with the slot given up, the cap never comes.
			// Waiting for the cap rather than counting exits in a fixed
			// window keeps a slow machine's fewer exits from failing the
			// test. Status and the other worker answer throughout.
			var exits int
			var delays []time.Duration
			var logged []time.Time // when each delay was logged
			crashLoopDelays := func() {
				delays, logged = nil, nil
				for _, e := range readLog(d.logFile) {
					if strings.Contains(e.msg(), "crash-looping") {
						dl, _ := time.ParseDuration(fmt.Sprint(e["delay"]))
						ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", fmt.Sprint(e["ts"]))
						if err != nil {
							t.Fatalf("crash-looping line's time: %v", err)
						}
						delays, logged = append(delays, dl), append(logged, ts)
					}
				}
			}
			took := waitFor(t, slow(15*time.Second), "the back-off to reach its 400ms cap", func() (bool, string) {
				s, err := d.status()
				if err != nil {
					t.Fatalf("status while a slot crash-loops: %v", err)
				}
				if err := echoOnce(s.addr("echo"), "other worker"); err != nil {
					t.Fatalf("the other worker while a slot crash-loops: %v", err)
				}
				crashLoopDelays()
				exits = 0
				for _, n := range s.worker("flaky").ExitStatus {
					exits += n
				}
				capped := len(delays) > 0 && delays[len(delays)-1] == 400*time.Millisecond
				return capped && exits >= 5, fmt.Sprintf("%d exits, delays %v", exits, delays)
			})
			t.Logf("%s: %d exits in %s, back-off delays %v", mode, exits, took.Round(time.Millisecond), delays)
			if exits > 20 {
				t.Errorf("%d exits of the crash-looping slot by the time its back-off reached 400ms; want about 5 (back-off 50 ms doubling to 400 ms)", exits)
			}
			if len(delays) < 4 {
				t.Fatalf("%d crash-looping lines in the log, want 50, 100, 200 and 400ms", len(delays))
			}
			for i := 1; i < len(delays); i++ {
				if delays[i] < delays[i-1] || delays[i] > 400*time.Millisecond {
					t.Errorf("back-off delays %v: want growing, capped at 400ms", delays)
					break
				}
			}
			if delays[0] != 50*time.Millisecond {
				t.Errorf("back-off delays %v: want 50ms first", delays)
			}
			// Each delay is waited out before the next start, whose
			// failure logs the next delay.
			for i := 1; i < len(logged); i++ {
				if gap := logged[i].Sub(logged[i-1]); gap < delays[i-1]-time.Millisecond {
					t.Errorf("back-off delay %d (%s) logged at %s, the next crash only %s later", i, delays[i-1], logged[i-1].Format("15:04:05.000"), gap)
				}
			}
			if !d.running() {
				t.Fatal("the master died while a slot crash-looped")
			}

			// The cause goes away: the slot serves again at its next try.
			if err := os.Remove(failFile); err != nil {
				t.Fatal(err)
			}
			s := d.waitReady("flaky", 1)
			if err := echoOnce(s.addr("flaky"), "recovered"); err != nil {
				t.Fatal(err)
			}

			// Crash-loop again, then stop while a restart is pending.
			writeFile(t, failFile, "")
			if err := syscall.Kill(s.procs("flaky")[0].PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, slow(5*time.Second), "the slot crash-looping again", func() (bool, string) {
				n := 0
				for _, e := range readLog(d.logFile) {
					if strings.Contains(e.msg(), "crash-looping") {
						n++
					}
				}
				return n >= len(delays)+2, fmt.Sprintf("%d crash-looping lines", n)
			})
			r := d.mustRun(0, "stop")
			if r.took > slow(3*time.Second) {
				t.Errorf("stop of a master with a crash-looping slot took %s", r.took)
			}
			t.Logf("stop during the crash loop took %s", r.took.Round(time.Millisecond))
			waitGone(t, slow(2*time.Second), "the master", s.Master.PID)
		})
	}
}

// A panicking HTTP handler answers 500 (Workerman users expect it; curl
// reported an empty reply before), the panic is counted and logged, and
// the process serves on.
func TestHTTPHandlerPanicAnswers500(t *testing.T) {
	t.Parallel()
	d, addr := startHTTP(t, crashBin, "web", 1, worker("web", "http://127.0.0.1:0", "panicky", 1))
	r := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "http://"+addr+"/panic")
	if r.out != "500" {
		t.Fatalf("a request whose handler panics got %q, want 500", r.out)
	}
	if r := curl(t, "http://"+addr+"/fine"); r.out != "ok" {
		t.Fatalf("after the panic: %q", r.out)
	}
	p := d.mustStatus().procs("web")
	if len(p) != 1 || p[0].Exceptions != 1 {
		t.Fatalf("after one panic: %+v, want one process with exceptions 1", p)
	}
}
