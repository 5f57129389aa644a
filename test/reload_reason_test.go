package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A reload whose new child cannot start fails with the child's reason, as
// start -d reports it, and the old children serve on.
func TestReloadReportsWhyTheNewChildFailed(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	trigger := filepath.Join(d.dir, "fail-now")
	d.writeConfig(worker("flaky", "text://127.0.0.1:0", "failstart", 1, "[worker.options]", `mode = "attach"`, "file = "+strconv.Quote(trigger)))
	d.start()
	st := d.waitReady("flaky", 1)
	addr := st.addr("flaky")
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.run("reload")
	want := `worker "flaky" #0: the new child could not start: worker "flaky": attach handler: failstart: refusing to attach`
	if r.code == 0 || !strings.Contains(r.err, want) {
		t.Fatalf("%s\nwant a failure with %q", r, want)
	}
	if err := os.Remove(trigger); err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(addr, "still served"); err != nil {
		t.Fatalf("after the failed reload: %v", err)
	}
}

// The running master checks handler names against its own binary: a
// handler that only a rebuilt binary has passes the new binary's check
// and is refused by the master with the advice to restart.
func TestReloadUnknownHandlerSaysRestart(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	d.start()
	d.waitReady("echo", 1)
	// crashd knows "panicky", the running stock master does not.
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "panicky", 1))
	r := runBin(t, crashBin, d.dir, d.env, slow(60*time.Second), "reload", "-c", d.cfg)
	if r.code != 2 || !strings.Contains(r.err, `unknown handler "panicky"`) || !strings.Contains(r.err, "`restart`") {
		t.Fatalf("%s\nwant exit 2 naming the handler and advising a restart", r)
	}
}

// Without log_file a daemon logs next to its pid file, named after it, as
// Workerman keeps workerman.log: the reason a child failed is on disk.
func TestDaemonLogsNextToItsPidFile(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	delete(d.globals, "log_file")
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	d.start()
	d.waitReady("echo", 1)
	want := strings.TrimSuffix(d.pidFile, ".pid") + ".log"
	waitFor(t, slow(5*time.Second), "the default log file", func() (bool, string) {
		b, err := os.ReadFile(want)
		return err == nil && strings.Contains(string(b), "child ready"), "no \"child ready\" in " + want
	})
}
