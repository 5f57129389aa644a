package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// start -d returns only once every child is ready: a handler that takes
// 700 ms in OnWorkerStart makes start -d take that long, and the port
// answers at once when it returns. The pid file holds the master's pid.
func TestStartDaemonReturnsWhenReady(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d.writeConfig(worker("slow", "text://"+addr, "busy", 2, "[worker.options]", "start_delay_ms = 700"))
	r := d.start()
	if !strings.Contains(r.out, fmt.Sprintf("workermand started (pid %d", d.pidFromFile())) {
		t.Errorf("start -d output %q does not name the master pid %d", r.out, d.pidFromFile())
	}
	if r.took < 700*time.Millisecond {
		t.Errorf("start -d returned after %s, before the children's 700 ms OnWorkerStart ended", r.took)
	}
	// Right away, without retrying: the children accept and answer.
	c, err := dialClient(addr)
	if err != nil {
		t.Fatalf("dial right after start -d: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(slow(time.Second)))
	if err := c.echo("ready?"); err != nil {
		t.Fatalf("echo right after start -d: %v", err)
	}
	st := d.mustStatus()
	if st.Master.PID != d.pidFromFile() {
		t.Errorf("status master pid %d, pid file %d", st.Master.PID, d.pidFromFile())
	}
	if !strings.HasPrefix(cmdline(st.Master.PID), d.bin+" start") {
		t.Errorf("pid %d from the pid file runs %q, not the master", st.Master.PID, cmdline(st.Master.PID))
	}
	if ps := st.procs("slow"); len(ps) != 2 || ps[0].Status != "idle" || ps[1].Status != "idle" {
		t.Errorf("after start -d: %+v, want 2 idle processes", ps)
	}
	t.Logf("start -d took %s with a 700 ms OnWorkerStart", r.took.Round(time.Millisecond))
}

// start -d of the stock binary is quick, and a second start is refused
// while the first runs; so is a foreground start.
func TestStartTwiceRefused(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	r := d.start()
	t.Logf("start -d took %s", r.took.Round(time.Millisecond))
	master := d.pidFromFile()
	for _, args := range [][]string{{"start", "-d"}, {"start"}} {
		r := d.mustRun(1, args...)
		if !strings.Contains(r.err, "already running") || !strings.Contains(r.err, strconv.Itoa(master)) {
			t.Errorf("%s: want 'already running' with pid %d", r, master)
		}
	}
	if got := d.pidFromFile(); got != master {
		t.Errorf("pid file changed from %d to %d by a refused start", master, got)
	}
	st := d.mustStatus()
	if st.Master.PID != master || len(st.Processes) != 1 {
		t.Errorf("after refused starts: master %d, %d processes", st.Master.PID, len(st.Processes))
	}
}

// Of several start -d at the same moment exactly one wins.
func TestConcurrentStartsOneWins(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	const n = 4
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = d.run("start", "-d") })
	}
	wg.Wait()
	wins := 0
	for _, r := range results {
		switch {
		case r.code == 0:
			wins++
		case r.code == 1 && strings.Contains(r.err, "already running"):
		default:
			t.Errorf("unexpected: %s", r)
		}
	}
	if pid := d.pidFromFile(); pid > 0 {
		d.setMaster(pid)
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent starts succeeded, want 1", wins, n)
	}
	d.waitReady("echo", 1)
}

// A pid file left by a dead master (a pid, no lock held) does not block a
// start, which replaces it.
func TestStalePidFileIgnored(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	// A pid that certainly belongs to no master: a process we ran and reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	writeFile(t, d.pidFile, strconv.Itoa(deadPID)+"\n")
	writeFile(t, d.pidFile+".lock", "")
	if r := d.run("status"); r.code != 3 {
		t.Errorf("status with a stale pid file: %s, want exit 3", r)
	}
	d.start()
	if pid := d.pidFromFile(); pid == deadPID || !alive(pid) {
		t.Fatalf("pid file holds %d after start (stale pid was %d)", pid, deadPID)
	}
	st := d.waitReady("echo", 1)
	if err := echoOnce(st.addr("echo"), "after stale"); err != nil {
		t.Fatal(err)
	}
}

// The control verbs report a master that does not run with their exit
// codes: status 3 (LSB), reload, connections and reopen 7, stop 0 saying so.
// Before the first start and after a stop alike.
func TestNotRunningExitCodes(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"status"}, 3, "not running"},
			{[]string{"status", "--json"}, 3, "not running"},
			{[]string{"reload"}, 7, "not running"},
			{[]string{"connections"}, 7, "not running"},
			{[]string{"reopen"}, 7, "not running"},
		} {
			r := d.run(c.args...)
			if r.code != c.code || !strings.Contains(r.err, c.want) {
				t.Errorf("%s: %s; want exit %d mentioning %q", when, r, c.code, c.want)
			}
		}
		r := d.run("stop")
		if r.code != 0 || !strings.Contains(r.out, "not running") {
			t.Errorf("%s: %s; want exit 0 saying it is not running", when, r)
		}
	}
	check("before start")
	d.start()
	d.mustRun(0, "stop")
	check("after stop")
}

