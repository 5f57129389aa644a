//go:build linux

package netloop

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// oneAtATime keeps one request in flight, as the HTTP codec does: a line is
// framed only once the response to the previous one has been encoded. Input
// called while a response is pending pauses reading; EncodeValue, which
// finishes the response, resumes it.
type oneAtATime struct {
	conn   codec.Conn
	busy   bool // a request was delivered and not answered yet
	paused bool
	// inputWhilePaused counts Input calls made after PauseRecv and before
	// ResumeRecv: the loop must make none.
	inputWhilePaused *atomic.Int32
	// afterClose records what WriteRaw reported after Close in EncodeValue.
	afterClose *atomic.Int32
}

func (o *oneAtATime) Input(buf []byte) (int, error) {
	if o.paused {
		o.inputWhilePaused.Add(1)
	}
	if o.busy {
		o.paused = true
		o.conn.PauseRecv()
		return 0, nil
	}
	if bytes.HasPrefix(buf, []byte("BAD")) {
		return 0, errBad
	}
	return bytes.IndexByte(buf, '\n') + 1, nil
}

func (o *oneAtATime) Decode(pkt []byte) (codec.Message, error) {
	o.busy = true
	return codec.Message{Data: pkt[:len(pkt)-1], Kind: codec.KindText}, nil
}

func (o *oneAtATime) Encode(dst, payload []byte) ([]byte, error) {
	return append(append(dst, payload...), '\n'), nil
}

// The responses oneAtATime encodes.
type (
	// textReply is one line.
	textReply string
	// lastReply is one line, after which the codec closes the connection
	// (an HTTP/1.0 response); the codec also tries to write after Close.
	lastReply string
	// fileReply is head, a file region, then trailer. With rawHead the head
	// is written with WriteRaw and dst is returned unchanged; otherwise the
	// head is appended to dst. The trailer always goes through WriteRaw.
	fileReply struct {
		head, trailer string
		f             *os.File
		off, n        int64
		rawHead       bool
	}
)

func (o *oneAtATime) EncodeValue(dst []byte, v any) ([]byte, error) {
	switch r := v.(type) {
	case textReply:
		dst = append(append(dst, r...), '\n')
	case lastReply:
		dst = append(append(dst, r...), '\n')
		o.conn.Close()
		if o.conn.WriteRaw([]byte("after close\n")) {
			o.afterClose.Add(1)
		}
	case fileReply:
		if r.rawHead {
			o.conn.WriteRaw([]byte(r.head))
		} else {
			dst = append(dst, r.head...)
		}
		o.conn.WriteFile(r.f, r.off, r.n)
		o.conn.WriteRaw([]byte(r.trailer))
	default:
		return dst, errors.New("oneAtATime: unknown reply")
	}
	o.busy = false
	if o.paused {
		o.paused = false
		o.conn.ResumeRecv()
	}
	return dst, nil
}

type oneAtATimeProtocol struct {
	inputWhilePaused atomic.Int32
	afterClose       atomic.Int32
}

func (p *oneAtATimeProtocol) NewCodec(c codec.Conn) codec.Codec {
	return &oneAtATime{conn: c, inputWhilePaused: &p.inputWhilePaused, afterClose: &p.afterClose}
}

// later answers from another goroutine, as an application that completes a
// response after a database call does.
func later(c *Conn, v any) {
	go func() {
		// Not a wait for anything: the delay of the database call, so
		// that the answer usually comes after the loop has read on.
		time.Sleep(5 * time.Millisecond)
		_, _ = c.SendValue(v) // off the loop: posted, the error comes later
	}()
}

