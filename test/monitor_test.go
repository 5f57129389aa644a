package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// monitorWithin is how soon a change must have replaced the children: the
// issue's 2 s (300 ms of quiet, the binary's check, the new children's
// start).
const monitorWithin = 2 * time.Second

// ownBinary copies the stock binary into the daemon's directory, so that
// the test may rewrite it without touching the one other tests run.
func ownBinary(t *testing.T, dir string) (path string, content []byte) {
	t.Helper()
	content, err := os.ReadFile(stockBin)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "app")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, content
}

// startForeground runs bin's `start -c cfg` as the test's child, its output
// in foreground.err; Cleanup stops it by its pid.
func (d *daemon) startForeground(bin string) (errPath string) {
	cmd := exec.Command(bin, "start", "-c", d.cfg)
	cmd.Dir, cmd.Env = d.dir, append(cleanEnv(), d.env...)
	return d.startCmd(cmd).errPath
}

// foreground is a master the test runs as its own child.
type foreground struct {
	errPath string        // its output
	done    chan struct{} // closed once it has exited
	err     error         // how it exited, once done is closed
}

// startCmd starts cmd, which runs a master in the foreground, as the
// test's child with its output in foreground.err, and makes it the master
// d stops; Cleanup stops it by its pid unless it has exited: TERM, then
// KILL.
func (d *daemon) startCmd(cmd *exec.Cmd) *foreground {
	t := d.t
	t.Helper()
	fg := &foreground{errPath: filepath.Join(d.dir, "foreground.err"), done: make(chan struct{})}
	errFile, err := os.Create(fg.errPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = errFile, errFile
	if err := cmd.Start(); err != nil {
		errFile.Close()
		t.Fatal(err)
	}
	errFile.Close()
	d.setMaster(cmd.Process.Pid)
	go func() { fg.err = cmd.Wait(); close(fg.done) }()
	t.Cleanup(func() {
		select {
		case <-fg.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-fg.done:
		case <-time.After(slow(10 * time.Second)):
			_ = cmd.Process.Kill()
			<-fg.done
		}
	})
	return fg
}

// waitReloaded waits for every process of worker name to be replaced,
// within monitorWithin of since, and returns the new pids.
func (d *daemon) waitReloaded(name string, count int, old []int, since time.Time, what string) []int {
	d.t.Helper()
	var pids []int
	defer func() {
		d.t.Logf("%s: children replaced %s after the change", what, time.Since(since).Round(time.Millisecond))
	}()
	waitFor(d.t, slow(monitorWithin)-time.Since(since), what+": every child replaced", func() (bool, string) {
		st, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		ps := st.procs(name)
		pids = pids[:0]
		for _, p := range ps {
			if slices.Contains(old, p.PID) || p.Status != "idle" {
				return false, fmt.Sprintf("%+v", ps)
			}
			pids = append(pids, p.PID)
		}
		return len(ps) == count, fmt.Sprintf("%+v", ps)
	})
	return pids
}

// noReload checks that the processes of worker name stay the same for a
// while after a change that must not reload.
func (d *daemon) noReload(name string, old []int, what string) {
	d.t.Helper()
	time.Sleep(slow(1500 * time.Millisecond))
	st := d.mustStatus()
	var now []int
	for _, p := range st.procs(name) {
		now = append(now, p.PID)
	}
	if !slices.Equal(now, old) {
		d.t.Fatalf("%s reloaded: processes %v, were %v\nlog:\n%s", what, now, old, d.logTail())
	}
}

func procPIDs(st *statusDoc, name string) []int {
	var out []int
	for _, p := range st.procs(name) {
		out = append(out, p.PID)
	}
	return out
}

// In the foreground, [monitor] reloads the workers within 2 s of a change
// to a watched file of a listed extension, to the config file, and to the
// binary, which it waits for until it is completely written; a file of
// another extension does not reload.
func TestMonitorForeground(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	// The master and its children run their own copy, which the test
	// rewrites; the commands (status, stop) run the stock binary, which
	// cannot be run while a writer holds it open.
	bin, content := ownBinary(t, d.dir)
	src := filepath.Join(d.dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	monitor := fmt.Sprintf("\n[monitor]\npaths = [%q, %q, \"src\"]\nextensions = [\"tmpl\"]\n", d.cfg, bin)
	d.writeConfig(monitor, worker("echo", "text://127.0.0.1:0", "echo", 2))
	errPath := d.startForeground(bin)
	pids := procPIDs(d.waitReady("echo", 2), "echo")

	writeFile(t, filepath.Join(src, "notes.txt"), "another extension")
	d.noReload("echo", pids, "a .txt file")

	changed := time.Now()
	writeFile(t, filepath.Join(src, "page.tmpl"), "a template")
	pids = d.waitReloaded("echo", 2, pids, changed, "a .tmpl file")
	// What a reload does (run the binary, read the config) is no change:
	// no second reload follows.
	d.noReload("echo", pids, "the reload itself")

	// A new subfolder is watched too.
	if err := os.MkdirAll(filepath.Join(src, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // (an empty folder is no change)
	changed = time.Now()
	writeFile(t, filepath.Join(src, "new", "deep.tmpl"), "x")
	pids = d.waitReloaded("echo", 2, pids, changed, "a file in a new subfolder")

	// The config file, saved by an editor that renames over it.
	cfg, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.cfg+".tmp", string(cfg)+"\n# edited\n")
	changed = time.Now()
	if err := os.Rename(d.cfg+".tmp", d.cfg); err != nil {
		t.Fatal(err)
	}
	pids = d.waitReloaded("echo", 2, pids, changed, "the config file renamed over")

	// The binary, as go build writes it (unlink, create, write), with a
	// pause longer than the quiet period half-way: the reload must wait for
	// the whole file, or its children could not start.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(content[:len(content)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	st := d.mustStatus()
	if now := procPIDs(st, "echo"); !slices.Equal(now, pids) {
		t.Fatalf("reloaded on a half-written binary: %v, were %v", now, pids)
	}
	changed = time.Now()
	if _, err := f.Write(content[len(content)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.waitReloaded("echo", 2, pids, changed, "the binary rewritten")

	out, _ := os.ReadFile(errPath)
	for _, want := range []string{"file monitor watching", "file changed; reloading", filepath.Join(src, "page.tmpl"), "not a complete executable"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "reload after a file change failed") {
		t.Errorf("a reload failed:\n%s", out)
	}
}

// Daemonized, the monitor is off (said once in the log) unless
// in_daemon = true; a reload that sets it turns it on. A config saved with
// an error fails its reload, which is logged, and the next save reloads.
func TestMonitorDaemon(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	watched := filepath.Join(d.dir, "watched.txt")
	writeFile(t, watched, "a")
	monitor := func(inDaemon bool) string {
		return fmt.Sprintf("\n[monitor]\npaths = [%q, %q]\nin_daemon = %s\n", watched, d.cfg, strconv.FormatBool(inDaemon))
	}
	d.writeConfig(monitor(false), worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.start()
	pids := procPIDs(d.waitReady("echo", 2), "echo")
	writeFile(t, watched, "b")
	d.noReload("echo", pids, "a change in daemon mode")
	if log, _ := os.ReadFile(d.logFile); strings.Count(string(log), "file monitor off") != 1 {
		t.Errorf("want one 'file monitor off' in the log:\n%s", log)
	}

	d.writeConfig(monitor(true), worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.mustRun(0, "reload")
	pids = procPIDs(d.waitReady("echo", 2), "echo")
	changed := time.Now()
	writeFile(t, watched, "c")
	pids = d.waitReloaded("echo", 2, pids, changed, "a change with in_daemon = true")

	d.writeConfig(monitor(true), worker("echo", "text://127.0.0.1:0", "echo", 2, "count_typo = 3"))
	d.noReload("echo", pids, "a config with an error")
	if log, _ := os.ReadFile(d.logFile); !strings.Contains(string(log), "reload after a file change failed") ||
		!strings.Contains(string(log), "count_typo") {
		t.Errorf("the failed reload is not in the log:\n%s", log)
	}
	changed = time.Now()
	d.writeConfig(monitor(true), worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.waitReloaded("echo", 2, pids, changed, "the config fixed")
}
