//go:build linux

package netloop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
)

// The shape protocol exercises what HTTP and WebSocket will need from the
// codec interface, one line command at a time:
//
//	HELLO      handshake, answered by the codec itself ("WELCOME")
//	PING       answered by the codec itself ("PONG"), nothing delivered
//	UPGRADE    answered "UPGRADED"; the connection speaks frame from the next byte
//	STREAM n   n body bytes follow, delivered in chunks of at most MaxPackageSize
//	BAD        malformed input: the connection is closed as a protocol error
//	QUIT       codec.ErrClose: closed cleanly
//
// Any other line is delivered as a KindText message. A connection must say
// HELLO first: that state lives in its own codec.
type shapeProtocol struct {
	made atomic.Int32 // NewCodec calls
}

func (p *shapeProtocol) NewCodec(c codec.Conn) codec.Codec {
	p.made.Add(1)
	return &shapeCodec{conn: c}
}

var (
	errNoHello = errors.New("shape: HELLO expected")
	errBad     = errors.New("shape: BAD command")
)

type shapeCodec struct {
	conn      codec.Conn
	greeted   bool
	remaining int // body bytes of a STREAM still to come
}

func (s *shapeCodec) Input(buf []byte) (int, error) {
	if s.remaining > 0 {
		// Streaming: whatever is here, up to what remains and within the
		// package limit, is the next packet.
		return min(len(buf), s.remaining, s.conn.MaxPackageSize()), nil
	}
	return bytes.IndexByte(buf, '\n') + 1, nil
}

// streamChunk is the Value of a body chunk: how much of the body is left.
type streamChunk struct{ left int }

func (s *shapeCodec) Decode(pkt []byte) (codec.Message, error) {
	if s.remaining > 0 {
		s.remaining -= len(pkt)
		return codec.Message{Data: pkt, Kind: codec.KindBinary, Value: streamChunk{s.remaining}}, nil
	}
	line := string(pkt[:len(pkt)-1])
	if !s.greeted {
		if line != "HELLO" {
			return codec.Message{}, errNoHello
		}
		s.greeted = true
		s.conn.WriteRaw([]byte("WELCOME\n"))
		return codec.Message{}, nil
	}
	switch {
	case line == "PING":
		s.conn.WriteRaw([]byte("PONG\n"))
		return codec.Message{}, nil
	case line == "UPGRADE":
		s.conn.WriteRaw([]byte("UPGRADED\n"))
		frame, _ := codec.Lookup("frame")
		s.conn.SetCodec(frame.NewCodec(s.conn))
		return codec.Message{}, nil
	case strings.HasPrefix(line, "STREAM "):
		n, err := strconv.Atoi(line[len("STREAM "):])
		if err != nil || n <= 0 {
			return codec.Message{}, fmt.Errorf("shape: bad STREAM length %q", line)
		}
		s.remaining = n
		return codec.Message{}, nil
	case line == "BAD":
		return codec.Message{}, errBad
	case line == "QUIT":
		return codec.Message{}, codec.ErrClose
	}
	return codec.Message{Data: pkt[:len(pkt)-1], Kind: codec.KindText}, nil
}

func (s *shapeCodec) Encode(dst, payload []byte) ([]byte, error) {
	return append(append(dst, payload...), '\n'), nil
}

// shapeServer is the handler of a shape listener: text lines are echoed
// ("ECHO …"), "BIG n" is answered with n bytes, "LATER" switches to frame
// after a timer, stream chunks are summed ("GOT …"), frames are echoed.
type shapeServer struct {
	loop   *Loop
	conns  []*Conn // loop-only, in accept order
	stream map[*Conn]*streamStats
	// pausedInput is what a LATER connection had buffered when its timer
	// switched it to frame.
	pausedInput int
}

type streamStats struct {
	total, chunks, biggest int
	sum                    uint64
}

func (h *shapeServer) OnOpen(c *Conn)                  { h.conns = append(h.conns, c) }
func (h *shapeServer) OnClose(*Conn)                   {}
func (h *shapeServer) OnBufferFull(*Conn)              {}
func (h *shapeServer) OnBufferDrain(*Conn)             {}
func (h *shapeServer) OnError(*Conn, ErrorCode, error) {}