// TestPauseKeepsPipelinedInput: pipelined requests arrive in one write while
// the first is answered off the loop. The codec pauses reading; each answer
// resumes it, and the next request is framed from the bytes kept meanwhile,
// though no byte arrives after the first write. Those kept bytes exceed
// max_package_size, which must not count against a paused connection.
func TestPauseKeepsPipelinedInput(t *testing.T) {
	p := &oneAtATimeProtocol{}
	h := &handler{message: func(c *Conn, m codec.Message) {
		later(c, textReply("R "+string(m.Data)))
	}}
	tl := newTestLoop(t, Config{})
	_, addr := tl.listen(p, h, ListenerConfig{MaxPackageSize: 8})
	tl.run()

	c := dial(t, addr)
	c.write("aaaa\nbbbb\ncccc\ndddd\n") // 20 bytes: over the limit once the first is out
	for _, want := range []string{"R aaaa", "R bbbb", "R cccc", "R dddd"} {
		c.expectLine(want)
	}
	c.write("eeee\n")
	c.expectLine("R eeee")
	s := tl.stats()
	if s.ProtocolErrors != 0 || s.TotalRequest != 5 {
		t.Errorf("ProtocolErrors = %d, TotalRequest = %d; want 0 and 5", s.ProtocolErrors, s.TotalRequest)
	}
	if n := p.inputWhilePaused.Load(); n != 0 {
		t.Errorf("Input was called %d times while reading was paused", n)
	}

	// Unpaused, the limit still holds.
	d := dial(t, addr)
	d.write("123456789")
	d.expectEOF()
	tl.waitStats("the oversized line to count", func(s Stats) bool { return s.ProtocolErrors == 1 })
}

// TestPausedSynchronousAnswers: the same, with each answer sent from
// OnMessage, so that pause and resume happen within the processing of one
// read.
func TestPausedSynchronousAnswers(t *testing.T) {
	p := &oneAtATimeProtocol{}
	h := &handler{message: func(c *Conn, m codec.Message) {
		if _, err := c.SendValue(textReply("R " + string(m.Data))); err != nil {
			t.Error(err)
		}
	}}
	tl := newTestLoop(t, Config{})
	_, addr := tl.listen(p, h, ListenerConfig{})
	tl.run()
	c := dial(t, addr)
	c.write("a\nb\nc\n")
	for _, want := range []string{"R a", "R b", "R c"} {
		c.expectLine(want)
	}
	if n := p.inputWhilePaused.Load(); n != 0 {
		t.Errorf("Input was called %d times while reading was paused", n)
	}
}

// TestCloseInsideEncode: a codec that decides while encoding a response that
// the connection ends after it (HTTP/1.0, "Connection: close"). The peer gets
// the whole response, then EOF; what the codec writes after Close is refused.
// Responses too large for the socket buffers, sent from OnMessage (corked)
// and from another goroutine, and behind earlier output still queued.
func TestCloseInsideEncode(t *testing.T) {
	big := strings.Repeat("z", 4<<20)
	for _, tc := range []struct {
		name, req, want string
		reply           func(c *Conn, m codec.Message)
	}{
		{"corked", "x\n", "x", func(c *Conn, m codec.Message) { c.SendValue(lastReply(m.Data)) }},
		{"posted", "x\n", "x", func(c *Conn, m codec.Message) { later(c, lastReply(m.Data)) }},
		{"corked big", "x\n", big, func(c *Conn, _ codec.Message) { c.SendValue(lastReply(big)) }},
		{"posted big", "x\n", big, func(c *Conn, _ codec.Message) { later(c, lastReply(big)) }},
		{"behind a backlog", "x\n", big + "\nx", func(c *Conn, m codec.Message) {
			c.Send([]byte(big)) // queued: the socket cannot take 4 MiB
			c.SendValue(lastReply(m.Data))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &oneAtATimeProtocol{}
			closed := make(chan struct{}, 1)
			h := &handler{message: tc.reply, close: func(*Conn) { closed <- struct{}{} }}
			tl := newTestLoop(t, Config{})
			_, addr := tl.listen(p, h, ListenerConfig{MaxSendBuffer: 64 << 20})
			tl.run()
			c := dial(t, addr)
			c.write(tc.req)
			got, err := io.ReadAll(c.r)
			if err != nil {
				t.Fatalf("read: %v after %d bytes", err, len(got))
			}
			if want := tc.want + "\n"; string(got) != want {
				t.Fatalf("got %d bytes before EOF (%.20q…), want %d (%.20q…)", len(got), got, len(want), want)
			}
			recv(t, "OnClose", closed)
			if n := p.afterClose.Load(); n != 0 {
				t.Errorf("WriteRaw after Close was accepted")
			}
			if s := tl.stats(); s.Connections != 0 || s.SendFail != 0 {
				t.Errorf("Connections = %d, SendFail = %d; want 0, 0", s.Connections, s.SendFail)
			}
		})
	}
}

