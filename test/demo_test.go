package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The embedded default's fixed addresses: the echo, the demo's page and its
// chat.
var demoAddrs = []string{"127.0.0.1:2347", "127.0.0.1:8080", "127.0.0.1:8081"}

// startDemo runs `workermand start` in the foreground with no config file
// (none in its directory, none in its environment), so it serves the
// embedded default, and waits until its ports answer. The test's cleanup
// stops it. The addresses are fixed: a test skips when one is taken (a
// `make run` in another terminal).
func startDemo(t *testing.T) {
	t.Helper()
	for _, a := range demoAddrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Skipf("%s is taken (a demo already running?): the embedded default needs it", a)
		}
	}
	d := newDaemon(t, stockBin) // a directory without workermand.toml, and the cleanup
	cmd := exec.Command(stockBin, "start")
	cmd.Dir = d.dir
	cmd.Env = append(cleanEnv(), d.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Runs before d's cleanup, which then finds nothing of it left.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(slow(10 * time.Second)):
			t.Errorf("the master %d did not stop within 10 s of SIGTERM; killing it", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("workermand start:\n%s", out.Bytes())
		}
	})
	waitFor(t, slow(10*time.Second), "the embedded default's three workers", func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("workermand start exited: %v\n%s", err, out.Bytes())
		default:
		}
		for _, a := range demoAddrs {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false, err.Error()
			}
			c.Close()
		}
		return true, ""
	})
}

// `workermand start` with no config file: the echo on :2347 as before, and
// the demo at http://127.0.0.1:8080/ opened in two Chromium tabs, where a
// line typed in one (Enter) appears in both, as text, and the panel lists
// the demo's processes.
func TestDemoEmbeddedDefault(t *testing.T) {
	bin := needTool(t, "chromium")
	startDemo(t)
	if err := echoOnce(demoAddrs[0], "hello echo"); err != nil {
		t.Errorf("echo on %s: %v", demoAddrs[0], err)
	}
	resp, err := http.Get("http://127.0.0.1:8080/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/stats: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	const url = "http://127.0.0.1:8080/"
	ctx, cancel := context.WithTimeout(context.Background(), slow(60*time.Second))
	defer cancel()
	browser := startChromium(t, bin, url)
	pages := []*cdpPage{browser.page(ctx, url), browser.newPage(ctx, url)}
	lines := "document.getElementById('lines').textContent"
	names := make([]string, len(pages))
	for i, p := range pages {
		text := p.waitEval(slow(15*time.Second), fmt.Sprintf("page %d connected to the chat", i), lines,
			func(v string) bool { return strings.Contains(v, "Connected as ") })
		_, name, _ := strings.Cut(text, "Connected as ")
		names[i], _, _ = strings.Cut(name, ".")
	}

	// Typed in the first tab, into the page's first text input.
	line := `<b id="injected">bold?</b> & ` + strconv.FormatInt(time.Now().UnixNano(), 36)
	if got := pages[0].evalNow(`(() => { const i = document.querySelector('input'); i.focus(); return i.id; })()`); got != "line" {
		t.Fatalf("the page's first input is %q, want the message box", got)
	}
	pages[0].typeLine(line)
	for i, p := range pages {
		p.waitEval(slow(10*time.Second), fmt.Sprintf("the line in page %d", i), lines,
			func(v string) bool { return strings.Contains(v, names[0]+": "+line) })
		if got := p.evalNow(`String(document.getElementById('injected'))`); got != "null" {
			t.Errorf("page %d: the line was inserted as HTML: %s", i, got)
		}
	}
	if got := pages[0].evalNow(`document.querySelector('input').value`); got != "" {
		t.Errorf("the message box still holds %q after Enter", got)
	}

	// The panel: a row for each of the demo's processes, with counters.
	for i, p := range pages {
		p.waitEval(slow(10*time.Second), fmt.Sprintf("page %d's panel", i), `document.getElementById('procs').innerText`,
			func(v string) bool { return strings.Contains(v, "demo-page #0") && strings.Contains(v, "demo-chat #0") })
	}
}
