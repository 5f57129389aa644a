package exec_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/workermand/workermand/handlers/exec"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// The test binary is also the fake program: EXEC_FAKE selects its mode.
func TestMain(m *testing.M) {
	if mode := os.Getenv("EXEC_FAKE"); mode != "" {
		fake(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fake is the program: "echo" greets on connect and echoes messages;
// "garbage" writes malformed lines first; "exit" exits on the message
// "die"; "noread" never reads its stdin.
func fake(mode string) {
	out := bufio.NewWriter(os.Stdout)
	emit := func(v map[string]any) {
		b, _ := json.Marshal(v)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	switch mode {
	case "exit0":
		return
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "ignoring SIGTERM")
		time.Sleep(time.Hour)
		return
	}
	if mode == "http" {
		fakeHTTP(out, emit)
		return
	}
	if mode == "noread" {
		time.Sleep(time.Hour)
		return
	}
	if mode == "garbage" {
		fmt.Fprintln(out, "not json")
		fmt.Fprintln(out, `{"cmd":"nope"}`)
		fmt.Fprintln(out, `{"cmd":"send"}`)
		fmt.Fprintln(out, `{"cmd":"send","conn":"1-1"}`) // another process's: ignored
		fmt.Fprintln(out, `{"cmd":"broadcast"}`)
		out.WriteString(`{"cmd":"send","data":"` + strings.Repeat("x", exec.MaxLine+10) + "\"}\n")
		out.Flush()
	}
	fmt.Fprintln(os.Stderr, "fake started")
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(os.Stderr, "bad event:", err)
			os.Exit(3)
		}
		switch e["event"] {
		case "connect":
			if e["path"] != nil { // a websocket: what the upgrade request said
				h := e["headers"].(map[string]any)
				emit(map[string]any{"cmd": "send", "conn": e["conn"], "data": fmt.Sprintf("hello %s %s?%s %s %s", e["conn"], e["path"], e["query"], h["x-a"], h["cookie"])})
				continue
			}
			emit(map[string]any{"cmd": "send", "conn": e["conn"], "data": "hello " + e["conn"].(string)})
		case "message":
			if e["data"] == "die" && mode == "exit" {
				os.Exit(1)
			}
			if e["data_b64"] != nil {
				emit(map[string]any{"cmd": "send", "conn": e["conn"], "data": "b64 " + e["data_b64"].(string)})
				continue
			}
			if e["data"] == "bin" {
				emit(map[string]any{"cmd": "send", "conn": e["conn"], "data_b64": "//4="})
				continue
			}
			if e["data"] == "join" {
				emit(map[string]any{"cmd": "join_group", "conn": e["conn"], "group": "g"})
				emit(map[string]any{"cmd": "bind_uid", "conn": e["conn"], "uid": "u"})
				emit(map[string]any{"cmd": "send_to_group", "group": "g", "data": "in g"})
				emit(map[string]any{"cmd": "send_to_uid", "uid": "u", "data": "to u"})
				emit(map[string]any{"cmd": "broadcast", "data": "to all"})
				continue
			}
			emit(map[string]any{"cmd": "send", "conn": e["conn"], "data": e["data"]})
			if e["data"] == "bye" {
				emit(map[string]any{"cmd": "close", "conn": e["conn"]})
			}
		}
	}
}

// fakeHTTP answers requests: /slow never, /exit by exiting, others 201
// with what it was asked.
func fakeHTTP(out *bufio.Writer, emit func(map[string]any)) {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e["event"] != "request" {
			continue
		}
		switch e["path"] {
		case "/slow":
			continue
		case "/send": // not how an http worker answers: counted, then answered
			emit(map[string]any{"cmd": "send", "conn": e["conn"], "data": "raw"})
		case "/exit":
			os.Exit(1)
		}
		h := e["headers"].(map[string]any)
		emit(map[string]any{"cmd": "response", "conn": e["conn"], "req": e["req"], "status": 201,
			"headers": map[string]any{"Content-Type": "text/plain", "X-Multi": []string{"a", "b"}, "Content-Length": "1"},
			"body":    fmt.Sprintf("%s %s?%s %v [%s]", e["method"], e["path"], e["query"], h["x-a"], e["body"])})
	}
}

// procs are the processes start started.
var procs = map[*workerman.Worker]*workerman.Process{}