// dialSmallWindow connects with a tiny receive buffer, so the server's
// output stays in the server's socket, unacknowledged, until the client
// reads: what a slow or distant client looks like.
func dialSmallWindow(t *testing.T, addr string) *client {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return wrapClient(t, c)
}

// startLingering runs a loop whose codec answers a line starting with "BAD"
// with errResp, asks for a lingering close when linger is set, and fails
// the input.
func startLingering(t *testing.T, errResp string, linger bool) (*testLoop, string, chan struct{}) {
	t.Helper()
	closed := make(chan struct{}, 1)
	proto := codec.ProtocolFunc(func(c codec.Conn) codec.Codec {
		return &badRequestCodec{conn: c, resp: errResp, linger: linger}
	})
	h := &handler{
		// A send buffer that takes the whole error response: the close
		// (and the lingering) starts once it is in the kernel, even if
		// the client does not read.
		open: func(c *Conn) {
			if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20); err != nil {
				t.Errorf("SO_SNDBUF: %v", err)
			}
		},
		close: func(*Conn) { closed <- struct{}{} },
	}
	tl := newTestLoop(t, Config{})
	_, addr := tl.listen(proto, h, ListenerConfig{})
	tl.run()
	return tl, addr, closed
}

// badRequestCodec answers malformed input as an HTTP server does: an error
// response, then the connection closes.
type badRequestCodec struct {
	conn   codec.Conn
	resp   string
	linger bool
}

func (b *badRequestCodec) Input(buf []byte) (int, error) {
	if !bytes.HasPrefix(buf, []byte("BAD")) {
		return bytes.IndexByte(buf, '\n') + 1, nil
	}
	b.conn.WriteRaw([]byte(b.resp))
	if b.linger {
		b.conn.Linger()
	}
	return 0, errBad
}

func (b *badRequestCodec) Decode(pkt []byte) (codec.Message, error) {
	return codec.Message{Data: pkt, Kind: codec.KindText}, nil
}

func (b *badRequestCodec) Encode(dst, p []byte) ([]byte, error) { return append(dst, p...), nil }

// sendBadRequest writes "BAD\n" followed by garbage bytes of more request
// (the body the server will never read), from another goroutine, ignoring
// the write error the server's close eventually causes.
func sendBadRequest(c *client, garbage int) {
	go func() {
		_, _ = c.Conn.Write(append([]byte("BAD\n"), make([]byte, garbage)...))
	}()
}

// lingerOutcome sends a bad request with 1 MiB of garbage after it to a
// client whose window is small and that starts reading late, and returns
// what it read before EOF or an error.
func lingerOutcome(t *testing.T, linger bool, resp string) ([]byte, error) {
	tl, addr, closed := startLingering(t, resp, linger)
	c := dialSmallWindow(t, addr)
	sendBadRequest(c, 1<<20)
	// The client reads only once the server has answered and closed (with
	// Linger: half-closed, lingering), when a plain close meets the unread
	// request.
	if linger {
		waitFor(t, "the server to answer and linger", func() bool {
			var active bool
			tl.do(func() { active = lingeringConn(tl.loop) != nil })
			return active
		})
	} else {
		recv(t, "OnClose", closed)
	}
	got, err := io.ReadAll(c.Conn)
	if linger {
		recv(t, "OnClose", closed)
	}
	tl.waitStats("the connection to go", func(s Stats) bool { return s.Connections == 0 && s.Timers == 0 })
	return got, err
}

