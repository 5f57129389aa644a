package wsproto_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// events records callbacks from the loop for the test goroutine.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

func (e *events) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		got := append([]string(nil), e.log...)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t.Fatalf("waited for %d events, got %q", n, e.log)
	return nil
}

// dialWS makes a ws:// client on p's loop recording into ev; setup may
// adjust it before Connect.
func dialWS(t *testing.T, p *workerman.Process, remote string, ev *events, setup func(*workerman.AsyncTcpConnection)) *workerman.AsyncTcpConnection {
	t.Helper()
	var ac *workerman.AsyncTcpConnection
	workermantest.OnLoop(t, p.Loop(), func() {
		var err error
		ac, err = workerman.NewAsyncTcpConnection(p.Loop(), remote)
		if err != nil {
			ev.add("new: %v", err)
			return
		}
		ac.OnConnect = func(*workerman.AsyncTcpConnection) { ev.add("connect") }
		ac.OnMessage = func(_ *workerman.Connection, m workerman.Message) {
			if s := ac.WebSocketSubprotocol(); s != "" {
				ev.add("subprotocol %s", s)
			}
			kind := map[codec.Kind]string{codec.KindText: "text", codec.KindBinary: "binary"}[m.Kind]
			ev.add("%s %q", kind, m.Data)
		}
		ac.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) { ev.add("error %v", code) }
		ac.OnClose = func(*workerman.Connection) { ev.add("close") }
		if setup != nil {
			setup(ac)
		}
		ac.Connect()
	})
	if ac == nil {
		t.Fatalf("NewAsyncTcpConnection(%q): %q", remote, ev.log)
	}
	return ac
}

func TestClientAgainstServer(t *testing.T) {
	w := echoWorker()
	w.WebSocket.Subprotocols = []string{"chat.v2", "chat.v1"}
	var seen events
	w.OnWebSocketConnect = func(_ *workerman.Connection, req *http.Request) *http.Response {
		seen.add("%s room=%s token=%s proto=%s", req.Path(), req.Get("room"), req.Header("X-Token"), req.Header("Sec-WebSocket-Protocol"))
		return nil
	}
	serverClosed := make(chan struct{}, 2)
	w.OnClose = func(*workerman.Connection) { serverClosed <- struct{}{} }
	p := workermantest.Start(t, w)

	var ev events
	ac := dialWS(t, p, "ws://"+w.Addr().String()+"/chat?room=7", &ev, func(ac *workerman.AsyncTcpConnection) {
		ac.WebSocket.Header = http.Header{{Name: "X-Token", Value: "s3cret"}}
		ac.WebSocket.Subprotocols = []string{"chat.v1"}
		// Sent before the connection exists and before the 101: held
		// back, then delivered in order after the handshake.
		ac.SendString("early")
		ac.SendValue(websocket.Binary{0, 1, 2})
	})
	got := ev.wait(t, 5)
	if want := []string{"connect", "subprotocol chat.v1", `text "early"`, "subprotocol chat.v1", `binary "\x00\x01\x02"`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
	if s := seen.wait(t, 1)[0]; s != "/chat room=7 token=s3cret proto=chat.v1" {
		t.Fatalf("server saw %q", s)
	}
	big := strings.Repeat("é", 40000)
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.SendValue(websocket.Text(big))
		ac.SendValue(websocket.Close{Code: websocket.CloseNormal})
	})
	got = ev.wait(t, 8)
	if got[6] != fmt.Sprintf("text %q", big) || got[7] != "close" {
		t.Fatalf("after a large text and a close: %.200q", got[5:])
	}
	select {
	case <-serverClosed:
	case <-time.After(ioTimeout):
		t.Fatal("the server did not close its side")
	}
	// Workerman's reconnect pattern: a fresh handshake on the same object,
	// with what was sent meanwhile held until it completes.
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.Reconnect(0)
		ac.SendString("again")
	})
	got = ev.wait(t, 11)
	if strings.Join(got[8:], "|") != `connect|subprotocol chat.v1|text "again"` {
		t.Fatalf("after Reconnect: %q", got[8:])
	}
	if s := seen.wait(t, 2)[1]; s != "/chat room=7 token=s3cret proto=chat.v1" {
		t.Fatalf("server saw on reconnect %q", s)
	}
}

