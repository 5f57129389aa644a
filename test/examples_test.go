package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The examples (../examples, a module of its own that requires this one
// through a replace, as a user's program would) are built with go build in
// their module and run as a user runs them: `start -d`, with the addresses
// in the environment and a config file holding only the global keys (pid
// file, control socket, log and stdout files), then talked to over
// 127.0.0.1 with real clients and stopped.

// exampleBins builds every example once, into the directory of the
// suite's binaries (removed by TestMain).
var exampleBins = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(filepath.Dir(stockBin), "examples")
	args := []string{"build", "-o", dir + "/"}
	if raceBinaries {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, "./...")...)
	cmd.Dir = filepath.Join("..", "examples")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("in ../examples: go %v: %v\n%s", cmd.Args[1:], err, b)
	}
	return dir, nil
})

// startExample runs example name through `start -d` with env (KEY=value:
// its addresses) and returns its daemon; the test's cleanup stops it.
func startExample(t *testing.T, name string, env ...string) *daemon {
	t.Helper()
	dir, err := exampleBins()
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, filepath.Join(dir, name))
	d.env = append(d.env, env...)
	d.writeConfig() // the global keys only: the workers are the program's
	d.start()
	return d
}

// stopExample runs stop, which must succeed, and checks that the master
// and its processes are gone and every one of addrs is free again.
func stopExample(t *testing.T, d *daemon, addrs ...string) {
	t.Helper()
	st := d.mustStatus()
	if r := d.mustRun(0, "stop"); !strings.Contains(r.out, "stopped") {
		t.Errorf("stop said %q", r.out)
	}
	checkStopped(t, d, st, addrs[0])
	for _, a := range addrs[1:] {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still taken after stop: %v", a, err)
			continue
		}
		ln.Close()
	}
}

// loopback is 127.0.0.1 with a port free a moment ago.
func loopback(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(freePort(t))
}

// readLine reads one line (without its newline) within the client's
// deadline.
func (c *client) readLine(t *testing.T) string {
	t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a line: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func (c *client) writeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

// wsRead reads one text message.
func wsRead(ctx context.Context, t *testing.T, c *websocket.Conn) string {
	t.Helper()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("websocket read: a %v message %q, want text", typ, b)
	}
	return string(b)
}

func wsWrite(ctx context.Context, t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("websocket write %q: %v", msg, err)
	}
}