// lingeringConn returns l's connection that has half-closed and lingers, or
// nil. Loop-only.
func lingeringConn(l *Loop) *Conn {
	for _, c := range l.conns {
		if c != nil && c.linger != nil && c.linger.active {
			return c
		}
	}
	return nil
}

// TestLingerKeepsErrorResponse: a client still sending its request when the
// server answers 400 and closes must be able to read that answer. With a
// plain close the unread request makes the kernel reset the connection and
// drop the unacknowledged part of the answer; lingering keeps it.
func TestLingerKeepsErrorResponse(t *testing.T) {
	resp := "400 Bad Request\n" + strings.Repeat("e", 256<<10) + "\n"
	got, err := lingerOutcome(t, true, resp)
	if err != nil || string(got) != resp {
		t.Fatalf("read %d of the %d-byte error response, then %v; want all of it and EOF", len(got), len(resp), err)
	}
	if os.Getenv("NETLOOP_LINGER_CONTROL") != "" {
		// The control experiment: without Linger the same client sees
		// the reset (run by hand, to check that the test can fail).
		got, err := lingerOutcome(t, false, resp)
		t.Logf("without Linger: read %d of %d bytes, then %v", len(got), len(resp), err)
	}
}

// TestLingerEnds: a lingering connection ends on the peer's FIN at once, and
// within lingerTimeout when the peer neither closes nor stops sending; its
// timer is gone with it.
func TestLingerEnds(t *testing.T) {
	const resp = "400 Bad Request\n"
	t.Run("peer closes", func(t *testing.T) {
		tl, addr, closed := startLingering(t, resp, true)
		c := dial(t, addr)
		c.write("BAD\n")
		c.expectLine("400 Bad Request")
		c.expectEOF() // the half-close
		start := time.Now()
		if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		recv(t, "OnClose", closed)
		if d := time.Since(start); d > lingerTimeout/2 {
			t.Errorf("closed %v after the peer's FIN, want at once", d)
		}
		if s := tl.stats(); s.Timers != 0 || s.Connections != 0 {
			t.Errorf("Timers = %d, Connections = %d after the close; want 0, 0", s.Timers, s.Connections)
		}
	})
	t.Run("peer stays", func(t *testing.T) {
		tl, addr, closed := startLingering(t, resp, true)
		c := dial(t, addr)
		start := time.Now()
		c.write("BAD\n")
		c.expectLine("400 Bad Request")
		c.expectEOF()
		// Keep trickling: the connection must not wait for an EOF that
		// never comes.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if _, err := c.Conn.Write([]byte("more")); err != nil {
						return
					}
				}
			}
		}()
		time.Sleep(lingerTimeout / 2) // what is checked: still there halfway
		if s := tl.stats(); s.Connections != 1 {
			t.Fatalf("Connections = %d halfway through lingering, want 1", s.Connections)
		}
		recv(t, "OnClose", closed)
		if d := time.Since(start); d < lingerTimeout-100*time.Millisecond || d > lingerTimeout+3*time.Second {
			t.Errorf("lingered %v, want about %v", d, lingerTimeout)
		}
		if s := tl.stats(); s.Timers != 0 {
			t.Errorf("Timers = %d after the close, want 0", s.Timers)
		}
	})
	t.Run("peer floods and never reads", func(t *testing.T) {
		// The response stays unacknowledged, so the connection, having
		// discarded what it may, waits out lingerTimeout.
		tl, addr, closed := startLingering(t, resp+strings.Repeat("e", 256<<10), true)
		c := dialSmallWindow(t, addr)
		start := time.Now()
		sendBadRequest(c, 4<<20)
		recv(t, "OnClose", closed)
		if d := time.Since(start); d < lingerTimeout-100*time.Millisecond || d > lingerTimeout+3*time.Second {
			t.Errorf("lingered %v, want about %v", d, lingerTimeout)
		}
		s := tl.stats()
		if s.Timers != 0 {
			t.Errorf("Timers = %d after the close, want 0", s.Timers)
		}
	})
	t.Run("destroyed early", func(t *testing.T) {
		var server *Conn
		tl, addr, closed := startLingering(t, resp, true)
		c := dial(t, addr)
		c.write("BAD\n")
		c.expectLine("400 Bad Request")
		c.expectEOF()
		tl.do(func() {
			for _, sc := range tl.loop.conns {
				if sc != nil {
					server = sc
				}
			}
			if server == nil || server.linger == nil || !server.linger.active {
				t.Errorf("server connection not lingering")
				return
			}
			server.Destroy()
		})
		recv(t, "OnClose", closed)
		if s := tl.stats(); s.Timers != 0 {
			t.Errorf("Timers = %d after Destroy, want 0", s.Timers)
		}
	})
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list /proc/self/fd: %v", err)
	}
	return len(ents)
}