func start(t *testing.T, mode, options string) (*workerman.Worker, *exec.Handler) {
	return startOn(t, "text://127.0.0.1:0", mode, options)
}

func startOn(t *testing.T, listen, mode, options string) (*workerman.Worker, *exec.Handler) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := workermantest.HandlerWorker(t, "exec", "app", listen,
		fmt.Sprintf("command = [%q]\nenv = { EXEC_FAKE = %q }\n%s", self, mode, options))
	procs[w] = workermantest.Start(t, w)
	return w, w.Handler.(*exec.Handler)
}

type line struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, w *workerman.Worker) *line {
	c := workermantest.Dial(t, w)
	return &line{c, bufio.NewReader(c)}
}

func (l *line) send(t *testing.T, s string) {
	t.Helper()
	if _, err := l.Write([]byte(s + "\n")); err != nil {
		t.Fatal(err)
	}
}

func (l *line) next(t *testing.T) string {
	t.Helper()
	_ = l.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	s, err := l.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

func (l *line) expect(t *testing.T, want string) {
	t.Helper()
	if got := l.next(t); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func stats(t *testing.T, w *workerman.Worker, h *exec.Handler) exec.Stats {
	return workermantest.OnLoopValue(t, w.Loop(), h.Stats)
}

func waitStats(t *testing.T, w *workerman.Worker, h *exec.Handler, what string, cond func(exec.Stats) bool) exec.Stats {
	t.Helper()
	deadline := time.Now().Add(workermantest.Timeout)
	for {
		s := stats(t, w, h)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (stats %+v)", what, workermantest.Timeout, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecOptions(t *testing.T) {
	for _, bad := range []string{``, `command = []`, `command = ["x"]` + "\nqueue_bytes = -1", `command = ["x"]` + "\nenv = { \"A=B\" = \"c\" }", `command = ["x"]` + "\nnope = 1"} {
		if _, err := workerman.NewHandler("exec", workermantest.DecodeTOML(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	h, err := workerman.NewHandler("exec", workermantest.DecodeTOML(`command = ["php", "app.php"]`))
	if err != nil {
		t.Fatal(err)
	}
	w := workerman.NewWorker("frame://127.0.0.1:0")
	w.Handler = h
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), "not frame") {
		t.Errorf("the exec handler on a frame:// worker: %v", err)
	}
	if _, err := workerman.NewHandler("exec", workermantest.DecodeTOML(`command = ["x"]`+"\nrequest_timeout = 30")); err == nil {
		t.Errorf("request_timeout = 30 (nanoseconds): accepted")
	}
}

func TestExecEcho(t *testing.T) {
	w, h := start(t, "echo", "")
	c := dial(t, w)
	greet := c.next(t)
	id := strings.TrimPrefix(greet, "hello ")
	if !strings.HasPrefix(id, fmt.Sprintf("%d-", os.Getpid())) {
		t.Fatalf("greeting %q: want a %d-<id> connection id", greet, os.Getpid())
	}
	c.send(t, "héllo")
	c.expect(t, "héllo")
	c.send(t, "\xff\xfe")
	c.expect(t, "b64 //4=")

	d := dial(t, w)
	d.next(t)
	d.send(t, "join")
	for _, want := range []string{"in g", "to u", "to all"} {
		d.expect(t, want)
	}
	c.expect(t, "to all")

	c.send(t, "bye")
	c.expect(t, "bye")
	_ = c.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	if s, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after close: read %q", s)
	}
	if s := stats(t, w, h); s.Malformed != 0 || s.Starts != 1 || !s.Running {
		t.Errorf("stats %+v", s)
	}
}

func TestExecMalformed(t *testing.T) {
	w, h := start(t, "garbage", "")
	c := dial(t, w)
	c.next(t)
	c.send(t, "still")
	c.expect(t, "still")
	s := waitStats(t, w, h, "5 malformed lines", func(s exec.Stats) bool { return s.Malformed >= 5 })
	if s.Malformed != 5 || s.Starts != 1 {
		t.Errorf("stats %+v: want 5 malformed lines, 1 start", s)
	}
}

// A program that exits is started again; the clients keep their
// connections and are announced to the new instance.
func TestExecRestart(t *testing.T) {
	w, h := start(t, "exit", "")
	c := dial(t, w)
	c.next(t)
	first := stats(t, w, h).Pid
	c.send(t, "die")
	s := waitStats(t, w, h, "a restart", func(s exec.Stats) bool { return s.Starts == 2 && s.Running })
	if s.Pid == first {
		t.Errorf("same pid %d after a restart", s.Pid)
	}
	c.next(t) // the new instance greets the connection it is told about
	c.send(t, "again")
	c.expect(t, "again")

	// Killed from outside: the same.
	p, _ := os.FindProcess(s.Pid)
	_ = p.Kill()
	waitStats(t, w, h, "a second restart", func(s exec.Stats) bool { return s.Starts == 3 && s.Running })
	c.next(t)
	c.send(t, "still")
	c.expect(t, "still")
}

// A program that never reads its stdin: the clients are paused, and what
// was read already is dropped past the cap, so the queue stays bounded.
func TestExecNoRead(t *testing.T) {
	w, h := start(t, "noread", "queue_bytes = 65536")
	var conns []*line
	for range 4 {
		conns = append(conns, dial(t, w))
	}
	stop := make(chan struct{})
	defer close(stop)
	chunk := strings.Repeat("y", 1000) + "\n"
	for _, c := range conns {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Write([]byte(chunk)); err != nil && !isTimeout(err) {
					return
				}
			}
		}()
	}
	waitStats(t, w, h, "the clients paused", func(s exec.Stats) bool { return s.Paused })
	time.Sleep(500 * time.Millisecond)
	// The pipe holds 64 KiB, the queue at most 4 × 64 KiB: far below what
	// the clients would have sent in that time unpaused.
	if q := workermantest.OnLoopValue(t, w.Loop(), func() int { return h.QueuedBytes() }); q > 4*65536 {
		t.Errorf("queued %d bytes, over the 256 KiB cap", q)
	}
}

// A program that exits at once is started again after 100, 200, 400,
// 800 ms…: not more than 5 times in 1.2 s.
func TestExecBackoff(t *testing.T) {
	w, h := start(t, "exit0", "")
	waitStats(t, w, h, "a restart", func(s exec.Stats) bool { return s.Starts >= 2 })
	time.Sleep(1200 * time.Millisecond)
	if s := stats(t, w, h); s.Starts > 5 {
		t.Errorf("%d starts in about 1.2 s: no back-off", s.Starts)
	}
}

// A program that ignores SIGTERM is killed 2 s after it, with the process.
func TestExecStopKills(t *testing.T) {
	w, h := start(t, "stubborn", "")
	pid := waitStats(t, w, h, "the program", func(s exec.Stats) bool { return s.Running }).Pid
	time.Sleep(200 * time.Millisecond) // let it ignore SIGTERM first
	workermantest.Stop(t, procs[w])
	// Reaped by the process's Wait before the stop returned: gone.
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("program %d still there after the process stopped", pid)
	}
}