func (h *shapeServer) OnMessage(c *Conn, m codec.Message) {
	switch m.Kind {
	case codec.KindBinary:
		st := h.stream[c]
		if st == nil {
			st = &streamStats{}
			h.stream[c] = st
		}
		st.total += len(m.Data)
		st.chunks++
		st.biggest = max(st.biggest, len(m.Data))
		for _, b := range m.Data {
			st.sum += uint64(b)
		}
		if m.Value.(streamChunk).left == 0 {
			c.Send(fmt.Appendf(nil, "GOT %d %d %d %d", st.total, st.chunks, st.biggest, st.sum))
			delete(h.stream, c)
		}
	case codec.KindData: // a frame, after an upgrade
		c.Send(m.Data)
	case codec.KindText:
		line := string(m.Data)
		switch {
		case line == "LATER":
			// Finish the handshake asynchronously: stop reading, and
			// switch protocols on a later turn.
			c.Send([]byte("SWITCHING"))
			c.PauseRecv()
			h.loop.AddTimer(5*time.Millisecond, false, func() {
				h.pausedInput = c.RecvQueueSize()
				frame, _ := codec.Lookup("frame")
				c.SetCodec(frame.NewCodec(c))
				c.ResumeRecv()
			})
		case strings.HasPrefix(line, "BIG "):
			n, _ := strconv.Atoi(line[len("BIG "):])
			c.Send(bytes.Repeat([]byte("b"), n))
		default:
			c.Send([]byte("ECHO " + line))
		}
	}
}

// startShape runs a loop with a shape listener whose packets are limited to
// 1 KiB.
func startShape(t *testing.T) (*testLoop, *shapeServer, *shapeProtocol, string) {
	t.Helper()
	tl := newTestLoop(t, Config{})
	h := &shapeServer{loop: tl.loop, stream: map[*Conn]*streamStats{}}
	p := &shapeProtocol{}
	_, addr := tl.listen(p, h, ListenerConfig{MaxPackageSize: 1 << 10})
	tl.run()
	return tl, h, p, addr
}

func TestCodecHandshakeAndPing(t *testing.T) {
	tl, _, _, addr := startShape(t)
	c := dial(t, addr)
	c.write("HELLO\nPING\nhello\n")
	c.expectLine("WELCOME")
	c.expectLine("PONG")
	c.expectLine("ECHO hello")
	c.roundTripPing()
	if s := tl.stats(); s.TotalRequest != 1 {
		t.Errorf("TotalRequest = %d: codec-consumed HELLO and PING must not reach OnMessage", s.TotalRequest)
	}
}

func (c *client) roundTripPing() {
	c.t.Helper()
	c.write("PING\n")
	c.expectLine("PONG")
}

// TestCodecPerConnectionState: each connection has its own codec, so one
// connection's handshake does not admit another.
func TestCodecPerConnectionState(t *testing.T) {
	tl, _, p, addr := startShape(t)
	a := dial(t, addr)
	a.write("HELLO\n")
	a.expectLine("WELCOME")
	b := dial(t, addr)
	b.write("PING\n") // no HELLO on this connection
	b.expectEOF()
	a.roundTripPing()
	if n := p.made.Load(); n != 2 {
		t.Errorf("NewCodec ran %d times for 2 connections", n)
	}
	if s := tl.stats(); s.ProtocolErrors != 1 || s.Connections != 1 {
		t.Errorf("ProtocolErrors = %d, Connections = %d; want 1 and 1", s.ProtocolErrors, s.Connections)
	}
}

// TestCodecUpgrade: SetCodec from Decode switches protocols at the exact
// byte: frames sent in the same write as the UPGRADE line are decoded as
// frames, and replies are encoded by the new codec.
func TestCodecUpgrade(t *testing.T) {
	tl, _, _, addr := startShape(t)
	c := dial(t, addr)
	c.write("HELLO\nUPGRADE\n" + frame("abc") + frame("PING\n") + frame("xyz"))
	c.expectLine("WELCOME")
	c.expectLine("UPGRADED")
	for _, want := range []string{"abc", "PING\n", "xyz"} {
		if got := c.readFrame(); got != want {
			t.Fatalf("frame %q came back as %q", want, got)
		}
	}
	c.write(frame("later"))
	if got := c.readFrame(); got != "later" {
		t.Fatalf("frame after the upgrade came back as %q", got)
	}
	if s := tl.stats(); s.ProtocolErrors != 0 || s.TotalRequest != 4 {
		t.Errorf("ProtocolErrors = %d, TotalRequest = %d; want 0 and 4", s.ProtocolErrors, s.TotalRequest)
	}
}

// TestCodecUpgradeLater: a handler that pauses reading, then switches codec
// and resumes on a later turn (an upgrade that waits for an asynchronous
// check): bytes that arrived meanwhile go to the new codec.
func TestCodecUpgradeLater(t *testing.T) {
	tl, h, _, addr := startShape(t)
	c := dial(t, addr)
	c.write("HELLO\nLATER\n" + frame("abc") + frame("def"))
	c.expectLine("WELCOME")
	c.expectLine("SWITCHING")
	for _, want := range []string{"abc", "def"} {
		if got := c.readFrame(); got != want {
			t.Fatalf("frame %q came back as %q", want, got)
		}
	}
	c.write(frame("ghi"))
	if got := c.readFrame(); got != "ghi" {
		t.Fatalf("frame after the switch came back as %q", got)
	}
	tl.do(func() {
		// One small write arrives in one read, so the frames were buffered
		// while reading was paused, and framed by the new codec on resume.
		if h.pausedInput != len(frame("abc")+frame("def")) {
			t.Errorf("%d bytes were buffered at the switch, want both frames", h.pausedInput)
		}
	})
}