// testFile writes size random bytes to a new file and returns its content.
func testFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(7, uint64(size)))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	name := filepath.Join(t.TempDir(), "region")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name, data
}

func openFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readSlowly reads n bytes in small pieces with pauses, so the server meets
// a full socket many times.
func readSlowly(t *testing.T, c *client, n int) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, 32<<10)
	for len(got) < n {
		c.refresh()
		k, err := c.r.Read(buf[:min(len(buf), n-len(got))])
		got = append(got, buf[:k]...)
		if err != nil {
			t.Fatalf("read: %v after %d of %d bytes", err, len(got), n)
		}
		if len(got)%(512<<10) < k {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return got
}

// TestWriteFileInOrder: a 5 MiB file region between bytes sent before and
// after it reaches a slow reader intact and in order, then the file is
// closed; a second request on the same connection is answered after it.
func TestWriteFileInOrder(t *testing.T) {
	const off, n = 12345, 5 << 20
	name, data := testFile(t, off+n+999)
	region := data[off : off+n]
	h := &handler{message: func(c *Conn, m codec.Message) {
		c.Send([]byte("HEAD " + string(m.Data)))
		if !c.WriteFile(openFile(t, name), off, n) {
			t.Error("WriteFile refused")
		}
		c.Send([]byte("TRAILER"))
	}}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 64 << 20})
	c := dial(t, addr)
	tl.waitStats("the connection", func(s Stats) bool { return s.Connections == 1 })
	before := openFDs(t)
	c.write("one\ntwo\n")
	for _, req := range []string{"one", "two"} {
		c.expectLine("HEAD " + req)
		if got := readSlowly(t, c, n); !bytes.Equal(got, region) {
			t.Fatalf("file region for %s differs from the file", req)
		}
		c.expectLine("TRAILER")
	}
	waitFor(t, "the files to be closed", func() bool { return openFDs(t) <= before })
	if s := tl.stats(); s.SendFail != 0 {
		t.Errorf("SendFail = %d", s.SendFail)
	}
}

// TestWriteFileFromEncode: the HTTP codec's way of sending a file, from
// inside EncodeValue: the head (appended to dst, or written with WriteRaw
// while dst stays unchanged), the file, a trailer written with WriteRaw. Two
// pipelined requests, answered on the loop and from another goroutine.
func TestWriteFileFromEncode(t *testing.T) {
	const off, n = 100, 300 << 10
	name, data := testFile(t, off+n)
	region := string(data[off : off+n])
	for _, tc := range []struct {
		name    string
		rawHead bool
		posted  bool
	}{
		{"head in dst", false, false},
		{"head raw", true, false},
		{"head in dst, posted", false, true},
		{"head raw, posted", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &oneAtATimeProtocol{}
			h := &handler{message: func(c *Conn, m codec.Message) {
				r := fileReply{head: "HEAD " + string(m.Data) + "\n", trailer: "\nEND\n", f: openFile(t, name), off: off, n: n, rawHead: tc.rawHead}
				if tc.posted {
					later(c, r)
					return
				}
				if _, err := c.SendValue(r); err != nil {
					t.Error(err)
				}
			}}
			tl := newTestLoop(t, Config{})
			_, addr := tl.listen(p, h, ListenerConfig{MaxSendBuffer: 64 << 20})
			tl.run()
			c := dial(t, addr)
			c.write("a\nb\n")
			want := "HEAD a\n" + region + "\nEND\n" + "HEAD b\n" + region + "\nEND\n"
			if got := readSlowly(t, c, len(want)); string(got) != want {
				t.Fatalf("response bytes differ (%d bytes, starting %.30q)", len(got), got)
			}
			if s := tl.stats(); s.SendFail != 0 || s.ProtocolErrors != 0 {
				t.Errorf("SendFail = %d, ProtocolErrors = %d", s.SendFail, s.ProtocolErrors)
			}
		})
	}
}

