package test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// count is how many times s occurs in the file at path.
func countIn(path, s string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), s)
}

// reopen after logrotate renamed the log: the master and the running
// children (one of them nobody, when root, which could not reopen a
// root-owned file itself) write to a new file at the original path; the
// renamed one gets nothing more. SIGHUP to the daemon does the same.
func TestReopenAfterRename(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	workers := []string{worker("p", "text://127.0.0.1:0", "panicky", 1)}
	if os.Geteuid() == 0 {
		workers = append(workers, worker("pn", "text://127.0.0.1:0", "panicky", 1, `user = "nobody"`))
	}
	d.writeConfig(workers...)
	d.start()
	st := d.waitReady("p", 1)
	names := []string{"p"}
	if len(workers) > 1 {
		st = d.waitReady("pn", 1)
		names = append(names, "pn")
	}
	const panicLine = "panicky: asked to panic"
	// panicAll makes every running child log (a recovered panic).
	panicAll := func(t *testing.T) {
		for _, n := range names {
			c := dial(t, st.addr(n))
			c.mustEcho(t, "hi")
			if _, err := c.Write([]byte("panic\n")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.waitEOF(slow(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rotate := func(t *testing.T, to string) {
		if err := os.Rename(d.logFile, to); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(t *testing.T, s string, n int) {
		t.Helper()
		waitFor(t, slow(5*time.Second), "the new log", func() (bool, string) {
			got := countIn(d.logFile, s)
			return got >= n, "found " + itoa(got) + " of " + itoa(n) + " " + s
		})
	}

	old1 := d.logFile + ".1"
	rotate(t, old1)
	r := d.mustRun(0, "reopen")
	if !strings.Contains(r.out, "logs reopened") {
		t.Errorf("reopen said %q", r.out)
	}
	panicAll(t)
	waitLog(t, panicLine, len(names))
	d.mustRun(0, "reload")
	waitLog(t, "reload complete", 1)
	before := st.pids()
	for _, n := range names {
		st = d.waitReplaced(n, 1, before, st.Master.PID)
	}
	if n := countIn(old1, panicLine) + countIn(old1, "reload complete"); n != 0 {
		t.Errorf("%d lines went to the renamed log after reopen", n)
	}
	if countIn(old1, "all workers ready") != 1 {
		t.Errorf("the renamed log lost its start-up lines")
	}

	// SIGHUP to the daemon reopens too.
	old2 := d.logFile + ".2"
	rotate(t, old2)
	if err := syscall.Kill(st.Master.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, "logs reopened", 1)
	panicAll(t)
	waitLog(t, panicLine, len(names))
	if n := countIn(old2, panicLine); n != len(names) {
		t.Errorf("the log renamed before SIGHUP has %d panic lines, want the %d from before it", n, len(names))
	}
	if !d.running() {
		t.Fatal("SIGHUP stopped the daemon; it should reopen its logs")
	}
}
