package master

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/workermand/workermand/internal/config"
)

// monitorConfig is a resolved config in its own directory with mon as its
// [monitor] table (enabled).
func monitorConfig(t *testing.T, mon config.Monitor) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.toml")
	if err := os.WriteFile(path, []byte("[monitor]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mon.Enabled = true
	if mon.Debounce.Duration == 0 {
		mon.Debounce.Duration = config.DefaultMonitorDebounce
	}
	c := &config.Config{Path: path, PidFile: filepath.Join(dir, "run/app.pid"), Monitor: mon}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	return c
}

// By default the config file and the binary are watched, the binary must
// be complete, and the daemon's own files are never reported; daemonized,
// the monitor is off unless in_daemon.
func TestMonitorOptions(t *testing.T) {
	c := monitorConfig(t, config.Monitor{})
	m := New(c, Options{Executable: "/usr/local/bin/app"})
	o := m.monitorOptions(c)
	if o == nil {
		t.Fatal("monitor off")
	}
	if !slices.Equal(o.Paths, []string{c.Path, "/usr/local/bin/app"}) || !slices.Equal(o.Programs, []string{"/usr/local/bin/app"}) {
		t.Errorf("paths %q, programs %q", o.Paths, o.Programs)
	}
	for _, f := range []string{c.PidFile, c.PidFile + ".lock", c.ControlSocket} {
		if !slices.Contains(o.Ignore, f) {
			t.Errorf("%s not ignored: %q", f, o.Ignore)
		}
	}
	if o.Debounce != config.DefaultMonitorDebounce {
		t.Errorf("debounce %s", o.Debounce)
	}

	m = New(c, Options{Executable: "/usr/local/bin/app", Daemonized: true})
	if o := m.monitorOptions(c); o != nil {
		t.Errorf("daemonized without in_daemon: %+v", o)
	}
	c = monitorConfig(t, config.Monitor{InDaemon: true, Paths: []string{"/srv/src"}})
	o = m.monitorOptions(c)
	if o == nil || !slices.Equal(o.Paths, []string{"/srv/src"}) {
		t.Fatalf("in_daemon with paths: %+v", o)
	}
	if !slices.Contains(o.Ignore, c.DaemonLogFile()) {
		t.Errorf("the daemon's log %s is not ignored: %q", c.DaemonLogFile(), o.Ignore)
	}
	c.Monitor.Enabled = false
	if o := New(c, Options{}).monitorOptions(c); o != nil {
		t.Errorf("enabled = false: %+v", o)
	}
}

// A change asks the master loop for a reload and logs the file; a failed
// reload is logged and the monitor keeps watching; a change during a
// reload waits for it to end.
func TestMonitorReloads(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	watched := filepath.Join(t.TempDir(), "handler.tmpl")
	if err := os.WriteFile(watched, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := monitorConfig(t, config.Monitor{Debounce: config.Duration{Duration: 100 * time.Millisecond}, Paths: []string{watched}})
	loads := make(chan string, 8)
	m := New(c, Options{Logger: zap.New(core), Load: func(path string) (*config.Config, error) {
		loads <- path
		return nil, errors.New("bad config")
	}})
	// The test's goroutine below stands for the master loop.
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for {
			select {
			case r := <-m.requests:
				r.internal()
			case <-m.done:
				return
			}
		}
	}()
	onLoop := func(fn func()) {
		ran := make(chan struct{})
		m.requests <- &request{internal: func() { fn(); close(ran) }}
		<-ran
	}
	t.Cleanup(func() {
		onLoop(m.stopMonitor)
		close(m.done)
		<-loopDone
	})
	onLoop(m.armMonitor)
	if logs.FilterMessage("file monitor watching").Len() != 1 {
		t.Fatalf("no start message: %v", logs.All())
	}
	wantLoad := func(what string) {
		t.Helper()
		select {
		case p := <-loads:
			if p != c.Path {
				t.Errorf("%s: reloaded %s, want %s", what, p, c.Path)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: no reload; logs %v", what, logs.All())
		}
	}
	for i := range 2 {
		if err := os.WriteFile(watched, []byte{byte('b' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		wantLoad("a change")
	}
	deadline := time.Now().Add(2 * time.Second)
	for logs.FilterMessageSnippet("reload after a file change failed").Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	changed := logs.FilterMessage("file changed; reloading").All()
	if len(changed) != 2 || changed[0].ContextMap()["file"] != watched {
		t.Errorf("change messages %v", changed)
	}
	if n := logs.FilterMessageSnippet("reload after a file change failed").Len(); n != 2 {
		t.Errorf("%d failure messages, want 2: %v", n, logs.All())
	}

	// A reload in progress: the change waits, then reloads.
	onLoop(func() { m.reloading = &reloadOp{} })
	if err := os.WriteFile(watched, []byte("z"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-loads:
		t.Fatal("reloaded during a reload")
	case <-time.After(300 * time.Millisecond):
	}
	onLoop(func() { m.reloading = nil })
	wantLoad("after the reload in progress")
}