// On a websocket worker: the greeting after the handshake, text frames
// echoed as text, binary ones of other bytes as binary.
func TestExecWebSocket(t *testing.T) {
	w, _ := startOn(t, "websocket://127.0.0.1:0", "echo", "")
	ctx, cancel := context.WithTimeout(context.Background(), workermantest.Timeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+w.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := func() (websocket.MessageType, string) {
		t.Helper()
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return typ, string(b)
	}
	if typ, s := read(); typ != websocket.MessageText || !strings.HasPrefix(s, "hello ") {
		t.Fatalf("greeting: %v %q", typ, s)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if typ, s := read(); typ != websocket.MessageText || s != "hi" {
		t.Fatalf("echo: %v %q", typ, s)
	}
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if typ, s := read(); typ != websocket.MessageText || s != "b64 //4=" {
		t.Fatalf("binary: %v %q", typ, s)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("bin")); err != nil {
		t.Fatal(err)
	}
	if typ, s := read(); typ != websocket.MessageBinary || s != "\xff\xfe" {
		t.Fatalf("data_b64 of other bytes: %v %q, want a binary frame", typ, s)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// The connect event of a websocket carries the upgrade request: path,
// query and lower-case headers, a repeated cookie joined with "; ".
func TestExecWebSocketConnect(t *testing.T) {
	w, _ := startOn(t, "websocket://127.0.0.1:0", "echo", "")
	c, err := net.Dial("tcp", w.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ch%%C3%%A9at?room=1&x=%%20 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-A: one\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n")
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, msg); err != nil {
		t.Fatal(err)
	}
	if got, want := string(msg), " /chéat?room=1&x=%20 one a=1; b=2"; !strings.HasSuffix(got, want) {
		t.Errorf("greeting %q, want it to end in %q", got, want)
	}
}

// An http:// worker: each request is an event, the response command
// answers it (status, fields, body); pipelined requests are answered in
// order; one left unanswered gets 504 after request_timeout, and those
// pending when the program exits, or arriving while it is down, 503.
func TestExecHTTP(t *testing.T) {
	w, h := startOn(t, "http://127.0.0.1:0", "http", `request_timeout = "500ms"`)
	c := dial(t, w)
	// The program may take longer than the timeout to start (the race
	// detector, a busy machine): ask until it answers.
	for i := 0; ; i++ {
		fmt.Fprintf(c, "GET /warm HTTP/1.1\r\nHost: h\r\n\r\n")
		if status, _, _ := readResponse(t, c); status == 201 {
			break
		} else if i == 20 {
			t.Fatalf("the program never answered: %d", status)
		}
	}
	before := stats(t, w, h)
	var pipe strings.Builder
	for i := range 3 {
		fmt.Fprintf(&pipe, "POST /p%d?q=%d HTTP/1.1\r\nHost: h\r\nX-A: v%d\r\nContent-Length: 2\r\n\r\nb%d", i, i, i, i)
	}
	pipe.WriteString("GET /send HTTP/1.1\r\nHost: h\r\n\r\nGET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := c.Write([]byte(pipe.String())); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		status, head, body := readResponse(t, c)
		if want := fmt.Sprintf("POST /p%d?q=%d v%d [b%d]", i, i, i, i); status != 201 || body != want {
			t.Fatalf("response %d: %d %q, want 201 %q", i, status, body, want)
		}
		if !strings.Contains(head, "X-Multi: a\r\nX-Multi: b\r\n") || !strings.Contains(head, "Content-Type: text/plain\r\n") {
			t.Errorf("response %d head:\n%s", i, head)
		}
	}
	if status, _, body := readResponse(t, c); status != 201 || body != "GET /send? <nil> []" {
		t.Fatalf("/send: %d %q, want only the response", status, body)
	}
	start := time.Now()
	if status, _, _ := readResponse(t, c); status != 504 {
		t.Fatalf("/slow: %d, want 504", status)
	} else if d := time.Since(start); d > 5*time.Second {
		t.Errorf("504 after %s, want about 500ms", d)
	}
	if status, _, body := readResponse(t, c); status != 201 || body != "GET /after? <nil> []" {
		t.Fatalf("after the 504: %d %q", status, body)
	}

	// Pending when the program exits: 503 at once, not 504 later.
	d := dial(t, w)
	fmt.Fprintf(d, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	waitStats(t, w, h, "the request pending", func(s exec.Stats) bool { return s.Pending == 1 })
	fmt.Fprintf(c, "GET /exit HTTP/1.1\r\nHost: h\r\n\r\n")
	if status, _, _ := readResponse(t, d); status != 503 {
		t.Errorf("pending at the exit: %d, want 503", status)
	}
	if status, _, _ := readResponse(t, c); status != 503 {
		t.Errorf("the request that made it exit: %d, want 503", status)
	}
	s := stats(t, w, h)
	s.Timeouts -= before.Timeouts
	if s.Timeouts != 1 || s.Unavailable < 2 || s.Malformed != 1 {
		t.Errorf("stats %+v: want 1 timeout, 2 unavailable, 1 malformed (the send)", s)
	}
}

// readResponse reads one response with a Content-Length body.
func readResponse(t *testing.T, l *line) (int, string, string) {
	t.Helper()
	_ = l.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	var head strings.Builder
	n := -1
	for {
		s, err := l.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a response: %v (head so far %q)", err, head.String())
		}
		head.WriteString(s)
		if s == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(s), "content-length: "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, max(n, 0))
	if _, err := io.ReadFull(l.r, body); err != nil {
		t.Fatal(err)
	}
	var status int
	fmt.Sscanf(head.String(), "HTTP/1.1 %d", &status)
	return status, head.String(), string(body)
}
