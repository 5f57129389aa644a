package wsproto_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	_ "github.com/workermand/workermand/handlers/echo"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

const ioTimeout = workermantest.Timeout

// serve runs w until the test ends and returns its address.
func serve(t *testing.T, w *workerman.Worker) string {
	t.Helper()
	workermantest.Start(t, w)
	return w.Addr().String()
}

func echoWorker() *workerman.Worker {
	w := workerman.NewWorker("websocket://127.0.0.1:0")
	h, err := workerman.NewHandler("echo", nil)
	if err != nil {
		panic(err)
	}
	w.Handler = h
	return w
}

type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

const key = "dGhlIHNhbXBsZSBub25jZQ=="

func upgrade(t *testing.T, addr string, extra string) (*client, *nethttp.Response) {
	t.Helper()
	c := workermantest.DialAddr(t, addr)
	io.WriteString(c, "GET /chat?room=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n"+extra+"\r\n")
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	resp, err := nethttp.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatalf("handshake response: %v", err)
	}
	return cl, resp
}

func (cl *client) send(fin bool, op wsframe.Opcode, payload []byte) {
	cl.t.Helper()
	mask := [4]byte{1, 2, 3, 4}
	if _, err := cl.c.Write(wsframe.AppendFrame(nil, fin, 0, op, payload, &mask)); err != nil {
		cl.t.Fatal(err)
	}
}

// read returns the next frame from the server.
func (cl *client) read() (wsframe.Opcode, []byte) {
	cl.t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(cl.br, hdr[:]); err != nil {
		cl.t.Fatalf("read frame: %v", err)
	}
	if hdr[1]&0x80 != 0 {
		cl.t.Fatal("the server masked a frame")
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(cl.br, b[:])
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(cl.br, b[:])
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(cl.br, p); err != nil {
		cl.t.Fatal(err)
	}
	return wsframe.Opcode(hdr[0] & 0xf), p
}

func TestHandshakeAndEcho(t *testing.T) {
	addr := serve(t, echoWorker())
	cl, resp := upgrade(t, addr, "")
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	cl.send(true, wsframe.Text, []byte("hello"))
	if op, p := cl.read(); op != wsframe.Text || string(p) != "hello" {
		t.Fatalf("text echo: %d %q", op, p)
	}
	cl.send(true, wsframe.Binary, []byte{0, 1, 2})
	if op, p := cl.read(); op != wsframe.Binary || string(p) != "\x00\x01\x02" {
		t.Fatalf("binary echo: %d %q", op, p)
	}
	// Fragmented, with a ping in the middle: the pong comes first.
	big := strings.Repeat("é", 40000) // 80 KB, split inside a rune
	cl.send(false, wsframe.Text, []byte(big[:30001]))
	cl.send(true, wsframe.Ping, []byte("p"))
	cl.send(true, wsframe.Continuation, []byte(big[30001:]))
	if op, p := cl.read(); op != wsframe.Pong || string(p) != "p" {
		t.Fatalf("pong: %d %q", op, p)
	}
	if op, p := cl.read(); op != wsframe.Text || string(p) != big {
		t.Fatalf("fragmented echo: %d, %d bytes", op, len(p))
	}
	cl.send(true, wsframe.Close, []byte{0x03, 0xe8, 'b', 'y', 'e'})
	if op, p := cl.read(); op != wsframe.Close || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		t.Fatalf("close echo: %d %v", op, p)
	}
	if _, err := cl.br.ReadByte(); err != io.EOF {
		t.Fatalf("after close: %v, want EOF", err)
	}
}

func TestViolationsCloseWithTheirCode(t *testing.T) {
	w := echoWorker()
	w.MaxPackageSize = 1 << 16
	addr := serve(t, w)
	mask := [4]byte{9, 9, 9, 9}
	cases := []struct {
		name  string
		frame []byte
		code  uint16
	}{
		{"unmasked", wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte("x"), nil), 1002},
		{"rsv bit", append([]byte{0x80 | 0x40 | 1, 0x80}, mask[:]...), 1002},
		{"reserved opcode", append([]byte{0x80 | 3, 0x80}, mask[:]...), 1002},
		{"fragmented ping", wsframe.AppendFrame(nil, false, 0, wsframe.Ping, nil, &mask), 1002},
		{"continuation first", wsframe.AppendFrame(nil, true, 0, wsframe.Continuation, []byte("x"), &mask), 1002},
		{"bad utf-8", wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte{0xff}, &mask), 1007},
		{"too big", wsframe.AppendFrame(nil, true, 0, wsframe.Binary, make([]byte, 1<<16+1), &mask), 1009},
		{"bad close code", wsframe.AppendFrame(nil, true, 0, wsframe.Close, []byte{0x03, 0xed}, &mask), 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, _ := upgrade(t, addr, "")
			cl.c.Write(tc.frame)
			op, p := cl.read()
			if op != wsframe.Close || len(p) < 2 || binary.BigEndian.Uint16(p) != tc.code {
				t.Fatalf("got op %d payload %v, want close %d", op, p, tc.code)
			}
		})
	}
}

