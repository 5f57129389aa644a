package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// firstGoroutine splits `debug stack` output into its header line and the
// first goroutine's block, checking that the block is the one the header
// names as the loop's.
func firstGoroutine(t *testing.T, r result) (header, block string) {
	t.Helper()
	header, rest, _ := strings.Cut(r.out, "\n")
	m := regexp.MustCompile(`the first, goroutine (\d+), runs the event loop`).FindStringSubmatch(header)
	if r.code != 0 || m == nil {
		t.Fatalf("debug stack: %s", r)
	}
	block, _, _ = strings.Cut(strings.TrimLeft(rest, "\n"), "\n\n")
	if !strings.HasPrefix(block, "goroutine "+m[1]+" ") {
		t.Fatalf("the first goroutine is not the loop's (%s):\n%s", m[1], block)
	}
	return header, block
}

// A child spinning in a handler: `debug stack` (by pid and by worker:id)
// shows the handler's functions on the loop's goroutine, first; `debug
// profile` writes a file that go tool pprof -top reads and that names the
// spinning function; a second profile meanwhile is refused. An idle
// child's loop is shown waiting in the loop.
func TestDebugBusyChild(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	d.writeConfig(
		worker("busy", "text://127.0.0.1:0", "busy", 1),
		worker("echo", "text://127.0.0.1:0", "echo", 1),
	)
	d.start()
	st := d.waitReady("busy", 1)
	d.waitReady("echo", 1)
	busyPID := st.procs("busy")[0].PID

	_, idle := firstGoroutine(t, d.run("debug", "stack", "echo:0"))
	if !strings.Contains(idle, "netloop.(*Loop).Run") || strings.Contains(idle, "main.spin") {
		t.Errorf("an idle child's loop goroutine:\n%s", idle)
	}

	c := dial(t, st.addr("busy"))
	c.mustEcho(t, "before")
	spin := slow(9 * time.Second)
	begin := time.Now()
	if _, err := fmt.Fprintf(c, "busy %d\n", spin.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, slow(3*time.Second), "the spinning child to show as busy", func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		b := s.procs("busy")
		return len(b) == 1 && b[0].Status == "busy", fmt.Sprintf("%+v", b)
	})

	for _, target := range []string{fmt.Sprint(busyPID), "busy:0"} {
		r := d.run("debug", "stack", target)
		header, block := firstGoroutine(t, r)
		if !strings.Contains(header, fmt.Sprintf("pid %d, worker busy #0", busyPID)) {
			t.Errorf("debug stack %s: header %q", target, header)
		}
		// The spin on top, called from the handler's OnMessage closure.
		spinAt, handlerAt := strings.Index(block, "main.spin("), strings.Index(block, "main.(*busy).Attach.func")
		if spinAt < 0 || handlerAt < spinAt {
			t.Errorf("debug stack %s: the loop's goroutine is not in the handler:\n%s", target, block)
		}
		t.Logf("debug stack %s took %s", target, r.took.Round(time.Millisecond))
	}

	prof := filepath.Join(d.dir, "busy.pprof")
	var first result
	var wg sync.WaitGroup
	wg.Go(func() { first = d.run("debug", "profile", "busy:0", "--seconds", "3", "-o", prof) })
	time.Sleep(time.Second)
	second := d.run("debug", "profile", fmt.Sprint(busyPID), "--seconds", "1", "-o", filepath.Join(d.dir, "second.pprof"))
	wg.Wait()
	if second.code != 1 || !strings.Contains(second.err, "already being taken") {
		t.Errorf("a second profile while one runs: %s", second)
	}
	if fileExists(filepath.Join(d.dir, "second.pprof")) {
		t.Error("the refused profile left a file")
	}
	if first.code != 0 || !strings.Contains(first.out, "go tool pprof -top "+prof) {
		t.Fatalf("debug profile: %s", first)
	}
	if time.Since(begin) > spin {
		t.Logf("warning: the profile ended after the spin (%s); the machine is slow", time.Since(begin).Round(time.Millisecond))
	}
	out, err := exec.Command(goTool(), "tool", "pprof", "-top", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -top: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "main.spin") {
		t.Errorf("the profile does not name the spinning function:\n%s", out)
	}

	_ = c.SetDeadline(time.Now().Add(spin + slow(10*time.Second)))
	line, err := c.r.ReadString('\n')
	if err != nil || line != fmt.Sprintf("busy %d\n", spin.Milliseconds()) {
		t.Errorf("the busy request's echo: %q, %v", line, err)
	}
}

