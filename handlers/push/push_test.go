package push_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/handlers/push"
	"github.com/workermand/workermand/internal/testcert"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

func TestOptions(t *testing.T) {
	h, err := workerman.NewHandler("push", workermantest.DecodeTOML(`channel = "redis://127.0.0.1:6379"
token = "s3cret"
workers = ["chat"]
max_body = 4096`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := h.(*push.Handler); !ok || p.Channel != "redis://127.0.0.1:6379" || p.Token != "s3cret" || p.MaxBody != 4096 || len(p.Workers) != 1 {
		t.Errorf("options decoded as %#v", h)
	}
	for bad, want := range map[string]string{
		``:                     "needs channel",
		`channel = "http://x"`: "want a URL",
		`channel = "redis://x:1"` + "\nmax_body = -1":    "max_body",
		`channel = "redis://x:1"` + "\ntoken = \"a b\"":  "token",
		`channel = "redis://x:1"` + "\nworkers = [\"\"]": "workers",
		`channel = "redis://x:1"` + "\nuids = 1":         "uids",
	} {
		if _, err := workerman.NewHandler("push", workermantest.DecodeTOML(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %s", bad, err, want)
		}
	}
	for listen, want := range map[string]string{
		"websocket://127.0.0.1:0": "not websocket",
		"http://0.0.0.0:0":        "not a loopback address: set a token",
		"http://[::]:0":           "not a loopback address",
	} {
		w := workermantest.HandlerWorker(t, "push", "push", listen, `channel = "redis://127.0.0.1:1"`)
		if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s without a token: %v, want %q", listen, err, want)
		}
	}
	// With a token, any address.
	w := workermantest.HandlerWorker(t, "push", "push", "http://0.0.0.0:0", `channel = "redis://127.0.0.1:1"
token = "t"`)
	workermantest.NewUnstarted(t, workerman.ProcessOptions{}, w)
}

// app is a text worker whose clients bind, join and ask with lines:
// "bind u", "join g"; each answered "ok".
func app(url string) *workerman.Worker {
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.Name = "chat"
	if url != "" {
		w.Channel = channel.Backend(url, channel.Options{ReconnectInterval: 100 * time.Millisecond})
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		cmd, arg, _ := strings.Cut(string(m.Data), " ")
		switch cmd {
		case "bind":
			c.BindUID(arg)
		case "join":
			c.JoinGroup(arg)
		}
		c.SendString("ok")
	}
	return w
}

type lineClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialApp(t *testing.T, w *workerman.Worker, cmds ...string) *lineClient {
	t.Helper()
	c := workermantest.Dial(t, w)
	l := &lineClient{t: t, c: c, r: bufio.NewReader(c)}
	for _, cmd := range cmds {
		fmt.Fprintf(c, "%s\n", cmd)
		if got := l.line(); got != "ok" {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
	return l
}

func (l *lineClient) line() string {
	l.t.Helper()
	_ = l.c.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	s, err := l.r.ReadString('\n')
	if err != nil {
		l.t.Fatalf("read: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

// quiet reports whether nothing arrives for d.
func (l *lineClient) quiet(d time.Duration) bool {
	_ = l.c.SetReadDeadline(time.Now().Add(d))
	s, err := l.r.ReadString('\n')
	return err != nil && s == ""
}

// closed reports whether the server closes the connection.
func (l *lineClient) closed() bool {
	_ = l.c.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	_, err := io.ReadAll(l.r)
	return err == nil
}

type api struct {
	t     *testing.T
	base  string
	token string
}

func (a *api) do(method, path, contentType, body string, hdr ...string) (int, string) {
	a.t.Helper()
	req, err := nethttp.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := nethttp.Client{Timeout: workermantest.Timeout}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, string(b)
}

func (a *api) post(path, body string) (int, string) {
	return a.do("POST", path, "application/json", body)
}

// waitOnline polls /online until uid is online: its process has
// subscribed, so sends to it (and to the groups it joined before) arrive.
func (a *api) waitOnline(uid string) {
	a.t.Helper()
	deadline := time.Now().Add(workermantest.Timeout)
	for time.Now().Before(deadline) {
		if code, body := a.do("GET", "/online?uid="+uid, "", ""); code == 200 && body == `{"online":true}` {
			return
		}
	}
	a.t.Fatalf("%s never online", uid)
}

// The API in its own process, the app's connections in another, both on
// the stock channel server: each request's answer, and what the clients
// get.
func TestAPI(t *testing.T) {
	srv := chanserver.NewServer("frame://127.0.0.1:0")
	workermantest.Start(t, srv)
	url := "frame://" + srv.Addr().String()

	chat := app(url)
	workermantest.Start(t, chat)
	core, logs := observer.New(zapcore.WarnLevel)
	pw := workermantest.HandlerWorker(t, "push", "push", "http://127.0.0.1:0", fmt.Sprintf(`channel = %q
token = "s3cret"
workers = ["chat"]
max_body = 100`, url))
	workermantest.StartWith(t, workerman.ProcessOptions{Logger: zap.New(core)}, pw)
	a := &api{t: t, base: "http://" + pw.Addr().String(), token: "s3cret"}

	alice := dialApp(t, chat, "join room", "bind alice")
	bob := dialApp(t, chat, "join room", "bind bob")
	carol := dialApp(t, chat)
	a.waitOnline("alice")
	a.waitOnline("bob")

	type want struct {
		status int
		body   string
	}
	tableStart := time.Now()
	noAuth := &api{t: t, base: a.base}
	wrongAuth := &api{t: t, base: a.base, token: "s3cres"}
	for _, c := range []struct {
		name string
		run  func() (int, string)
		want want
	}{
		{"send_to_uid", func() (int, string) { return a.post("/send_to_uid", `{"uid":"alice","data":"hi alice"}`) }, want{200, `{"ok":true}`}},
		{"send_to_group", func() (int, string) { return a.post("/send_to_group", `{"group":"room","data":"hi room"}`) }, want{200, `{"ok":true}`}},
		{"broadcast", func() (int, string) { return a.post("/broadcast", `{"data":"hi all"}`) }, want{200, `{"ok":true}`}},
		{"broadcast to a worker", func() (int, string) { return a.post("/broadcast", `{"worker":"chat","data_b64":"aGkgY2hhdA=="}`) }, want{200, `{"ok":true}`}},
		{"charset", func() (int, string) {
			return a.do("POST", "/send_to_uid", "application/json; charset=utf-8", `{"uid":"nobody","data":"x"}`)
		}, want{200, `{"ok":true}`}},
		{"online", func() (int, string) { return a.do("GET", "/online?uid=bob", "", "") }, want{200, `{"online":true}`}},
		{"offline", func() (int, string) { return a.do("GET", "/online?uid=zed", "", "") }, want{200, `{"online":false}`}},
		{"no token", func() (int, string) { return noAuth.post("/send_to_uid", `{"uid":"alice","data":"x"}`) }, want{401, `{"error":"missing or wrong bearer token"}`}},
		{"wrong token", func() (int, string) { return wrongAuth.do("GET", "/online?uid=bob", "", "") }, want{401, `{"error":"missing or wrong bearer token"}`}},
		{"basic auth", func() (int, string) {
			return noAuth.do("GET", "/online?uid=bob", "", "", "Authorization", "Basic czNjcmV0")
		}, want{401, `{"error":"missing or wrong bearer token"}`}},
		{"unknown path", func() (int, string) { return a.post("/send", `{}`) }, want{404, `{"error":"no such endpoint: /send"}`}},
		{"GET a POST", func() (int, string) { return a.do("GET", "/send_to_uid", "", "") }, want{405, `{"error":"/send_to_uid takes POST"}`}},
		{"POST online", func() (int, string) { return a.post("/online", `{"uid":"bob"}`) }, want{405, `{"error":"/online takes GET"}`}},
		{"not JSON", func() (int, string) { return a.post("/send_to_uid", `uid=alice`) }, want{400, `the body is not a JSON object`}},
		{"form", func() (int, string) {
			return a.do("POST", "/send_to_uid", "application/x-www-form-urlencoded", `uid=alice&data=x`)
		}, want{400, `Content-Type \"application/x-www-form-urlencoded\": want application/json`}},
		{"no Content-Type", func() (int, string) { return a.do("POST", "/broadcast", "", `{"data":"x"}`) }, want{400, `want application/json`}},
		{"no uid", func() (int, string) { return a.post("/send_to_uid", `{"data":"x"}`) }, want{400, `{"error":"/send_to_uid needs uid"}`}},
		{"empty uid", func() (int, string) { return a.post("/close_uid", `{"uid":""}`) }, want{400, `{"error":"an empty uid, group or worker"}`}},
		{"no data", func() (int, string) { return a.post("/send_to_group", `{"group":"room"}`) }, want{400, `needs data (or data_b64)`}},
		{"both data", func() (int, string) { return a.post("/broadcast", `{"data":"x","data_b64":"eA=="}`) }, want{400, `data and data_b64 together`}},
		{"bad base64", func() (int, string) { return a.post("/broadcast", `{"data_b64":"!!"}`) }, want{400, `data_b64 is not standard base64`}},
		{"misplaced field", func() (int, string) { return a.post("/send_to_uid", `{"uid":"alice","group":"room","data":"x"}`) }, want{400, `{"error":"/send_to_uid takes no group"}`}},
		{"unknown field", func() (int, string) { return a.post("/send_to_uid", `{"uids":["alice"],"data":"x"}`) }, want{400, `unknown field \"uids\"`}},
		{"wrong type", func() (int, string) { return a.post("/send_to_uid", `{"uid":7,"data":"x"}`) }, want{400, `the body is not a JSON object`}},
		{"two objects", func() (int, string) { return a.post("/broadcast", `{"data":"x"} {"data":"y"}`) }, want{400, `more after its JSON object`}},
		{"online without uid", func() (int, string) { return a.do("GET", "/online", "", "") }, want{400, `{"error":"/online needs ?uid="}`}},
		{"too large", func() (int, string) { return a.post("/broadcast", `{"data":"`+strings.Repeat("x", 100)+`"}`) }, want{413, `over max_body = 100`}},
	} {
		status, body := c.run()
		if status != c.want.status || !strings.Contains(body, c.want.body) {
			t.Errorf("%s: %d %s, want %d with %s", c.name, status, body, c.want.status, c.want.body)
		}
	}

	tableTook := time.Since(tableStart)

	// What the clients got from the 200s, in order; nothing from the
	// refused requests.
	for name, w := range map[*lineClient][]string{
		alice: {"hi alice", "hi room", "hi all", "hi chat"},
		bob:   {"hi room", "hi all", "hi chat"},
		carol: {"hi all", "hi chat"},
	} {
		for _, line := range w {
			if got := name.line(); got != line {
				t.Errorf("got %q, want %q", got, line)
			}
		}
		if !name.quiet(200 * time.Millisecond) {
			t.Error("a client got more")
		}
	}

	if code, _ := a.post("/close_uid", `{"uid":"alice"}`); code != 200 {
		t.Fatalf("close_uid: %d", code)
	}
	if !alice.closed() {
		t.Error("close_uid: alice's connection stays open")
	}
	if code, body := a.do("GET", "/online?uid=alice", "", ""); code != 200 || body != `{"online":false}` {
		t.Errorf("alice after close_uid: %d %s", code, body)
	}
	if !bob.quiet(100 * time.Millisecond) {
		t.Error("bob got something from alice's close")
	}

	st := workermantest.OnLoopValue(t, pw.Loop(), func() push.Stats { return pw.Handler.(*push.Handler).Stats() })
	if st.Unauthorized != 3 || st.Malformed != 17 || st.Failed != 0 {
		t.Errorf("stats %+v, want 3 unauthorized and 17 malformed", st)
	}
	// Twenty refusals: a line a second at most, with the fields.
	refused := logs.FilterMessage("push: request refused").All()
	if most := 1 + int(tableTook/time.Second); len(refused) == 0 || len(refused) > most {
		t.Fatalf("%d log lines for 20 refusals in %s, want 1 to %d (once a second)", len(refused), tableTook, most)
	}
	f := refused[0].ContextMap()
	if f["status"] != int64(401) || f["path"] != "/send_to_uid" || f["method"] != "POST" || f["client"] != "127.0.0.1" || f["worker"] != "push" {
		t.Errorf("the first refusal logged with %v", f)
	}
}

// Without a channel, a code-first program's push API sends through
// workers of its own process.
func TestTargets(t *testing.T) {
	chat := app("")
	pw := workerman.NewWorker("http://127.0.0.1:0")
	pw.Handler = &push.Handler{Targets: []*workerman.Worker{chat}}
	workermantest.Start(t, chat, pw)
	a := &api{t: t, base: "http://" + pw.Addr().String()}

	alice := dialApp(t, chat, "join room", "bind alice")
	bob := dialApp(t, chat)
	for _, c := range []struct{ path, body string }{
		{"/send_to_uid", `{"uid":"alice","data":"one"}`},
		{"/send_to_group", `{"group":"room","data":"two"}`},
		{"/broadcast", `{"data":"three"}`},
	} {
		if code, body := a.post(c.path, c.body); code != 200 {
			t.Fatalf("%s: %d %s", c.path, code, body)
		}
	}
	for _, line := range []string{"one", "two", "three"} {
		if got := alice.line(); got != line {
			t.Errorf("alice: %q, want %q", got, line)
		}
	}
	if got := bob.line(); got != "three" {
		t.Errorf("bob: %q", got)
	}
	if code, body := a.post("/broadcast", `{"worker":"other","data":"x"}`); code != 200 || !bob.quiet(100*time.Millisecond) {
		t.Errorf("a broadcast to another worker: %d %s, or it reached chat", code, body)
	}
	for uid, want := range map[string]string{"alice": `{"online":true}`, "bob": `{"online":false}`} {
		if code, body := a.do("GET", "/online?uid="+uid, "", ""); code != 200 || body != want {
			t.Errorf("online %s: %d %s", uid, code, body)
		}
	}
	if code, _ := a.post("/close_uid", `{"uid":"alice"}`); code != 200 || !alice.closed() {
		t.Error("close_uid did not close alice")
	}
	var st push.Stats
	workermantest.OnLoop(t, pw.Loop(), func() { st = pw.Handler.(*push.Handler).Stats() })
	if st.OK != 7 {
		b, _ := json.Marshal(st)
		t.Errorf("stats %s, want 7 OK", b)
	}
}

// Over https, as the API is served across hosts: the token travels
// encrypted, and the answers are the same.
func TestHTTPS(t *testing.T) {
	pair := testcert.SelfSigned(t, testcert.Options{})
	chat := app("")
	pw := workerman.NewWorker("https://127.0.0.1:0")
	pw.TLS = &tls.Config{Certificates: []tls.Certificate{pair.Cert}}
	pw.Handler = &push.Handler{Token: "s3cret", Targets: []*workerman.Worker{chat}}
	workermantest.Start(t, chat, pw)
	alice := dialApp(t, chat, "bind alice")

	req, err := nethttp.NewRequest("POST", "https://"+pw.Addr().String()+"/send_to_uid", strings.NewReader(`{"uid":"alice","data":"over tls"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer s3cret")
	c := nethttp.Client{Timeout: workermantest.Timeout, Transport: &nethttp.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool()}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("https: %d %s", resp.StatusCode, body)
	}
	if got := alice.line(); got != "over tls" {
		t.Errorf("alice: %q", got)
	}
}
