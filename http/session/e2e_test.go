package session_test

import (
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/cookiejar"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/http/session"
	"github.com/workermand/workermand/workerman"
)

// server is an http:// worker whose /inc counts per session, /regen
// regenerates the id (deleting the old) and /ping answers without touching
// the session.
type server struct {
	base string
	// startedSend hears each /inc whose Send began (when it has room).
	startedSend chan struct{}
}

func startServer(t testing.TB, m *session.Manager) *server {
	t.Helper()
	srv := &server{startedSend: make(chan struct{}, 1)}
	w := workerman.NewWorker("http://127.0.0.1:0")
	w.OnMessage = func(c *workerman.Connection, msg workerman.Message) {
		req := msg.Value.(*http.Request)
		text := func(s string) *http.Response {
			return &http.Response{Header: http.Header{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte(s)}
		}
		if req.Path() == "/ping" {
			c.SendValue(text("pong"))
			return
		}
		m.Start(c, req, func(s *session.Session, err error) {
			if err != nil {
				c.SendValue(&http.Response{Status: 503, Body: []byte(err.Error())})
				return
			}
			switch req.Path() {
			case "/inc":
				n, _ := s.Int("n")
				s.Set("n", n+1)
				select {
				case srv.startedSend <- struct{}{}:
				default:
				}
				s.Send(c, text(strconv.FormatInt(n+1, 10)))
			case "/regen":
				s.Regenerate(true)
				s.Send(c, text(s.ID()))
			default:
				c.SendValue(&http.Response{Status: 404})
			}
		})
	}
	p := startProcess(t, w)
	srv.base = "http://" + p.Workers()[0].Addr().String()
	return srv
}

type result struct {
	body    string
	cookies []string // Set-Cookie fields
	err     error
}

func get(client *nethttp.Client, url string, cookie string) result {
	req, err := nethttp.NewRequestWithContext(context.Background(), "GET", url, nil)
	if err != nil {
		return result{err: err}
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return result{body: string(b), cookies: resp.Header.Values("Set-Cookie"), err: err}
}

func mustGet(t testing.TB, client *nethttp.Client, url, cookie string) result {
	t.Helper()
	r := get(client, url, cookie)
	if r.err != nil {
		t.Fatalf("GET %s: %v", url, r.err)
	}
	return r
}

func newClient(t testing.TB) *nethttp.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &nethttp.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &nethttp.Client{Jar: jar, Transport: tr, Timeout: waitTimeout}
}

// cookieID is the id in a PHPSID Set-Cookie field.
func cookieID(t *testing.T, fields []string) string {
	t.Helper()
	if len(fields) != 1 {
		t.Fatalf("Set-Cookie fields %q; want one", fields)
	}
	v, ok := strings.CutPrefix(fields[0], "PHPSID=")
	if !ok {
		t.Fatalf("Set-Cookie %q does not set PHPSID", fields[0])
	}
	id, _, _ := strings.Cut(v, ";")
	return id
}

func testEndToEnd(t *testing.T, m *session.Manager) {
	srv := startServer(t, m)
	client := newClient(t)

	var id string
	for i := 1; i <= 3; i++ {
		r := mustGet(t, client, srv.base+"/inc", "")
		if r.body != strconv.Itoa(i) {
			t.Fatalf("request %d counted %q, want %d", i, r.body, i)
		}
		switch {
		case i == 1:
			id = cookieID(t, r.cookies)
			for _, attr := range []string{"Max-Age=1440", "Path=/", "HttpOnly"} {
				if !strings.Contains(r.cookies[0], attr) {
					t.Errorf("Set-Cookie %q lacks %s", r.cookies[0], attr)
				}
			}
		case len(r.cookies) != 0:
			t.Fatalf("request %d set cookies again: %q", i, r.cookies)
		}
	}

	r := mustGet(t, client, srv.base+"/regen", "")
	newID := cookieID(t, r.cookies)
	if newID == id || r.body != newID {
		t.Fatalf("after /regen the cookie holds %q (was %q), the server says %q", newID, id, r.body)
	}
	if r := mustGet(t, client, srv.base+"/inc", ""); r.body != "4" || len(r.cookies) != 0 {
		t.Fatalf("after /regen the count went on as %q with cookies %q; want 4 and none", r.body, r.cookies)
	}

	// The old id, sent by a client that kept it, names nothing any more:
	// it starts over with a fresh id.
	stale := mustGet(t, newClient(t), srv.base+"/inc", "PHPSID="+id)
	if stale.body != "1" || cookieID(t, stale.cookies) == id {
		t.Fatalf("with the old id: count %q, cookie %q; want 1 and a new id", stale.body, stale.cookies)
	}
}

func TestEndToEndFile(t *testing.T) {
	m := session.NewManager(&session.FileStore{Dir: t.TempDir()})
	testEndToEnd(t, m)
}

func TestEndToEndRedis(t *testing.T) {
	st := session.NewRedisStore(session.RedisOptions{Addr: startRedis(t)})
	t.Cleanup(func() { st.Close() })
	testEndToEnd(t, session.NewManager(st))
}

// TestEndToEndSlowRedis holds Redis's writes while one client's session is
// being saved: another client's request to the same loop is answered in the
// meantime, and the first one once Redis resumes.
func TestEndToEndSlowRedis(t *testing.T) {
	st := session.NewRedisStore(session.RedisOptions{Addr: startRedis(t)})
	t.Cleanup(func() { st.Close() })
	srv := startServer(t, session.NewManager(st))
	slow, fast := newClient(t), newClient(t)
	mustGet(t, slow, srv.base+"/inc", "") // the session exists

	ctx := context.Background()
	if err := st.Client.Do(ctx, "CLIENT", "PAUSE", "30000", "WRITE").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	unpaused := false
	unpause := func() {
		if !unpaused {
			unpaused = true
			if err := st.Client.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
				t.Errorf("CLIENT UNPAUSE: %v", err)
			}
		}
	}
	defer unpause()

	<-srv.startedSend // the first /inc's
	slowDone := make(chan result, 1)
	go func() { slowDone <- get(slow, srv.base+"/inc", "") }()
	select {
	case <-srv.startedSend:
	case <-time.After(waitTimeout):
		t.Fatal("the server never reached Send for the slow request")
	}

	if r := mustGet(t, fast, srv.base+"/ping", ""); r.body != "pong" {
		t.Fatalf("/ping answered %q while a save waited on Redis", r.body)
	}
	select {
	case r := <-slowDone:
		t.Fatalf("the slow request was answered while Redis was paused: %+v", r)
	default:
	}
	unpause()
	select {
	case r := <-slowDone:
		if r.err != nil || r.body != "2" {
			t.Fatalf("slow request after the unpause: %q, %v; want 2", r.body, r.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the slow request was not answered after Redis resumed")
	}
}

// TestEndToEndSaveError: a save that fails answers 500 instead of the
// handler's response, and OnError hears of it with the connection.
func TestEndToEndSaveError(t *testing.T) {
	notDir := t.TempDir() + "/file"
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(&session.FileStore{Dir: notDir})
	reported := make(chan error, 1)
	m.OnError = func(c *workerman.Connection, err error) {
		if c == nil {
			err = fmt.Errorf("OnError without the connection: %w", err)
		}
		reported <- err
	}
	srv := startServer(t, m)
	r := get(newClient(t), srv.base+"/inc", "")
	if r.err == nil || !strings.Contains(r.err.Error(), "status 500") {
		t.Fatalf("GET /inc with a broken store: body %q, err %v; want status 500", r.body, r.err)
	}
	if len(r.cookies) != 0 {
		t.Fatalf("the 500 set cookies %q for a session that was not stored", r.cookies)
	}
	select {
	case err := <-reported:
		if !strings.Contains(err.Error(), "session: save") {
			t.Fatalf("OnError got %v; want the save error", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("OnError was not called")
	}
}

// BenchmarkRequest is one keep-alive request through net/http that loads,
// changes and saves a session: the cost a store adds to a request.
func BenchmarkRequest(b *testing.B) {
	bench := func(b *testing.B, m *session.Manager) {
		m.GCProbability = -1
		srv := startServer(b, m)
		client := newClient(b)
		mustGet(b, client, srv.base+"/inc", "")
		b.ResetTimer()
		for range b.N {
			mustGet(b, client, srv.base+"/inc", "")
		}
	}
	b.Run("file", func(b *testing.B) { bench(b, session.NewManager(&session.FileStore{Dir: b.TempDir()})) })
	b.Run("redis", func(b *testing.B) {
		st := session.NewRedisStore(session.RedisOptions{Addr: startRedis(b)})
		b.Cleanup(func() { st.Close() })
		bench(b, session.NewManager(st))
	})
	b.Run("none", func(b *testing.B) {
		srv := startServer(b, session.NewManager(nil))
		client := newClient(b)
		b.ResetTimer()
		for range b.N {
			mustGet(b, client, srv.base+"/ping", "")
		}
	})
}
