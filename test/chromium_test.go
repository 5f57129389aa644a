package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// chromium is a headless Chromium started by a test and driven over the
// DevTools protocol, in real time: --dump-dom cannot wait for a page's
// websocket traffic, since virtual time runs ahead of its I/O.
type chromium struct {
	t    testing.TB
	port string // the DevTools HTTP port
}

// startChromium starts headless Chromium (bin) on url, with extra flags;
// the test's cleanup kills it and its helper processes.
func startChromium(t *testing.T, bin, url string, flags ...string) *chromium {
	t.Helper()
	profile := tempDir(t)
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"}, flags...)
	cmd := exec.Command(bin, append(args, url)...)
	// Its own process group, so that its helpers (zygote, renderer, GPU
	// and network processes) end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	// Chromium writes the port it chose into DevToolsActivePort.
	c := &chromium{t: t}
	waitFor(t, slow(15*time.Second), "chromium's DevToolsActivePort", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("chromium exited early\nstderr: %s", stderr.Bytes())
		default:
		}
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err != nil {
			return false, err.Error()
		}
		c.port, _, _ = strings.Cut(string(b), "\n")
		return c.port != "", string(b)
	})
	return c
}

// cdpTarget is a DevTools target, as /json/list and /json/new give it.
type cdpTarget struct{ Type, URL, WebSocketDebuggerURL string }

// page connects to the open page whose URL is url, waiting for it to show
// up among the targets.
func (c *chromium) page(ctx context.Context, url string) *cdpPage {
	c.t.Helper()
	var target string
	waitFor(c.t, slow(10*time.Second), "the page's DevTools target", func() (bool, string) {
		resp, err := http.Get("http://127.0.0.1:" + c.port + "/json/list")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var list []cdpTarget
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return false, err.Error()
		}
		for _, l := range list {
			if l.Type == "page" && l.URL == url {
				target = l.WebSocketDebuggerURL
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", list)
	})
	return &cdpPage{t: c.t, ctx: ctx, conn: dialWS(ctx, c.t, target)}
}

// newPage opens url in another tab and connects to it.
func (c *chromium) newPage(ctx context.Context, url string) *cdpPage {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://127.0.0.1:"+c.port+"/json/new?"+neturl.QueryEscape(url), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("devtools: a new tab: %v", err)
	}
	defer resp.Body.Close()
	var tg cdpTarget
	if err := json.NewDecoder(resp.Body).Decode(&tg); err != nil || tg.WebSocketDebuggerURL == "" {
		c.t.Fatalf("devtools: a new tab: status %d, %+v, %v", resp.StatusCode, tg, err)
	}
	return &cdpPage{t: c.t, ctx: ctx, conn: dialWS(ctx, c.t, tg.WebSocketDebuggerURL)}
}

// cdpPage is one tab's DevTools connection.
type cdpPage struct {
	t    testing.TB
	ctx  context.Context
	conn *websocket.Conn
	id   int
}

// call sends one DevTools command and returns its result, skipping the
// events that arrive meanwhile.
func (p *cdpPage) call(method string, params any) json.RawMessage {
	p.t.Helper()
	p.id++
	req, err := json.Marshal(map[string]any{"id": p.id, "method": method, "params": params})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.conn.Write(p.ctx, websocket.MessageText, req); err != nil {
		p.t.Fatalf("devtools %s: %v", method, err)
	}
	for {
		_, b, err := p.conn.Read(p.ctx)
		if err != nil {
			p.t.Fatalf("devtools %s: %v", method, err)
		}
		var r struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if json.Unmarshal(b, &r) != nil || r.ID != p.id {
			continue
		}
		if r.Error != nil {
			p.t.Fatalf("devtools %s: %s", method, r.Error.Message)
		}
		return r.Result
	}
}

// eval evaluates a JavaScript expression whose value is a string. An
// exception is an error, not a failure: while a page loads, its context
// may be replaced under the expression ("Execution context was
// destroyed"), so callers poll until it succeeds.
func (p *cdpPage) eval(expr string) (string, error) {
	p.t.Helper()
	var r struct {
		Result           struct{ Value string }
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	if err := json.Unmarshal(p.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &r); err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	if e := r.ExceptionDetails; e != nil {
		return "", fmt.Errorf("evaluating %s: %s %s", expr, e.Text, e.Exception.Description)
	}
	return r.Result.Value, nil
}

// evalNow is eval for a page known to be loaded: an exception fails the
// test.
func (p *cdpPage) evalNow(expr string) string {
	p.t.Helper()
	v, err := p.eval(expr)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// waitEval polls expr until cond accepts its value, and returns it.
func (p *cdpPage) waitEval(timeout time.Duration, what, expr string, cond func(string) bool) string {
	p.t.Helper()
	var v string
	waitFor(p.t, timeout, what, func() (bool, string) {
		var err error
		if v, err = p.eval(expr); err != nil {
			return false, err.Error()
		}
		return cond(v), v
	})
	return v
}

// typeLine types text into the focused element and presses Enter, as a
// person would (the key event carries "\r", which submits a form).
func (p *cdpPage) typeLine(text string) {
	p.t.Helper()
	p.call("Input.insertText", map[string]any{"text": text})
	enter := map[string]any{"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
	down := map[string]any{"type": "keyDown", "text": "\r"}
	for k, v := range enter {
		down[k] = v
	}
	p.call("Input.dispatchKeyEvent", down)
	enter["type"] = "keyUp"
	p.call("Input.dispatchKeyEvent", enter)
}
