package workerman_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	wsmsg "github.com/workermand/workermand/websocket"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// Broadcast reaches every client of a websocket worker with the message as
// Send would give it, whatever each negotiated: no compression,
// permessage-deflate compressing each message alone (one frame shared by
// them), and permessage-deflate keeping its context, which must be
// compressed per connection or the client could not inflate the second
// message. The text goes as text and the binary value as binary.
func TestBroadcastMixedCompression(t *testing.T) {
	w := workerman.NewWorker("websocket://127.0.0.1:0")
	w.WebSocket.ContextTakeover = true
	took := make(chan int, 4)
	w.OnMessage = func(_ *workerman.Connection, m workerman.Message) {
		var v any = m.Data
		if m.Data[0] == 'b' {
			v = wsmsg.Binary(m.Data)
		}
		took <- workerman.Broadcast(w.Connections(), v)
	}
	workermantest.Start(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), workermantest.Timeout)
	defer cancel()
	var clients []*websocket.Conn
	// Broadcast goes through the connections in the order they came: the
	// ones keeping their context first, so a frame of one's context
	// offered to the others would show.
	for _, mode := range []websocket.CompressionMode{websocket.CompressionContextTakeover, websocket.CompressionNoContextTakeover, websocket.CompressionDisabled} {
		for range 2 {
			c, resp, err := websocket.Dial(ctx, "ws://"+w.Addr().String(), &websocket.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
			if err != nil {
				t.Fatal(err)
			}
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if (mode == websocket.CompressionDisabled) != (ext == "") || (mode == websocket.CompressionNoContextTakeover) != strings.Contains(ext, "server_no_context_takeover") {
				t.Fatalf("mode %v: extensions %q", mode, ext)
			}
			defer c.CloseNow()
			clients = append(clients, c)
		}
	}
	// Messages that repeat each other: with context takeover each refers
	// back to the one before, so a frame compressed on one connection's
	// context is garbage to any other client.
	body := strings.Repeat("compress me, ", 40)
	var msgs []string
	for i := range 8 {
		msgs = append(msgs, "tb"[i%2:i%2+1]+body+strings.Repeat("!", i))
	}
	for i, msg := range append(msgs, "tshort") {
		want := websocket.MessageText
		if msg[0] == 'b' {
			want = websocket.MessageBinary
		}
		if err := clients[i%len(clients)].Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if n := <-took; n != len(clients) {
			t.Errorf("%q: Broadcast says %d took it, want %d", msg[:6], n, len(clients))
		}
		for j, c := range clients {
			typ, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("client %d, message %d: %v", j, i, err)
			}
			if typ != want || string(b) != msg {
				t.Fatalf("client %d, message %d: got %v %.20q, want %v %.20q", j, i, typ, b, want, msg)
			}
		}
	}
}

// Connections yields in the order the connections came, as Workerman's
// $worker->connections array does, and skips one closed before its turn.
func TestConnectionsInOrder(t *testing.T) {
	w := workerman.NewWorker("text://127.0.0.1:0")
	connected := make(chan struct{}, 1)
	w.OnConnect = func(*workerman.Connection) { connected <- struct{}{} }
	p := workermantest.Start(t, w)
	for range 30 {
		workermantest.Dial(t, w)
		<-connected
	}
	ids := workermantest.OnLoopValue(t, p.Loop(), func() []uint64 {
		var ids []uint64
		var last *workerman.Connection
		for c := range w.Connections() {
			last = c
		}
		for c := range w.Connections() {
			if ids == nil {
				last.Destroy()
			}
			ids = append(ids, c.ID())
		}
		return ids
	})
	if len(ids) != 29 || !slices.IsSorted(ids) {
		t.Fatalf("ids %v: want the 29 live ones, ascending", ids)
	}
}