// A foreground start stops cleanly on SIGINT (Ctrl-C), SIGTERM, and SIGHUP
// (the terminal went away): exit 0, children gone, pid file and control
// socket removed.
func TestForegroundStopsOnSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, stockBin)
			d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
			errPath := filepath.Join(d.dir, "foreground.err")
			errFile, err := os.Create(errPath)
			if err != nil {
				t.Fatal(err)
			}
			defer errFile.Close()
			cmd := exec.Command(d.bin, "start", "-c", d.cfg)
			cmd.Dir, cmd.Env = d.dir, append(cleanEnv(), d.env...)
			cmd.Stdout, cmd.Stderr = errFile, errFile
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			d.setMaster(cmd.Process.Pid)
			var waitErr error
			done := make(chan struct{})
			go func() { waitErr = cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					_ = cmd.Process.Kill() // the master this test started
					<-done
				}
			})
			st := d.waitReady("echo", 2)
			if st.Master.PID != cmd.Process.Pid {
				t.Errorf("status master pid %d, started %d", st.Master.PID, cmd.Process.Pid)
			}
			c := dial(t, st.addr("echo"))
			c.mustEcho(t, "hello")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
				if waitErr != nil {
					t.Errorf("exit after %s: %v, want 0", sig, waitErr)
				}
			case <-time.After(slow(10 * time.Second)):
				t.Fatalf("master still running 10 s after %s", sig)
			}
			waitGone(t, slow(2*time.Second), "children after the master exited", st.pids()...)
			if _, _, err := c.waitEOF(slow(5 * time.Second)); err != nil {
				t.Errorf("client connection after %s: %v", sig, err)
			}
			for _, f := range []string{d.pidFile, d.sock} {
				if fileExists(f) {
					t.Errorf("%s still exists after the master exited", f)
				}
			}
			out, _ := os.ReadFile(errPath)
			if !strings.Contains(string(out), "Press Ctrl+C to stop.") {
				t.Errorf("no banner in the foreground output:\n%s", out)
			}
		})
	}
}

// start -d of workers that cannot start exits 1 with the reason, and
// leaves nothing running: no master, no pid file, the port free.
func TestStartFailsWithReason(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ mode, want string }{
		{"attach", `worker "flaky" #0 could not start: worker "flaky": attach handler: failstart: refusing to attach`},
		{"exit", `worker "flaky" #0 exited during start-up`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, crashBin)
			port := freePort(t)
			d.writeConfig(
				worker("echo", "text://127.0.0.1:0", "echo", 2),
				worker("flaky", "text://127.0.0.1:"+itoa(port), "failstart", 1, "[worker.options]", fmt.Sprintf("mode = %q", c.mode)),
			)
			r := d.run("start", "-d")
			// The reason a child gave travels beside its exit; in the
			// rare case the exit is seen first, only that is reported.
			if r.code != 1 || !strings.Contains(r.err, c.want) && !strings.Contains(r.err, `worker "flaky" #0 exited during start-up`) {
				t.Errorf("%s\nwant exit 1 with %q", r, c.want)
			} else if !strings.Contains(r.err, c.want) {
				t.Logf("start -d reported the exit, not the reason: %s", r.err)
			}
			if r := d.run("status"); r.code != 3 {
				t.Errorf("status after a failed start: %s", r)
			}
			if fileExists(d.pidFile) || fileExists(d.sock) {
				t.Errorf("pid file or control socket left by a failed start")
			}
			ln, err := net.Listen("tcp", "127.0.0.1:"+itoa(port))
			if err != nil {
				t.Fatalf("port still taken after a failed start: %v", err)
			}
			ln.Close()
		})
	}
}

// A config far larger than a channel message may be (a 400 KB `respond`
// body) passes check, starts, serves that body, and survives a reload. It
// used to pass check and then fail with "sendmsg: message too long".
func TestLargeConfigStartsAndServes(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	body := strings.Repeat("0123456789abcdef", 400<<10/16)
	d.writeConfig(worker("big", "http://127.0.0.1:0", "respond", 2,
		"[worker.options]", fmt.Sprintf("body = %q", body)))
	d.mustRun(0, "check")
	d.start()
	st := d.waitReady("big", 2)
	get := func() {
		t.Helper()
		resp, err := http.Get("http://" + st.addr("big") + "/")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(got) != body {
			t.Fatalf("GET: %d, %d bytes (want %d), %v", resp.StatusCode, len(got), len(body), err)
		}
	}
	get()
	pids := st.pids()
	d.mustRun(0, "reload")
	st = d.waitReplaced("big", 2, pids, st.Master.PID)
	get()
}