// httpGet fetches url with a bounded client and returns the status, the
// Content-Type and the body.
func httpGet(t *testing.T, url string) (int, string, string) {
	t.Helper()
	cl := &http.Client{Timeout: slow(10 * time.Second)}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// examples/chat, and with it the daemon a code-first program gets from
// RunAll: status --json lists the program's two workers (chat, count 1;
// page, count 2) and their processes; the page is served and names the
// chat's port; a message from one websocket reaches both, the sender's
// included; reload replaces every process under the same master and the
// chat keeps working; stop ends it all and frees the ports.
func TestExampleChat(t *testing.T) {
	t.Parallel()
	pageAddr, wsAddr := loopback(t), loopback(t)
	d := startExample(t, "chat", "CHAT_PAGE_ADDR="+pageAddr, "CHAT_WS_ADDR="+wsAddr)
	d.waitReady("chat", 1)
	st := d.waitReady("page", 2)

	for _, w := range []struct {
		name, listen string
		count        int
	}{{"chat", "websocket://" + wsAddr, 1}, {"page", "http://" + pageAddr, 2}} {
		got := st.worker(w.name)
		if got.Listen != w.listen || got.Count != w.count {
			t.Errorf("status --json: worker %s is %+v, want listen %s, count %d", w.name, got, w.listen, w.count)
		}
	}
	if len(st.Workers) != 2 || len(st.Processes) != 3 {
		t.Errorf("status --json: %d workers and %d processes, want 2 and 3: %+v", len(st.Workers), len(st.Processes), st)
	}

	// chat checks what a user sees: the page, and a line from one page
	// reaching both.
	chat := func(when string) {
		t.Helper()
		code, ctype, body := httpGet(t, "http://"+pageAddr+"/")
		_, port, _ := net.SplitHostPort(wsAddr)
		if code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, `location.hostname + ":`+port+`/"`) {
			t.Fatalf("%s: GET /: %d %s, want the page pointing at port %s:\n%s", when, code, ctype, port, body)
		}
		if code, _, _ := httpGet(t, "http://"+pageAddr+"/nope"); code != 404 {
			t.Errorf("%s: GET /nope: %d, want 404", when, code)
		}
		ctx, cancel := context.WithTimeout(context.Background(), slow(10*time.Second))
		defer cancel()
		a := dialWS(ctx, t, "ws://"+wsAddr+"/")
		b := dialWS(ctx, t, "ws://"+wsAddr+"/")
		// b's handshake is done, but the server may not have registered
		// it when a's message arrives: say something from b first, so
		// that both are known.
		wsWrite(ctx, t, b, "b is here")
		for _, c := range []*websocket.Conn{a, b} {
			if got := wsRead(ctx, t, c); got != "b is here" {
				t.Fatalf("%s: got %q, want b's line", when, got)
			}
		}
		msg := "hello from a, " + when
		wsWrite(ctx, t, a, msg)
		for i, c := range []*websocket.Conn{a, b} {
			if got := wsRead(ctx, t, c); got != msg {
				t.Errorf("%s: client %d got %q, want %q", when, i, got, msg)
			}
		}
		_ = a.Close(websocket.StatusNormalClosure, "")
		_ = b.Close(websocket.StatusNormalClosure, "")
	}
	chat("before reload")

	// A page open during the reload: its websocket is closed (websocket
	// connections are not handed over, and a plain reload closes them
	// once quiet), which is when the page reconnects.
	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()
	held := dialWS(ctx, t, "ws://"+wsAddr+"/")
	wsWrite(ctx, t, held, "held")
	if got := wsRead(ctx, t, held); got != "held" {
		t.Fatalf("held connection: got %q", got)
	}

	master, old := st.Master.PID, st.pids()
	if r := d.mustRun(0, "reload"); !strings.Contains(r.out, "reloaded") {
		t.Errorf("reload said %q", r.out)
	}
	d.waitReplaced("chat", 1, old, master)
	st = d.waitReplaced("page", 2, old, master)
	if len(intersect(st.pids(), old)) > 0 || len(st.Processes) != 3 {
		t.Errorf("after reload: pids %v, before %v: want 3 new ones", st.pids(), old)
	}
	if typ, b, err := held.Read(ctx); err == nil {
		t.Errorf("the connection open during reload got a %v message %q, want it closed", typ, b)
	} else {
		t.Logf("the connection open during reload: %v", err)
	}
	chat("after reload")

	stopExample(t, d, pageAddr, wsAddr)
}

// examples/httpapi through Go's HTTP client: the routes, JSON in and out,
// 400 for a body that is not JSON, 404 for an unknown path, 405 with Allow
// for a known path and another method; every answer comes from one of the
// worker's two processes.
func TestExampleHTTPAPI(t *testing.T) {
	t.Parallel()
	addr := loopback(t)
	d := startExample(t, "httpapi", "HTTPAPI_ADDR="+addr)
	st := d.waitReady("api", 2)
	base := "http://" + addr
	cl := &http.Client{Timeout: slow(10 * time.Second)}

	do := func(method, path, ctype, body string) (int, http.Header, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
			t.Errorf("%s %s: Content-Type %q, want JSON", method, path, got)
		}
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %v", method, path, resp.StatusCode, err)
		}
		return resp.StatusCode, resp.Header, v
	}

	code, _, v := do("GET", "/hello?name=Ada", "", "")
	if code != 200 || v["hello"] != "Ada" {
		t.Errorf("GET /hello?name=Ada: %d %v", code, v)
	}
	if pid, _ := v["pid"].(float64); !slices.Contains(st.pids(), int(pid)) {
		t.Errorf("GET /hello: pid %v is none of the worker's processes %v", v["pid"], st.pids())
	}
	if code, _, v := do("GET", "/hello", "", ""); code != 200 || v["hello"] != "world" {
		t.Errorf("GET /hello: %d %v", code, v)
	}
	if code, _, v := do("POST", "/sum", "application/json", `{"numbers":[1,2,3.5]}`); code != 200 || v["sum"] != 6.5 || v["count"] != 3.0 {
		t.Errorf("POST /sum: %d %v, want sum 6.5 of 3", code, v)
	}
	for _, bad := range []struct{ ctype, body string }{
		{"application/json", `{"numbers":[1,`},
		{"application/json", `{"numbers":"1"}`},
		{"text/plain", `{"numbers":[1]}`},
	} {
		if code, _, v := do("POST", "/sum", bad.ctype, bad.body); code != 400 || v["error"] == nil {
			t.Errorf("POST /sum %s %q: %d %v, want 400 with an error", bad.ctype, bad.body, code, v)
		}
	}
	if code, _, v := do("GET", "/nope", "", ""); code != 404 || v["error"] != "not found: /nope" {
		t.Errorf("GET /nope: %d %v", code, v)
	}
	if code, h, v := do("DELETE", "/sum", "", ""); code != 405 || h.Get("Allow") != "POST" || v["error"] == nil {
		t.Errorf("DELETE /sum: %d, Allow %q, %v; want 405, Allow POST", code, h.Get("Allow"), v)
	}
	cl.CloseIdleConnections()
	stopExample(t, d, addr)
}