func TestHandshakeRefusals(t *testing.T) {
	w := echoWorker()
	w.WebSocket.AllowedOrigins = []string{"https://ok.example"}
	w.OnWebSocketConnect = func(c *workerman.Connection, req *http.Request) *http.Response {
		if req.Get("room") == "secret" {
			return http.Text(401, "no")
		}
		return http.NewResponse(101).WithHeader("X-Room", req.Get("room"))
	}
	addr := serve(t, w)
	_, resp := upgrade(t, addr, "Origin: https://ok.example\r\n")
	if resp.StatusCode != 101 || resp.Header.Get("X-Room") != "1" {
		t.Fatalf("accepted handshake: %d %v", resp.StatusCode, resp.Header)
	}
	if _, resp := upgrade(t, addr, "Origin: https://evil.example\r\n"); resp.StatusCode != 403 {
		t.Fatalf("bad origin: %d", resp.StatusCode)
	}
	raw := func(req string) *nethttp.Response {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.WriteString(c, req)
		resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); r.StatusCode != 426 {
		t.Fatalf("plain GET: %d", r.StatusCode)
	}
	if r := raw("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " + key + "\r\nOrigin: https://ok.example\r\n\r\n"); r.StatusCode != 426 || r.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Fatalf("version 8: %d %v", r.StatusCode, r.Header)
	}
	if r := raw("GET /?room=secret HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\nOrigin: https://ok.example\r\n\r\n"); r.StatusCode != 401 {
		t.Fatalf("hook refusal: %d", r.StatusCode)
	}
}

func TestKindsVisibleAndServerPing(t *testing.T) {
	kinds := make(chan codec.Kind, 2)
	w := workerman.NewWorker("websocket://127.0.0.1:0")
	w.WebSocket.PingInterval = time.Second
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		kinds <- m.Kind
		c.SendValue(websocket.Binary("ok"))
	}
	addr := serve(t, w)
	cl, _ := upgrade(t, addr, "")
	cl.send(true, wsframe.Text, []byte("t"))
	cl.send(true, wsframe.Binary, []byte("b"))
	if k1, k2 := <-kinds, <-kinds; k1 != codec.KindText || k2 != codec.KindBinary {
		t.Fatalf("kinds %v %v", k1, k2)
	}
	cl.read()
	cl.read()
	// Silent for over ping_interval: the server pings.
	if op, _ := cl.read(); op != wsframe.Ping {
		t.Fatalf("expected a ping, got opcode %d", op)
	}
}

// TestPermessageDeflate: an offer is accepted with no context takeover both
// ways; a compressed text message is inflated and echoed compressed; a
// deflate bomb over max_package_size gets 1009.
func TestPermessageDeflate(t *testing.T) {
	w := echoWorker()
	w.MaxPackageSize = 1 << 20
	addr := serve(t, w)
	cl, resp := upgrade(t, addr, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("extension response %q", got)
	}
	msg := strings.Repeat("hello websocket ", 64)
	compress := func(p []byte) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestSpeed)
		fw.Write(p)
		fw.Flush()
		out := b.Bytes()
		return out[:len(out)-4] // RFC 7692 §7.2.1: drop 00 00 ff ff
	}
	mask := [4]byte{5, 6, 7, 8}
	cl.c.Write(wsframe.AppendFrame(nil, true, 4, wsframe.Text, compress([]byte(msg)), &mask))
	var hdr [2]byte
	io.ReadFull(cl.br, hdr[:])
	if hdr[0]&0x40 == 0 {
		t.Fatal("the echo of a 1 KiB message is not compressed")
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		var b [2]byte
		io.ReadFull(cl.br, b[:])
		n = int(binary.BigEndian.Uint16(b[:]))
	}
	payload := make([]byte, n)
	io.ReadFull(cl.br, payload)
	inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(append(payload, 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff))))
	if err != nil && err != io.ErrUnexpectedEOF || string(inflated) != msg {
		t.Fatalf("compressed echo inflates to %d bytes (%v)", len(inflated), err)
	}

	bomb, _ := upgrade(t, addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	bomb.c.Write(wsframe.AppendFrame(nil, true, 4, wsframe.Binary, compress(make([]byte, 8<<20)), &mask))
	if op, p := bomb.read(); op != wsframe.Close || binary.BigEndian.Uint16(p) != 1009 {
		t.Fatalf("deflate bomb: op %d %v, want close 1009", op, p)
	}
}

