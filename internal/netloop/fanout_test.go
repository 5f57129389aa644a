//go:build linux

package netloop

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol/wsproto"
	"github.com/workermand/workermand/websocket"
)

// Upgrade requests: plain, with permessage-deflate (the default protocol
// answers server_no_context_takeover), and the same offer to a protocol
// that keeps the context.
const (
	wsUpgrade = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	plainOffer   = ""
	deflateOffer = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
)

// countingCodec counts the encodings the loop asks of a websocket codec.
type countingCodec struct {
	codec.Codec
	encodes *int
}

func (c countingCodec) EncodeValue(dst []byte, v any) ([]byte, error) {
	*c.encodes++
	return c.Codec.(codec.ValueEncoder).EncodeValue(dst, v)
}

func (c countingCodec) Encode(dst, p []byte) ([]byte, error) {
	*c.encodes++
	return c.Codec.Encode(dst, p)
}

func (c countingCodec) SharedEncoding(v any) any {
	return c.Codec.(codec.SharedEncoder).SharedEncoding(v)
}

// wsPeer is a server websocket connection of a loop that is not running
// (so the test is on it), over a socketpair whose other end the test reads.
type wsPeer struct {
	c    *Conn
	peer net.Conn
	r    *bufio.Reader
}

func openWS(t testing.TB, l *Loop, proto codec.Protocol, offer string, encodes *int) *wsPeer {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "peer")
	peer, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{}
	c.SetHandler(&handler{})
	c.init(l, fds[0], netip.AddrPort{}, nil)
	c.codec = proto.NewCodec(c)
	if encodes != nil {
		c.codec = countingCodec{Codec: c.codec, encodes: encodes}
	}
	c.status = StatusEstablished
	t.Cleanup(func() { peer.Close(); unix.Close(fds[0]) })
	if n := c.process([]byte(wsUpgrade + offer + "\r\n")); n == 0 {
		t.Fatal("the upgrade was not framed")
	}
	p := &wsPeer{c: c, peer: peer, r: bufio.NewReader(peer)}
	_ = peer.SetReadDeadline(time.Now().Add(ioTimeout))
	head := ""
	for !strings.HasSuffix(head, "\r\n\r\n") {
		line, err := p.r.ReadString('\n')
		if err != nil {
			t.Fatalf("101: %v (%q)", err, head)
		}
		head += line
	}
	if !strings.HasPrefix(head, "HTTP/1.1 101") || strings.Contains(head, "deflate") != (offer != plainOffer) {
		t.Fatalf("handshake answer %q", head)
	}
	if encodes != nil {
		*encodes = 0
	}
	return p
}

// frame reads one whole frame off the peer's end.
func (p *wsPeer) frame(t testing.TB) []byte {
	t.Helper()
	_ = p.peer.SetReadDeadline(time.Now().Add(ioTimeout))
	h := make([]byte, 2)
	if _, err := io.ReadFull(p.r, h); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		ext := make([]byte, 2)
		if n == 127 {
			ext = make([]byte, 8)
		}
		if _, err := io.ReadFull(p.r, ext); err != nil {
			t.Fatal(err)
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | int(b)
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(p.r, body); err != nil {
		t.Fatal(err)
	}
	return append(h, body...)
}

// A broadcast frames a message once per encoding the connections share:
// plain ones and those compressing each message alone
// (server_no_context_takeover) each get the bytes of one Encode; one
// keeping a compression context encodes its own, and every peer can read
// its copy.
func TestFanoutEncodesOncePerSharedEncoding(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctxProto, err := wsproto.New(websocket.Options{ContextTakeover: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var plainN, deflateN, ctxN int
	var plain, deflate, ctx []*wsPeer
	for range 3 {
		plain = append(plain, openWS(t, l, wsproto.Default, plainOffer, &plainN))
		deflate = append(deflate, openWS(t, l, wsproto.Default, deflateOffer, &deflateN))
		ctx = append(ctx, openWS(t, l, ctxProto, deflateOffer, &ctxN))
	}
	msg := []byte(strings.Repeat("a broadcast worth compressing; ", 20))
	f := NewFanout(msg)
	for i := range plain {
		for _, p := range []*wsPeer{plain[i], deflate[i], ctx[i]} {
			if r, err := f.Send(p.c); r != Sent || err != nil {
				t.Fatalf("Send: %v, %v", r, err)
			}
		}
	}
	if plainN != 1 || deflateN != 1 || ctxN != 3 {
		t.Errorf("encodes: plain %d, deflate without context %d, with context %d; want 1, 1, 3", plainN, deflateN, ctxN)
	}
	want := plain[0].frame(t)
	if want[0] != 0x81 || !bytes.Equal(want[len(want)-len(msg):], msg) {
		t.Fatalf("plain frame % x", want[:4])
	}
	for _, p := range plain[1:] {
		if got := p.frame(t); !bytes.Equal(got, want) {
			t.Errorf("plain frames differ")
		}
	}
	compressed := deflate[0].frame(t)
	if compressed[0] != 0xc1 || len(compressed) >= len(want) {
		t.Fatalf("deflate frame % x, %d bytes for %d", compressed[:2], len(compressed), len(want))
	}
	for _, p := range deflate[1:] {
		if got := p.frame(t); !bytes.Equal(got, compressed) {
			t.Errorf("frames compressed without context differ")
		}
	}
	for _, p := range ctx {
		if got := p.frame(t); got[0] != 0xc1 {
			t.Errorf("context takeover frame % x", got[:2])
		}
	}
	// The next message is compressed against the context's window: it
	// still reaches each on its own encoding.
	f = NewFanout(websocket.Binary(msg))
	for _, p := range ctx {
		if r, _ := f.Send(p.c); r != Sent {
			t.Fatalf("Send: %v", r)
		}
		if got := p.frame(t); got[0] != 0xc2 || len(got) >= len(compressed) {
			t.Errorf("second context frame % x, %d bytes (first %d)", got[:2], len(got), len(compressed))
		}
	}
}

// A socket that takes only part of the shared frame keeps the rest in the
// connection's own queue; the frame itself is left as it was for the next
// connection.
func TestFanoutQueuesOnlyTheRest(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := openWS(t, l, wsproto.Default, plainOffer, nil)
	b := openWS(t, l, wsproto.Default, plainOffer, nil)
	if err := unix.SetsockoptInt(a.c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*wsPeer{a, b} {
		if err := l.register(p.c, unix.EPOLLIN); err != nil {
			t.Fatal(err)
		}
	}
	msg := bytes.Repeat([]byte("x"), 1<<20)
	f := NewFanout(websocket.Binary(msg))
	if r, _ := f.Send(a.c); r != Queued {
		t.Fatalf("first send: %v, want Queued", r)
	}
	queued := a.c.SendQueueSize()
	if queued <= 0 || queued >= len(msg) {
		t.Fatalf("queued %d of a %d-byte frame", queued, len(msg)+10)
	}
	go func() { _, _ = io.Copy(io.Discard, b.r) }()
	b.c.SetMaxSendBuffer(4 << 20)
	if r, _ := f.Send(b.c); r != Sent && r != Queued {
		t.Fatalf("second send: %v", r)
	}
	if !bytes.Equal(f.frames[0][10:], msg) {
		t.Fatal("the shared frame was changed")
	}
}