// examples/timers: the process-wide timer ticks to every connection; a
// client that keeps talking outlives the idle limit, one that falls silent
// is told and closed once it has passed; the status row counts the tick
// timer and one heartbeat per connection, and a closed connection's
// heartbeat is deleted at once (OnClose), not left to fire.
func TestExampleTimers(t *testing.T) {
	t.Parallel()
	const idle = 3 * time.Second
	addr := loopback(t)
	d := startExample(t, "timers", "TIMERS_ADDR="+addr, "TIMERS_TICK=200ms", "TIMERS_IDLE="+idle.String())
	d.waitReady("timers", 1)
	timers := func() int {
		ps := d.mustStatus().procs("timers")
		if len(ps) != 1 {
			t.Fatalf("status: %+v", ps)
		}
		return ps[0].Timers
	}
	if n := timers(); n != 1 {
		t.Errorf("timers with no connection: %d, want the tick's 1", n)
	}

	// Talking every 300 ms for longer than the idle limit keeps it open.
	talker := dial(t, addr)
	talker.SetDeadline(time.Now().Add(slow(20 * time.Second)))
	if line := talker.readLine(t); !strings.HasPrefix(line, "tick ") {
		t.Fatalf("first line %q, want a tick", line)
	}
	start := time.Now()
	for i := 0; time.Since(start) < idle+500*time.Millisecond; i++ {
		msg := "ping " + itoa(i)
		talker.writeLine(t, msg)
		for {
			line := talker.readLine(t)
			if line == "got "+msg {
				break
			}
			if !strings.HasPrefix(line, "tick ") {
				t.Fatalf("after %s of talking: %q, want a tick or %q", time.Since(start).Round(time.Millisecond), line, "got "+msg)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := timers(); n != 2 {
		t.Errorf("timers with one connection: %d, want 2", n)
	}
	talker.Close()
	// Its heartbeat was re-armed at most ~300 ms ago: without the Del in
	// OnClose it would stay pending for 2.5 s more.
	waitFor(t, 1500*time.Millisecond, "the closed connection's heartbeat deleted", func() (bool, string) {
		n := timers()
		return n == 1, fmt.Sprintf("%d timers", n)
	})

	// A silent client hears ticks, then the bye, then EOF.
	silent := dial(t, addr)
	start = time.Now()
	took, data, err := silent.waitEOF(idle + slow(3*time.Second))
	if err != nil {
		t.Fatalf("silent client: %v after %s (read %q)", err, took, data)
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if last := lines[len(lines)-1]; last != "bye: nothing heard for 3s" || len(lines) < 2 {
		t.Errorf("silent client read %q, want ticks then the bye", data)
	}
	if took := time.Since(start); took < idle-200*time.Millisecond {
		t.Errorf("silent client closed after %s, before the idle limit %s", took, idle)
	}
	stopExample(t, d, addr)
}

// examples/senduid: two websocket clients log in by their first message;
// the inner port, listening in the worker's process, pushes to one uid
// ("ok"), answers "offline" for an unknown one; clients send to a uid and
// to all. After a reload the inner port is served by the new process (the
// run-time listener's reason to exist) and a new login is reachable.
func TestExampleSendUID(t *testing.T) {
	t.Parallel()
	wsAddr, innerAddr := loopback(t), loopback(t)
	d := startExample(t, "senduid", "SENDUID_WS_ADDR="+wsAddr, "SENDUID_INNER_ADDR="+innerAddr)
	st := d.waitReady("senduid", 1)
	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()

	login := func(uid string) *websocket.Conn {
		t.Helper()
		c := dialWS(ctx, t, "ws://"+wsAddr+"/")
		wsWrite(ctx, t, c, uid)
		if got := wsRead(ctx, t, c); got != "login success, your uid is "+uid {
			t.Fatalf("login %s: %q", uid, got)
		}
		return c
	}
	push := func(line string) string {
		t.Helper()
		c := dial(t, innerAddr)
		defer c.Close()
		c.writeLine(t, line)
		return c.readLine(t)
	}

	alice, bob := login("alice"), login("bob")
	if got := push(`{"uid":"bob","msg":"hi bob"}`); got != "ok" {
		t.Errorf("push to bob: %q", got)
	}
	if got := wsRead(ctx, t, bob); got != "hi bob" {
		t.Errorf("bob got %q", got)
	}
	if got := push(`{"uid":"carol","msg":"hi"}`); got != "offline" {
		t.Errorf("push to carol: %q, want offline", got)
	}
	if got := push(`not json`); !strings.HasPrefix(got, "error:") {
		t.Errorf("push of a bad line: %q, want an error", got)
	}
	wsWrite(ctx, t, alice, "bob:hello")
	if got := wsRead(ctx, t, bob); got != "alice: hello" {
		t.Errorf("bob got %q", got)
	}
	wsWrite(ctx, t, alice, "all:hey")
	for name, c := range map[string]*websocket.Conn{"alice": alice, "bob": bob} {
		if got := wsRead(ctx, t, c); got != "alice: hey" {
			t.Errorf("%s got %q", name, got)
		}
	}
	// alice's own push arrives after everything above: she got nothing
	// else, bob's private messages included.
	if got := push(`{"uid":"alice","msg":"only you"}`); got != "ok" {
		t.Errorf("push to alice: %q", got)
	}
	if got := wsRead(ctx, t, alice); got != "only you" {
		t.Errorf("alice got %q, want only her push", got)
	}
	// The inner connection counts in the process's status row while open.
	held := dial(t, innerAddr)
	held.writeLine(t, `{"uid":"carol","msg":"x"}`)
	if got := held.readLine(t); got != "offline" {
		t.Errorf("held inner connection: %q", got)
	}
	if p := d.mustStatus().procs("senduid"); len(p) != 1 || p[0].Connections != 3 {
		t.Errorf("status with 2 websockets and 1 inner connection: %+v, want 3 connections", p)
	}
	held.Close()

	d.mustRun(0, "reload")
	st = d.waitReplaced("senduid", 1, st.pids(), st.Master.PID)
	carol := login("carol")
	if got := push(`{"uid":"carol","msg":"after reload"}`); got != "ok" {
		t.Errorf("push after reload: %q", got)
	}
	if got := wsRead(ctx, t, carol); got != "after reload" {
		t.Errorf("carol got %q", got)
	}
	// The inner port closes with the process that listened.
	stopExample(t, d, wsAddr, innerAddr)
}

// examples/broadcast: three text clients, each welcomed with its id; a
// line from one reaches all three, prefixed with the sender's id.
func TestExampleBroadcast(t *testing.T) {
	t.Parallel()
	addr := loopback(t)
	d := startExample(t, "broadcast", "BROADCAST_ADDR="+addr)
	d.waitReady("broadcast", 1)
	var clients []*client
	var ids []string
	for range 3 {
		c := dial(t, addr)
		line := c.readLine(t)
		id, ok := strings.CutPrefix(line, "welcome, you are ")
		if !ok {
			t.Fatalf("first line %q, want the welcome", line)
		}
		clients, ids = append(clients, c), append(ids, id)
	}
	// Every client has been welcomed, so each is in the worker's
	// connections when the lines go out.
	for i, from := range clients {
		msg := "line " + itoa(i)
		from.writeLine(t, msg)
		for j, c := range clients {
			if got := c.readLine(t); got != ids[i]+": "+msg {
				t.Errorf("client %d got %q, want %q", j, got, ids[i]+": "+msg)
			}
		}
	}
	stopExample(t, d, addr)
}

// examples/proxy in front of an echo server of the test's: lines and 4 MiB
// of random bytes come back intact through it (both Pipes, flow control
// with a client reading while it writes); closing the client closes the
// proxy's backend connection; with the backend gone a new client is
// closed, since Pipe closes it with the failed AsyncTcpConnection.
func TestExampleProxy(t *testing.T) {
	t.Parallel()
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	backendClosed := make(chan struct{}, 16)
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c) // until the proxy closes its side
				backendClosed <- struct{}{}
			}()
		}
	}()

	addr := loopback(t)
	d := startExample(t, "proxy", "PROXY_ADDR="+addr, "PROXY_BACKEND="+backend.Addr().String())
	d.waitReady("proxy", 2)

	c := dial(t, addr)
	c.mustEcho(t, "through the proxy")
	big := make([]byte, 4<<20)
	rand.Read(big)
	werr := make(chan error, 1)
	go func() { _, err := c.Write(big); werr <- err }()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c.r, got); err != nil {
		t.Fatalf("reading 4 MiB back: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing 4 MiB: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("4 MiB came back different")
	}
	c.Close()
	select {
	case <-backendClosed:
	case <-time.After(slow(5 * time.Second)):
		t.Error("the backend connection was not closed within 5 s of the client's close")
	}

	backend.Close()
	c = dial(t, addr)
	if took, data, err := c.waitEOF(slow(5 * time.Second)); err != nil || data != "" {
		t.Errorf("with the backend gone: %q, %v after %s; want the client closed", data, err, took)
	}
	stopExample(t, d, addr)
}

