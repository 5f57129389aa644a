package workerman_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// AsyncTcpConnection to Unix sockets, written as Workerman writes them:
// unix:///path for a raw stream, text:///path with Transport "unix" for a
// protocol. Both reach a text worker on a socket path, which sees a Unix
// peer (this process's credentials); output sent before the connect is
// delivered after it.
func TestAsyncTcpConnectionUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	w := workerman.NewWorker("text://" + path)
	w.Transport = "unix"
	w.OnMessage = func(c *workerman.Connection, _ workerman.Message) {
		cr, err := c.PeerCredentials()
		c.SendString(fmt.Sprintf("pid=%d err=%v ip=%q", cr.PID, err, c.RemoteIP()))
	}
	p := workermantest.Start(t, w)
	want := fmt.Sprintf("pid=%d err=<nil> ip=\"\"", os.Getpid())

	t.Run("raw stream", func(t *testing.T) {
		var log eventLog
		ac := newAsync(t, p, "unix://"+path, &log)
		got := workermantest.OnLoopValue(t, p.Loop(), func() []any {
			r := ac.SendString("early\n")
			ac.Connect()
			return []any{r, ac.Transport, ac.RemoteHost()}
		})
		if fmt.Sprint(got) != fmt.Sprint([]any{workerman.Queued, "unix", path}) {
			t.Errorf("send before connect, Transport, RemoteHost = %v", got)
		}
		// A raw stream delivers bytes as they come: one small reply is one
		// read on a Unix socket.
		ev := waitEvents(t, &log, 2)
		if ev[0] != "connect :0" || ev[1] != "message "+want+"\n" {
			t.Fatalf("events %q, want OnConnect (no address) and the worker's answer %q", ev, want)
		}
		// The client side is a Unix socket connection too.
		cr := workermantest.OnLoopValue(t, p.Loop(), func() error { _, err := ac.PeerCredentials(); return err })
		if cr != nil {
			t.Errorf("PeerCredentials on the client: %v", cr)
		}
		workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
		waitEvents(t, &log, 3)
		waitOnLoop(t, p, "the worker's side to close", func() bool { return w.ConnectionCount() == 0 })
	})

	t.Run("text with transport unix", func(t *testing.T) {
		var log eventLog
		ac := newAsync(t, p, "text://"+path, &log)
		workermantest.OnLoop(t, p.Loop(), func() {
			ac.Transport = "unix"
			ac.SendString("one")
			ac.SendString("two")
			ac.Connect()
		})
		ev := waitEvents(t, &log, 3)
		if strings.Join(ev, "|") != "connect :0|message "+want+"|message "+want {
			t.Fatalf("events %q, want OnConnect and two framed answers", ev)
		}
		// Reconnect dials the path again.
		workermantest.OnLoop(t, p.Loop(), func() { ac.Reconnect(0) })
		ev = waitEvents(t, &log, 5)
		if strings.Join(ev[3:], "|") != "close|connect :0" {
			t.Fatalf("events after Reconnect %q", ev[3:])
		}
		workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
		waitEvents(t, &log, 6)
	})

	// Failures come as a failed connect, on a later turn: a path with no
	// listener, a protocol on a path without the transport that says so,
	// and a unix transport on an IP address.
	for _, tc := range []struct{ remote, transport, want string }{
		{"unix://" + filepath.Join(t.TempDir(), "none.sock"), "unix", "no such file"},
		{"text://" + path, "", `a socket path needs Transport "unix"`},
		{"text://" + path, "ssl", `a socket path needs Transport "unix"`},
		{"text://127.0.0.1:1", "unix", "connects to a socket path"},
	} {
		var log eventLog
		ac := newAsync(t, p, tc.remote, &log)
		workermantest.OnLoop(t, p.Loop(), func() {
			ac.Transport = tc.transport
			ac.Connect()
		})
		ev := waitEvents(t, &log, 3)
		if ev[0] != "error CONNECT_FAIL" || !strings.Contains(ev[1], tc.want) || ev[2] != "close" {
			t.Errorf("%s with transport %q: events %q, want CONNECT_FAIL saying %q, then close", tc.remote, tc.transport, ev, tc.want)
		}
	}
	waitOnLoop(t, p, "no connection left open", func() bool { return p.Loop().Stats().Connections == 0 })
}

// TLS and websocket clients take host:port addresses only.
func TestAsyncTcpConnectionUnixRefusesTLSAndWebSocket(t *testing.T) {
	p := workermantest.Start(t, textWorker("idle"))
	for _, remote := range []string{"ssl:///tmp/x.sock", "wss:///tmp/x.sock", "ws:///tmp/x.sock"} {
		err := workermantest.OnLoopValue(t, p.Loop(), func() error {
			_, err := workerman.NewAsyncTcpConnection(p.Loop(), remote)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "not to a Unix socket") {
			t.Errorf("NewAsyncTcpConnection(%q) = %v, want a refusal", remote, err)
		}
	}
}