// TestWriteFileOwnership: whatever becomes of a WriteFile, the file is
// closed: refused on a closing connection, dropped with the connection, cut
// short by a file shorter than the region (which ends the connection).
func TestWriteFileOwnership(t *testing.T) {
	name, data := testFile(t, 8<<20)
	closed := func(f *os.File) bool {
		_, err := f.Stat()
		return errors.Is(err, os.ErrClosed)
	}

	t.Run("refused when closing", func(t *testing.T) {
		var f *os.File
		var ok bool
		h := &handler{message: func(c *Conn, _ codec.Message) {
			c.Close()
			f = openFile(t, name)
			ok = c.WriteFile(f, 0, 10)
		}}
		tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
		c := dial(t, addr)
		c.write("x\n")
		c.expectEOF()
		tl.do(func() {
			if ok || !closed(f) {
				t.Errorf("WriteFile on a closing connection: reported %v, file closed %v; want false, true", ok, closed(f))
			}
		})
	})

	t.Run("dropped with the connection", func(t *testing.T) {
		var f *os.File
		h := &handler{message: func(c *Conn, _ codec.Message) {
			f = openFile(t, name)
			c.WriteFile(f, 0, int64(len(data)))
		}}
		tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 64 << 20})
		c := dialSmallWindow(t, addr)
		c.write("x\n")
		waitFor(t, "the file to be queued", func() bool {
			var q int
			tl.do(func() {
				for _, sc := range tl.loop.conns {
					if sc != nil {
						q = sc.SendQueueSize()
					}
				}
			})
			return q > 0
		})
		tl.do(func() {
			if closed(f) {
				t.Errorf("file closed while its region is being sent")
			}
		})
		c.Close()
		tl.waitStats("the connection to go", func(s Stats) bool { return s.Connections == 0 })
		tl.do(func() {
			if !closed(f) {
				t.Errorf("file still open after its connection closed")
			}
		})
	})

	t.Run("file shorter than the region", func(t *testing.T) {
		var f *os.File
		h := &handler{message: func(c *Conn, _ codec.Message) {
			c.Send([]byte("HEAD"))
			f = openFile(t, name)
			c.WriteFile(f, int64(len(data))-1000, 5000)
			c.Send([]byte("TRAILER"))
		}}
		tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
		c := dial(t, addr)
		c.write("x\n")
		got, _ := io.ReadAll(c.r) // EOF or a reset: either way the connection ends
		if want := "HEAD\n" + string(data[len(data)-1000:]); string(got) != want {
			t.Errorf("read %d bytes, want the head and the 1000 bytes the file has (%d)", len(got), len(want))
		}
		tl.waitStats("the connection to go", func(s Stats) bool { return s.Connections == 0 })
		tl.do(func() {
			if !closed(f) {
				t.Errorf("file still open after the connection ended")
			}
		})
	})
}

