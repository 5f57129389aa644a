package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/workermand/workermand/handlers/demo"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

func TestOptions(t *testing.T) {
	h, err := workerman.NewHandler("demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := h.(*demo.Handler); !ok || d.ChatPort != 8081 {
		t.Errorf(`NewHandler("demo") = %#v, want *demo.Handler with chat_port 8081`, h)
	}
	for _, bad := range []string{`chat_port = 0`, `chat_port = 65536`, `colour = "red"`} {
		if _, err := workerman.NewHandler("demo", workermantest.DecodeTOML(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	// The protocol picks the role; no other protocol has one.
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.Handler = h
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), "not text") {
		t.Errorf("the demo handler on a text:// worker: %v", err)
	}
}

// get fetches url and returns the status, a header and the body.
func get(t *testing.T, method, url string) (int, nethttp.Header, string) {
	t.Helper()
	req, err := nethttp.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := nethttp.Client{Timeout: workermantest.Timeout}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestPage(t *testing.T) {
	w := workermantest.HandlerWorker(t, "demo", "demo-page", "http://127.0.0.1:0", `chat_port = 9999`)
	workermantest.Start(t, w)
	base := "http://" + w.Addr().String()

	code, h, body := get(t, "GET", base+"/")
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", code, h.Get("Content-Type"))
	}
	if !strings.Contains(body, `data-chat-port="9999"`) {
		t.Error("the page does not carry chat_port")
	}
	// The message box is the page's first text input.
	if i := strings.Index(body, "<input"); i < 0 || !strings.HasPrefix(body[i:], `<input id="line"`) {
		t.Errorf("first input: %.60q", body[max(i, 0):])
	}

	code, _, body = get(t, "GET", base+"/stats")
	var row struct {
		Worker      string
		ID, PID     int
		Connections int
		QPS         *float64
	}
	if err := json.Unmarshal([]byte(body), &row); err != nil || code != 200 {
		t.Fatalf("GET /stats: %d %q: %v", code, body, err)
	}
	if row.Worker != "demo-page" || row.PID != os.Getpid() || row.Connections < 1 || row.QPS == nil {
		t.Errorf("GET /stats: %+v", row)
	}

	if code, h, _ := get(t, "POST", base+"/"); code != 405 || h.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", code, h.Get("Allow"))
	}
	if code, _, _ := get(t, "GET", base+"/index.html"); code != 404 {
		t.Errorf("GET /index.html: %d", code)
	}
}

// event is what the chat sends.
type event struct {
	Type, You, From, Text string
	Proc                  *struct {
		Worker      string
		Connections int
	}
}

// page is one chat client.
type page struct {
	t    *testing.T
	c    *websocket.Conn
	name string
}

func join(t *testing.T, ctx context.Context, url string) *page {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	p := &page{t: t, c: c}
	p.name = p.next(ctx, "hello").You
	if p.name == "" {
		t.Fatal("hello names no one")
	}
	return p
}

func (p *page) say(ctx context.Context, typ websocket.MessageType, s string) {
	p.t.Helper()
	if err := p.c.Write(ctx, typ, []byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// next returns the next event of type typ, skipping stats (which come every
// second) and failing on any other.
func (p *page) next(ctx context.Context, typ string) event {
	p.t.Helper()
	for {
		_, b, err := p.c.Read(ctx)
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var e event
		if err := json.Unmarshal(b, &e); err != nil {
			p.t.Fatalf("%q: %v", b, err)
		}
		if e.Type == typ {
			return e
		}
		if e.Type != "stats" {
			p.t.Fatalf("waiting for %s, got %s", typ, b)
		}
	}
}

func startChat(t *testing.T) (string, context.Context) {
	w := workermantest.HandlerWorker(t, "demo", "demo-chat", "websocket://127.0.0.1:0", ``)
	workermantest.Start(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), workermantest.Timeout)
	t.Cleanup(cancel)
	return "ws://" + w.Addr().String() + "/", ctx
}

// Every line goes to every page, the sender's included, as it was typed
// (the page inserts it as text), with control characters made spaces.
func TestChatBroadcast(t *testing.T) {
	url, ctx := startChat(t)
	a, b := join(t, ctx, url), join(t, ctx, url)
	if a.name == b.name {
		t.Fatalf("both pages are %s", a.name)
	}
	const line = `<img src=x onerror="alert(1)"> & "hi"`
	a.say(ctx, websocket.MessageText, "  "+line+"\n")
	for _, p := range []*page{a, b} {
		if e := p.next(ctx, "line"); e.From != a.name || e.Text != line {
			t.Errorf("%s got %+v, want %q from %s", p.name, e, line, a.name)
		}
	}
	b.say(ctx, websocket.MessageText, "tab\there\x1b[31m")
	for _, p := range []*page{a, b} {
		if e := p.next(ctx, "line"); e.From != b.name || e.Text != "tab here [31m" {
			t.Errorf("%s got %+v", p.name, e)
		}
	}

	// The chat process's row, every second.
	var e event
	for e.Proc == nil || e.Proc.Connections != 2 {
		e = a.next(ctx, "stats")
	}
	if e.Proc.Worker != "demo-chat" {
		t.Errorf("stats: %+v", *e.Proc)
	}
}

// Lines that are too long, binary, or come too fast reach no one; the
// sender is told why.
func TestChatLimits(t *testing.T) {
	url, ctx := startChat(t)
	a, b := join(t, ctx, url), join(t, ctx, url)

	a.say(ctx, websocket.MessageText, strings.Repeat("é", 501))
	if e := a.next(ctx, "error"); !strings.Contains(e.Text, "at most 500 characters") {
		t.Errorf("long line: %+v", e)
	}
	a.say(ctx, websocket.MessageBinary, "bytes")
	if e := a.next(ctx, "error"); !strings.Contains(e.Text, "text") {
		t.Errorf("binary: %+v", e)
	}
	a.say(ctx, websocket.MessageText, strings.Repeat("é", 500)) // just fits
	if e := b.next(ctx, "line"); len(e.Text) != 1000 {
		t.Errorf("a line of 500 characters arrived as %d bytes", len(e.Text))
	}
	a.next(ctx, "line")

	// A burst: the bucket (10 lines, minus the one above, refilled at 2
	// a second) lets some through, then refuses.
	const n = 30
	start := time.Now()
	for i := range n {
		a.say(ctx, websocket.MessageText, fmt.Sprint("burst ", i))
	}
	passed, refused := 0, 0
	for passed+refused < n {
		_, msg, err := a.c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d passed and %d refused: %v", passed, refused, err)
		}
		switch {
		case strings.Contains(string(msg), `"type":"line"`):
			passed++
		case strings.Contains(string(msg), "lines a second"):
			refused++
		}
	}
	// Tokens refill while the burst is being sent and read.
	most := 9 + int(time.Since(start).Seconds()*2) + 1
	if passed < 9 || passed > most || refused == 0 {
		t.Errorf("burst of %d: %d passed, %d refused; want 9 to %d passed", n, passed, refused, most)
	}
	// b saw the lines that passed and nothing else.
	for range passed {
		if e := b.next(ctx, "line"); !strings.HasPrefix(e.Text, "burst ") {
			t.Errorf("b got %+v", e)
		}
	}
}