// TestCloseWithoutStatus: an empty close frame is answered with an empty
// one (1005 is never sent).
func TestCloseWithoutStatus(t *testing.T) {
	addr := serve(t, echoWorker())
	cl, _ := upgrade(t, addr, "")
	cl.send(true, wsframe.Close, nil)
	if op, p := cl.read(); op != wsframe.Close || len(p) != 0 {
		t.Fatalf("close answer: op %d payload %v, want an empty close", op, p)
	}
}

// A welcome message sent in OnConnect, before the client's upgrade request
// has even arrived, reaches the client right after the 101, in order, as
// Workerman queues it; a close sent there follows it and closes.
func TestSendsBeforeTheHandshakeFollowThe101(t *testing.T) {
	w := echoWorker()
	sendErrs := make(chan error, 4)
	connections := 0 // on the loop
	w.OnConnect = func(c *workerman.Connection) {
		connections++
		c.SendString("welcome")
		_, err := c.SendValue(websocket.Binary{1, 2, 3})
		sendErrs <- err
		if connections == 1 {
			return // the first stays open, the second is closed at once
		}
		_, err = c.SendValue(websocket.Close{Code: websocket.CloseGoingAway, Reason: "bye"})
		sendErrs <- err
	}
	addr := serve(t, w)
	for i := range 2 {
		cl, resp := upgrade(t, addr, "")
		if resp.StatusCode != 101 {
			t.Fatalf("handshake: %s", resp.Status)
		}
		if op, p := cl.read(); op != wsframe.Text || string(p) != "welcome" {
			t.Fatalf("first frame %v %q, want the welcome text", op, p)
		}
		if op, p := cl.read(); op != wsframe.Binary || !bytes.Equal(p, []byte{1, 2, 3}) {
			t.Fatalf("second frame %v %v, want the binary message", op, p)
		}
		if err := <-sendErrs; err != nil {
			t.Fatalf("SendValue in OnConnect: %v", err)
		}
		if i == 0 {
			// Open: the echo answers as usual after the held output.
			cl.send(true, wsframe.Text, []byte("ping"))
			if op, p := cl.read(); op != wsframe.Text || string(p) != "ping" {
				t.Fatalf("echo after the welcome: %v %q", op, p)
			}
			continue
		}
		if err := <-sendErrs; err != nil {
			t.Fatalf("close in OnConnect: %v", err)
		}
		op, p := cl.read()
		if op != wsframe.Close || len(p) < 2 || websocket.CloseCode(binary.BigEndian.Uint16(p)) != websocket.CloseGoingAway || string(p[2:]) != "bye" {
			t.Fatalf("third frame %v %q, want the close held for the handshake", op, p)
		}
	}
}

// Output held for the handshake is bounded by the send buffer limit: a
// send past it fails, as a send to a full buffer would.
func TestSendsBeforeTheHandshakeAreBounded(t *testing.T) {
	w := echoWorker()
	w.MaxSendBufferSize = 1 << 10
	results := make(chan error, 2)
	w.OnConnect = func(c *workerman.Connection) {
		_, err := c.SendValue(websocket.Text(bytes.Repeat([]byte("a"), 600)))
		results <- err
		_, err = c.SendValue(websocket.Text(bytes.Repeat([]byte("b"), 600)))
		results <- err
	}
	addr := serve(t, w)
	cl, resp := upgrade(t, addr, "")
	if resp.StatusCode != 101 {
		t.Fatalf("handshake: %s", resp.Status)
	}
	if err := <-results; err != nil {
		t.Fatalf("first 600 bytes: %v", err)
	}
	if err := <-results; err == nil || !strings.Contains(err.Error(), "send buffer limit") {
		t.Fatalf("second 600 bytes past a 1 KiB limit: %v, want the limit's error", err)
	}
	if op, p := cl.read(); op != wsframe.Text || len(p) != 600 || p[0] != 'a' {
		t.Fatalf("first frame %v of %d bytes, want the 600 a's", op, len(p))
	}
	cl.send(true, wsframe.Text, []byte("next"))
	if op, p := cl.read(); op != wsframe.Text || string(p) != "next" {
		t.Fatalf("after the held output: %v %q, want the echo (the refused send left nothing behind)", op, p)
	}
}