// fakeServer accepts one connection and hands it, with the parsed upgrade
// request, to serve.
func fakeServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader, req *nethttp.Request)) (addr string, done chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done = make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		br := bufio.NewReader(c)
		req, err := nethttp.ReadRequest(br)
		if err != nil {
			t.Errorf("upgrade request: %v", err)
			return
		}
		serve(c, br, req)
	}()
	return ln.Addr().String(), done
}

func accept101(req *nethttp.Request, accept string) string {
	if accept == "" {
		accept = wsframe.AcceptKey(req.Header.Get("Sec-WebSocket-Key"))
	}
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
}

// readFrame reads one client frame, requiring a mask.
func readFrame(t *testing.T, br *bufio.Reader) (wsframe.Header, []byte) {
	buf := make([]byte, 0, 64)
	var h wsframe.Header
	for {
		n, err := wsframe.ParseHeader(buf, &h, wsframe.Limits{RequireMask: true})
		if err != nil {
			t.Errorf("client frame: %v", err)
			return h, nil
		}
		if n > 0 {
			break
		}
		b, err := br.ReadByte()
		if err != nil {
			t.Errorf("client frame: %v", err)
			return h, nil
		}
		buf = append(buf, b)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Errorf("client payload: %v", err)
	}
	wsframe.Unmask(p, h.Mask, 0)
	return h, p
}

func TestClientRefusesWrongAccept(t *testing.T) {
	p := workermantest.Start(t, echoWorker())
	addr, done := fakeServer(t, func(c net.Conn, br *bufio.Reader, req *nethttp.Request) {
		io.WriteString(c, accept101(req, wsframe.AcceptKey("dGhlIHNhbXBsZSBub25jZQ==")))
		c.Write(wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte("must not arrive"), nil))
		// The client hangs up without sending any frame: a FIN, or a reset
		// when the frame above was still unread in its socket as it closed
		// (the kernel's answer to closing with unread input).
		if b, err := br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("after a wrong accept the client sent %q or did not close: %v", b, err)
		}
	})
	var ev events
	dialWS(t, p, "ws://"+addr+"/", &ev, func(ac *workerman.AsyncTcpConnection) { ac.SendString("held") })
	got := ev.wait(t, 2)
	<-done
	// A window, not a wait: nothing may follow the close, so there is no
	// event to wait for, and a late message would show up in it.
	time.Sleep(50 * time.Millisecond)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if strings.Join(ev.log, "|") != "connect|close" {
		t.Fatalf("events %q, want a connect and a close with no message", got)
	}
}

func TestClientMasksEveryFrameWithFreshKeys(t *testing.T) {
	p := workermantest.Start(t, echoWorker())
	addr, done := fakeServer(t, func(c net.Conn, br *bufio.Reader, req *nethttp.Request) {
		if req.RequestURI != "/x?y=1" || req.Header.Get("Sec-WebSocket-Version") != "13" || !wsframe.ValidKey(req.Header.Get("Sec-WebSocket-Key")) {
			t.Errorf("upgrade request %q %v", req.RequestURI, req.Header)
		}
		io.WriteString(c, accept101(req, ""))
		h1, p1 := readFrame(t, br)
		h2, p2 := readFrame(t, br)
		if string(p1) != "one" || string(p2) != "two" || h1.Op != wsframe.Text || h2.Op != wsframe.Binary {
			t.Errorf("frames %d %q, %d %q", h1.Op, p1, h2.Op, p2)
		}
		if h1.Mask == h2.Mask {
			t.Errorf("two frames share the masking key %x", h1.Mask)
		}
		// A ping is answered with a masked pong carrying its payload; a
		// close is echoed with its status.
		c.Write(wsframe.AppendFrame(nil, true, 0, wsframe.Ping, []byte("hb"), nil))
		if h, p := readFrame(t, br); h.Op != wsframe.Pong || string(p) != "hb" {
			t.Errorf("answer to a ping: %d %q", h.Op, p)
		}
		c.Write(wsframe.AppendClose(nil, 4000, "bye", nil))
		if h, p := readFrame(t, br); h.Op != wsframe.Close || len(p) != 2 || binary.BigEndian.Uint16(p) != 4000 {
			t.Errorf("answer to a close: %d %v", h.Op, p)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after the closing handshake: %v, want EOF", err)
		}
	})
	var ev events
	dialWS(t, p, "ws://"+addr+"/x?y=1", &ev, func(ac *workerman.AsyncTcpConnection) {
		ac.SendString("one")
		ac.SendValue(websocket.Binary("two"))
	})
	ev.wait(t, 2)
	<-done
	if got := ev.wait(t, 2); strings.Join(got, "|") != "connect|close" {
		t.Fatalf("events %q", got)
	}
}