// What debug refuses, with its exit code: no master (7), a malformed
// target or --seconds (2), a pid that does not exist, the master's own, a
// process that is not a child, a worker or id that does not exist, an
// output file that cannot be written (1).
func TestDebugErrors(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	if r := d.run("debug", "stack", "echo:0"); r.code != 7 {
		t.Errorf("no master: %s", r)
	}
	d.start()
	d.waitReady("echo", 1)
	master := d.pidFromFile()

	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"debug", "stack", "echo"}, 2, "want a pid or worker:id"},
		{[]string{"debug", "stack", "echo:x"}, 2, "must be a number"},
		{[]string{"debug", "stack", "-5"}, 2, ""},
		{[]string{"debug", "stack"}, 2, "accepts 1 arg"},
		{[]string{"debug", "trace", "echo:0"}, 2, `unknown debug command "trace"`},
		{[]string{"debug", "profile", "echo:0", "--seconds", "0"}, 2, "--seconds 0: want 1 to 60"},
		{[]string{"debug", "profile", "echo:0", "--seconds", "61"}, 2, "--seconds 61: want 1 to 60"},
		{[]string{"debug", "profile", "echo:0", "--seconds", "abc"}, 2, "invalid argument"},
		{[]string{"debug", "stack", fmt.Sprint(gone.Process.Pid)}, 1, fmt.Sprintf("no process with pid %d", gone.Process.Pid)},
		{[]string{"debug", "stack", fmt.Sprint(master)}, 1, "is the master"},
		{[]string{"debug", "stack", fmt.Sprint(os.Getpid())}, 1, "is not a worker process of this master"},
		{[]string{"debug", "stack", "nope:0"}, 1, `no worker named "nope" (workers: echo)`},
		{[]string{"debug", "stack", "echo:3"}, 1, "worker echo has ids 0 to 0, not 3"},
		{[]string{"debug", "profile", "echo:0", "--seconds", "1", "-o", filepath.Join(d.dir, "no", "such", "dir", "p.pprof")}, 1, "-o:"},
	}
	for _, c := range cases {
		r := d.run(c.args...)
		if r.code != c.code || !strings.Contains(r.err, c.err) {
			t.Errorf("want exit %d and %q from %s", c.code, c.err, r)
		}
	}
	// The master still answers and the child still serves.
	if r := d.run("debug", "stack", "echo:0"); r.code != 0 {
		t.Errorf("after the errors: %s", r)
	}
	if err := echoOnce(d.mustStatus().addr("echo"), "still here"); err != nil {
		t.Error(err)
	}
}

// A child stuck in OnWorkerStart, not ready yet, answers debug stack:
// its loop runs OnWorkerStart, so the hook is on top of the loop's stack.
func TestDebugStackOfStartingChild(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	delay := slow(5 * time.Second)
	d.writeConfig(worker("slow", "text://127.0.0.1:0", "busy", 1, "[worker.options]", fmt.Sprintf("start_delay_ms = %d", delay.Milliseconds())))
	started := make(chan result, 1)
	go func() { started <- d.run("start", "-d") }()
	var block string
	waitFor(t, delay-time.Second, "a dump of the starting child", func() (bool, string) {
		r := d.run("debug", "stack", "slow:0")
		if r.code != 0 {
			return false, r.String()
		}
		_, block = firstGoroutine(t, r)
		return true, ""
	})
	if !strings.Contains(block, "main.spin(") || !strings.Contains(block, "main.(*busy).Attach.func1") {
		t.Errorf("the starting child's loop is not in OnWorkerStart:\n%s", block)
	}
	if r := <-started; r.code != 0 {
		t.Fatalf("start -d: %s", r)
	}
	d.setMaster(d.pidFromFile())
}
