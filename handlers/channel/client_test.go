package channel

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	client "github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// TestClientAgainstWorkermanServer runs the Go client against a server
// written here as Workerman's PHP one behaves on the wire: it ends its
// messages with "\n" and sends integer channel names as integers. The
// client restores its subscriptions and watches on connect, pings with
// empty frames, reserves after an item, and reports what it cannot read
// without dropping the connection.
func TestClientAgainstWorkermanServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := newRecorder(t, loop(t), "frame://"+ln.Addr().String(), client.Options{PingInterval: 30 * time.Millisecond})
	// Set before the connection is up: the restore sends them.
	r.c.On("7", r.handler("7"))
	r.c.Watch("q", r.handler("q"), true)

	ln.(*net.TCPListener).SetDeadline(time.Now().Add(workermantest.Timeout))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(workermantest.Timeout))
	read := func() string {
		t.Helper()
		var h [4]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, binary.BigEndian.Uint32(h[:])-4)
		if _, err := io.ReadFull(conn, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// readOp skips the keep-alives.
	readOp := func() string {
		t.Helper()
		for {
			if m := read(); m != "" {
				return m
			}
		}
	}
	write := func(payload string) {
		t.Helper()
		if _, err := conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(payload)+4)), payload...)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`a:2:{s:4:"type";s:9:"subscribe";s:8:"channels";a:1:{i:0;s:1:"7";}}`,
		`a:2:{s:4:"type";s:5:"watch";s:8:"channels";a:1:{i:0;s:1:"q";}}`,
		`a:1:{s:4:"type";s:7:"reserve";}`,
	} {
		if got := readOp(); got != want {
			t.Fatalf("client sent\n%s\nwant\n%s", got, want)
		}
	}
	r.waitConnect()
	// Pings: empty frames, several within a few intervals.
	for range 3 {
		if m := read(); m != "" {
			t.Fatalf("client sent %q, want the keep-alive", m)
		}
	}

	// Workerman's server: serialize(...)."\n", the channel as PHP had it.
	write(`a:3:{s:4:"type";s:5:"event";s:7:"channel";i:7;s:4:"data";a:1:{i:0;b:1;}}` + "\n")
	r.expect("7", phpserialize.NewList(true))
	write(`a:3:{s:4:"type";s:5:"queue";s:7:"channel";s:1:"q";s:4:"data";d:2.5;}` + "\n")
	r.expect("q", 2.5)
	if got := readOp(); got != `a:1:{s:4:"type";s:7:"reserve";}` {
		t.Fatalf("after an item the client sent %s, want reserve", got)
	}

	// What it cannot read is reported; the connection stays.
	write(`not serialize()`)
	write(`a:1:{s:4:"type";s:5:"other";}`)
	for range 2 {
		select {
		case err := <-r.errs:
			if !strings.Contains(err.Error(), "from ") {
				t.Errorf("OnError: %v", err)
			}
		case <-time.After(workermantest.Timeout):
			t.Fatal("no OnError for an unreadable message")
		}
	}
	write(`a:3:{s:4:"type";s:5:"event";s:7:"channel";s:3:"new";s:4:"data";N;}`)
	r.expect("msg:new", nil) // no handler: OnMessage

	// Publish goes out as Workerman's client writes it.
	if err := r.c.PublishLoop(map[string]int{"a": 1}, "x", "y"); err != nil {
		t.Fatal(err)
	}
	if got, want := readOp(), `a:3:{s:4:"type";s:11:"publishLoop";s:8:"channels";a:2:{i:0;s:1:"x";i:1;s:1:"y";}s:4:"data";a:1:{s:1:"a";i:1;}}`; got != want {
		t.Fatalf("client sent\n%s\nwant\n%s", got, want)
	}
	r.c.Close()
	conn.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	for {
		if _, err := conn.Read(make([]byte, 64)); err != nil {
			break // closed by Close: io.EOF
		}
	}
}

func TestHandlerOptions(t *testing.T) {
	h, err := workerman.NewHandler("channel", workermantest.DecodeTOML("token = \"t\"\ntrust_network = true\nmax_queue_items = 5"))
	if err != nil {
		t.Fatal(err)
	}
	if got := *h.(*Handler); got.Token != "t" || !got.TrustNetwork || got.MaxQueueItems != 5 {
		t.Errorf("options: %+v", got)
	}
	for _, bad := range []string{"tokn = \"t\"", "max_queue_items = -1", "token = 5"} {
		if _, err := workerman.NewHandler("channel", workermantest.DecodeTOML(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
