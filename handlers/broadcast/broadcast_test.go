package broadcast_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/workermand/workermand/handlers/broadcast"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

func TestOptions(t *testing.T) {
	h, err := workerman.NewHandler("broadcast", workermantest.DecodeTOML(`channel = "redis://127.0.0.1:6379"
topic = "room"`))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := h.(*broadcast.Handler); !ok || b.Channel != "redis://127.0.0.1:6379" || b.Topic != "room" {
		t.Errorf("options decoded as %#v", h)
	}
	for _, bad := range []string{`channel = "http://x"`, `channel = "::"`, `room = "x"`} {
		if _, err := workerman.NewHandler("broadcast", workermantest.DecodeTOML(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	w := workermantest.HandlerWorker(t, "broadcast", "b", "http://127.0.0.1:0", "")
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), "not http") {
		t.Errorf("the broadcast handler on an http:// worker: %v", err)
	}
}

// Without a channel, every websocket client of the process gets every
// message, the sender's included.
func TestLocalWebSocket(t *testing.T) {
	w := workermantest.HandlerWorker(t, "broadcast", "chat", "websocket://127.0.0.1:0", "")
	workermantest.Start(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), workermantest.Timeout)
	defer cancel()
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := websocket.Dial(ctx, "ws://"+w.Addr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		conns = append(conns, c)
	}
	workermantest.OnLoopAsync(t, w.Loop(), func(done func()) {
		// The handshakes are done once the worker has the three.
		var check func()
		check = func() {
			if w.ConnectionCount() == 3 {
				done()
				return
			}
			w.Timer().AddOnce(10*time.Millisecond, check)
		}
		check()
	})
	for i, m := range []struct {
		in, out websocket.MessageType
		data    string
	}{
		{websocket.MessageText, websocket.MessageText, "hello"},
		{websocket.MessageText, websocket.MessageText, "from the second"},
		// Binary UTF-8 is text once published; other bytes stay binary,
		// since a text frame must be UTF-8.
		{websocket.MessageBinary, websocket.MessageText, "utf-8 é"},
		{websocket.MessageBinary, websocket.MessageBinary, "\xff\x00\xfe"},
	} {
		if err := conns[i%3].Write(ctx, m.in, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		for j, c := range conns {
			typ, b, err := c.Read(ctx)
			if err != nil || typ != m.out || string(b) != m.data {
				t.Fatalf("client %d: %v %q %v, want %v %q", j, typ, b, err, m.out, m.data)
			}
		}
	}
}

// On a text worker each line goes to every client as a line.
func TestLocalText(t *testing.T) {
	w := workermantest.HandlerWorker(t, "broadcast", "lines", "text://127.0.0.1:0", "")
	workermantest.Start(t, w)
	a, b := workermantest.Dial(t, w), workermantest.Dial(t, w)
	workermantest.OnLoopAsync(t, w.Loop(), func(done func()) {
		var check func()
		check = func() {
			if w.ConnectionCount() == 2 {
				done()
				return
			}
			w.Timer().AddOnce(10*time.Millisecond, check)
		}
		check()
	})
	if _, err := a.Write([]byte("one line\n")); err != nil {
		t.Fatal(err)
	}
	for i, c := range []net.Conn{a, b} {
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil || line != "one line\n" {
			t.Fatalf("client %d: %q %v", i, line, err)
		}
	}
}