func TestClientFailsOnServerViolations(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		code  uint16
	}{
		{"masked frame", wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte("x"), &[4]byte{1, 2, 3, 4}), 1002},
		{"bad utf-8", wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte{0xc3}, nil), 1007},
		{"too big", wsframe.AppendFrame(nil, true, 0, wsframe.Binary, make([]byte, 1<<16+1), nil), 1009},
		{"rsv bit", []byte{0x80 | 0x40 | 1, 0}, 1002},
	}
	w := echoWorker()
	p := workermantest.Start(t, w)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := fakeServer(t, func(c net.Conn, br *bufio.Reader, req *nethttp.Request) {
				io.WriteString(c, accept101(req, ""))
				c.Write(tc.frame)
				if h, p := readFrame(t, br); h.Op != wsframe.Close || len(p) < 2 || binary.BigEndian.Uint16(p) != tc.code {
					t.Errorf("client answered %d %v, want close %d", h.Op, p, tc.code)
				}
			})
			var ev events
			dialWS(t, p, "ws://"+addr, &ev, func(ac *workerman.AsyncTcpConnection) {
				ac.SetMaxPackageSize(1 << 16)
			})
			<-done
			if got := ev.wait(t, 2); strings.Join(got, "|") != "connect|close" {
				t.Fatalf("events %q", got)
			}
		})
	}
}

func TestClientAddresses(t *testing.T) {
	p := workermantest.Start(t, echoWorker())
	for remote, want := range map[string]string{
		"ws://127.0.0.1:1/a b":     "invalid path",
		"ws://127.0.0.1:1/a#frag":  "invalid path",
		"text://127.0.0.1:1/path":  "only ws://",
		"tcp://127.0.0.1:1?q":      "only ws://",
		"ws://127.0.0.1/x":         "missing port",
		"websocket://127.0.0.1:1/": "server protocol",
	} {
		workermantest.OnLoop(t, p.Loop(), func() {
			_, err := workerman.NewAsyncTcpConnection(p.Loop(), remote)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("NewAsyncTcpConnection(%q) = %v, want an error about %q", remote, err, want)
			}
		})
	}
	workermantest.OnLoop(t, p.Loop(), func() {
		ac, err := workerman.NewAsyncTcpConnection(p.Loop(), "ws://[::1]:8080?q=1")
		if err != nil || ac.WebSocket.Path != "/?q=1" || ac.WebSocket.Host != "[::1]:8080" {
			t.Errorf("ws://[::1]:8080?q=1: %v, options %+v", err, ac.WebSocket)
		}
	})
}

func TestClientTimesOutWithoutAnswer(t *testing.T) {
	p := workermantest.Start(t, echoWorker())
	cases := []struct {
		name  string
		serve func(c net.Conn, br *bufio.Reader, req *nethttp.Request)
		send  any
	}{
		{"no 101", func(c net.Conn, br *bufio.Reader, _ *nethttp.Request) { br.ReadByte() }, nil},
		{"close not answered", func(c net.Conn, br *bufio.Reader, req *nethttp.Request) {
			io.WriteString(c, accept101(req, ""))
			if h, _ := readFrame(t, br); h.Op != wsframe.Close {
				t.Errorf("got opcode %d, want the client's close", h.Op)
			}
			br.ReadByte()
		}, websocket.Close{Code: 4001}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := fakeServer(t, tc.serve)
			var ev events
			start := time.Now()
			ac := dialWS(t, p, "ws://"+addr, &ev, func(ac *workerman.AsyncTcpConnection) {
				ac.WebSocket.HandshakeTimeout = time.Second
			})
			ev.wait(t, 1)
			if tc.send != nil {
				workermantest.OnLoop(t, p.Loop(), func() { ac.SendValue(tc.send) })
			}
			<-done
			if got := ev.wait(t, 2); strings.Join(got, "|") != "connect|close" {
				t.Fatalf("events %q", got)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("closed after %s", d)
			}
		})
	}
}