// TestWriteFileBackPressure: a file region counts towards the send buffer:
// OnBufferFull fires, a send while it is queued beyond the limit is dropped,
// and OnBufferDrain fires once the file is out.
func TestWriteFileBackPressure(t *testing.T) {
	const n = 4 << 20
	name, data := testFile(t, n)
	var events []string // loop-only
	var results []bool
	h := &handler{
		message: func(c *Conn, _ codec.Message) {
			results = append(results, c.WriteFile(openFile(t, name), 0, n))
			results = append(results, c.Send([]byte("dropped")) != Dropped)
			results = append(results, c.WriteFile(openFile(t, name), 0, n))
		},
		full:  func(*Conn) { events = append(events, "full") },
		drain: func(*Conn) { events = append(events, "drain") },
		err:   func(_ *Conn, code ErrorCode, _ error) { events = append(events, code.String()) },
	}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 1 << 20})
	c := dial(t, addr)
	tl.waitStats("the connection", func(s Stats) bool { return s.Connections == 1 })
	before := openFDs(t)
	c.write("x\n")
	if got := readSlowly(t, c, n); !bytes.Equal(got, data) {
		t.Fatal("file bytes differ")
	}
	waitFor(t, "OnBufferDrain", func() bool {
		var done bool
		tl.do(func() { done = len(events) > 0 && events[len(events)-1] == "drain" })
		return done
	})
	tl.do(func() {
		if want := []bool{true, false, false}; !slices.Equal(results, want) {
			t.Errorf("WriteFile, Send, WriteFile reported %v, want %v", results, want)
		}
		if want := []string{"full", "SEND_FAIL", "SEND_FAIL", "drain"}; !slices.Equal(events, want) {
			t.Errorf("events %q, want %q", events, want)
		}
	})
	waitFor(t, "the files to be closed", func() bool { return openFDs(t) <= before })
}

// expiringCodec implements codec.Expirer; its timeouts are not exercised
// here, only that the listener notices it.
type expiringCodec struct{ rawCodec }

func (expiringCodec) Expired(time.Time, time.Duration) bool { return false }

// rawCodec delivers whatever arrives.
type rawCodec struct{}

func (rawCodec) Input(buf []byte) (int, error) { return len(buf), nil }
func (rawCodec) Decode(pkt []byte) (codec.Message, error) {
	return codec.Message{Data: pkt, Kind: codec.KindData}, nil
}
func (rawCodec) Encode(dst, payload []byte) ([]byte, error) { return append(dst, payload...), nil }

// TestListenerOnExpirer: OnExpirer runs once, when the first connection gets
// a codec with timeouts of its own, whether from the protocol or by
// SetCodec, and never for a listener whose codecs have none.
func TestListenerOnExpirer(t *testing.T) {
	tl := newTestLoop(t, Config{})
	var plain, switched, direct atomic.Int32
	upgrade := &handler{message: func(c *Conn, _ codec.Message) { c.SetCodec(expiringCodec{}) }}
	_, plainAddr := tl.listen(codec.ProtocolFunc(func(codec.Conn) codec.Codec { return rawCodec{} }), echoHandler(),
		ListenerConfig{OnExpirer: func() { plain.Add(1) }})
	_, switchAddr := tl.listen(codec.ProtocolFunc(func(codec.Conn) codec.Codec { return rawCodec{} }), upgrade,
		ListenerConfig{OnExpirer: func() { switched.Add(1) }})
	_, directAddr := tl.listen(codec.ProtocolFunc(func(codec.Conn) codec.Codec { return expiringCodec{} }), echoHandler(),
		ListenerConfig{OnExpirer: func() { direct.Add(1) }})
	tl.run()
	for range 2 {
		dial(t, plainAddr).write("x")
		dial(t, switchAddr).write("x")
		dial(t, directAddr).write("x")
	}
	tl.waitStats("every message", func(s Stats) bool { return s.TotalRequest == 6 })
	if p, s, d := plain.Load(), switched.Load(), direct.Load(); p != 0 || s != 1 || d != 1 {
		t.Errorf("OnExpirer ran %d, %d, %d times (plain, switched, direct); want 0, 1, 1", p, s, d)
	}
}