// TestCodecStreamsLargeBody: a body 64 times max_package_size is delivered in
// chunks no larger than the limit, and the connection carries on after it:
// a protocol can stream bodies without buffering them.
func TestCodecStreamsLargeBody(t *testing.T) {
	const size = 64 << 10
	tl, _, _, addr := startShape(t)
	body := make([]byte, size)
	r := rand.New(rand.NewPCG(3, 4))
	var sum uint64
	for i := range body {
		body[i] = byte(r.Uint32())
		sum += uint64(body[i])
	}
	c := dial(t, addr)
	c.write("HELLO\nSTREAM " + itoa(size) + "\n" + string(body) + "PING\n")
	c.expectLine("WELCOME")
	f := strings.Fields(c.line())
	if len(f) != 5 || f[0] != "GOT" {
		t.Fatalf("stream reply %q", f)
	}
	total, _ := strconv.Atoi(f[1])
	chunks, _ := strconv.Atoi(f[2])
	biggest, _ := strconv.Atoi(f[3])
	gotSum, _ := strconv.ParseUint(f[4], 10, 64)
	if total != size || gotSum != sum {
		t.Errorf("server received %d body bytes (sum %d), want %d (sum %d)", total, gotSum, size, sum)
	}
	if biggest > 1<<10 || chunks < size>>10 {
		t.Errorf("body came in %d chunks, the biggest %d bytes; want chunks of at most max_package_size 1024", chunks, biggest)
	}
	c.expectLine("PONG")
	c.roundTripPing()
	if s := tl.stats(); s.ProtocolErrors != 0 {
		t.Errorf("ProtocolErrors = %d", s.ProtocolErrors)
	}

	// Without streaming, the same limit closes the connection.
	d := dial(t, addr)
	d.write("HELLO\n" + strings.Repeat("x", 2<<10))
	d.expectLine("WELCOME")
	d.expectEOF()
	if s := tl.stats(); s.ProtocolErrors != 1 {
		t.Errorf("ProtocolErrors = %d after a 2 KiB line, want 1", s.ProtocolErrors)
	}
}

// TestCodecErrorClosesAfterFlush: a Decode error closes the connection, but
// only after the replies produced before it are written; it counts as a
// protocol error.
func TestCodecErrorClosesAfterFlush(t *testing.T) {
	tl, h, _, addr := startShape(t)
	c := dial(t, addr)
	c.write("HELLO\nPING\nBAD\n")
	c.expectLine("WELCOME")
	c.expectLine("PONG")
	c.expectEOF()
	tl.waitStats("the protocol error", func(s Stats) bool { return s.ProtocolErrors == 1 && s.Connections == 0 })

	// A reply too big for the socket buffers is still queued when BAD is
	// decoded: the connection closes only once it is written.
	const big = 8 << 20
	d := dial(t, addr)
	d.write("HELLO\nBIG " + itoa(big) + "\nBAD\n")
	var server *Conn
	waitFor(t, "the second connection to be accepted", func() bool {
		tl.do(func() {
			if len(h.conns) == 2 {
				server = h.conns[1]
			}
		})
		return server != nil
	})
	waitFor(t, "the server to close with the reply queued", func() bool {
		var st Status
		var q int
		tl.do(func() { st, q = server.Status(), server.SendQueueSize() })
		if st == StatusClosed {
			t.Fatalf("server closed before the client read its reply")
		}
		return st == StatusClosing && q > 0
	})
	d.expectLine("WELCOME")
	d.refresh()
	reply, err := io.ReadAll(d.r)
	if err != nil {
		t.Fatalf("reading the reply: %v after %d bytes", err, len(reply))
	}
	if want := strings.Repeat("b", big) + "\n"; string(reply) != want {
		t.Fatalf("got %d bytes before EOF, want the %d-byte reply", len(reply), len(want))
	}
	if s := tl.stats(); s.ProtocolErrors != 2 {
		t.Errorf("ProtocolErrors = %d, want 2", s.ProtocolErrors)
	}
}

// TestCodecErrClose: codec.ErrClose closes the connection after its replies
// without counting a protocol error.
func TestCodecErrClose(t *testing.T) {
	tl, _, _, addr := startShape(t)
	c := dial(t, addr)
	c.write("HELLO\nPING\nQUIT\n")
	c.expectLine("WELCOME")
	c.expectLine("PONG")
	c.expectEOF()
	s := tl.waitStats("the connection to close", func(s Stats) bool { return s.Connections == 0 })
	if s.ProtocolErrors != 0 || s.Exceptions != 0 {
		t.Errorf("ProtocolErrors = %d, Exceptions = %d after ErrClose; want 0, 0", s.ProtocolErrors, s.Exceptions)
	}
}