// examples/wsclient against a websocket server of the test's: it connects
// and says hello, a line sent to its text port reaches the server, what the
// server sends is printed (the daemon's stdout_file), and when the server
// closes the connection it reconnects and says hello again; stop closes
// it for good.
func TestExampleWSClient(t *testing.T) {
	t.Parallel()
	type conn struct {
		c     *websocket.Conn
		hello string
		done  chan struct{}
	}
	conns := make(chan conn, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), slow(20*time.Second))
		defer cancel()
		_, hello, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return
		}
		done := make(chan struct{})
		conns <- conn{c, string(hello), done}
		select { // the test closes the connection; hold the handler until then
		case <-done:
		case <-ctx.Done():
		}
	}))
	defer srv.Close()

	addr := loopback(t)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	d := startExample(t, "wsclient", "WSCLIENT_URL="+url, "WSCLIENT_ADDR="+addr)
	st := d.waitReady("wsclient", 1)
	pid := st.procs("wsclient")[0].PID

	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()
	next := func(what string) conn {
		t.Helper()
		select {
		case c := <-conns:
			return c
		case <-ctx.Done():
			t.Fatalf("%s: no connection from wsclient", what)
		}
		return conn{}
	}
	first := next("first connect")
	if want := "hello from wsclient " + itoa(pid); first.hello != want {
		t.Errorf("first message %q, want %q", first.hello, want)
	}
	wsWrite(ctx, t, first.c, "welcome 1")
	// A line to the text port goes to the server.
	tc := dial(t, addr)
	tc.writeLine(t, "typed line")
	if got := wsRead(ctx, t, first.c); got != "typed line" {
		t.Errorf("the server got %q, want the typed line", got)
	}
	tc.Close()

	// Closed by the server: a reconnect about a second later.
	closed := time.Now()
	first.c.Close(websocket.StatusNormalClosure, "go away")
	close(first.done)
	second := next("reconnect")
	if took := time.Since(closed); took < 800*time.Millisecond {
		t.Errorf("reconnected after %s, want the 1 s delay", took)
	}
	if second.hello != first.hello {
		t.Errorf("after reconnect %q, want %q", second.hello, first.hello)
	}
	wsWrite(ctx, t, second.c, "welcome 2")

	want := []string{"connected to " + url, "received: welcome 1", "closed; reconnecting in 1s", "received: welcome 2"}
	waitFor(t, slow(5*time.Second), "wsclient's output in stdout_file", func() (bool, string) {
		out, _ := os.ReadFile(d.outFile)
		at := 0
		for _, w := range want {
			i := bytes.Index(out[at:], []byte(w+"\n"))
			if i < 0 {
				return false, fmt.Sprintf("no %q in order in %q", w, out)
			}
			at += i + len(w)
		}
		return true, ""
	})

	// stop closes the client, and it does not reconnect: its OnClose
	// knows the process is stopping.
	stopExample(t, d, addr)
	if _, _, err := second.c.Read(ctx); err == nil {
		t.Error("the server read a message after stop, want the connection closed")
	}
	close(second.done)
	select {
	case c := <-conns:
		t.Errorf("a connection after stop, saying %q", c.hello)
	case <-time.After(1500 * time.Millisecond): // past the reconnect delay
	}
}
