//go:build linux

package netloop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// TestHalfClose: a client that sends a request and then shuts down its
// writing side still gets the whole reply, and then EOF: the server treats
// the FIN as "no more requests", not as "drop the reply".
func TestHalfClose(t *testing.T) {
	var opened []*Conn // loop-only
	closed := make(chan struct{}, 4)
	h := &handler{
		open:    func(c *Conn) { opened = append(opened, c) },
		message: echo,
		close:   func(*Conn) { closed <- struct{}{} },
	}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 64 << 20})

	t.Run("small", func(t *testing.T) {
		c := dial(t, addr)
		c.write("a\n")
		if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.expectLine("a")
		c.expectEOF()
		recv(t, "OnClose", closed)
	})

	// A reply larger than the kernel's socket buffers, so that most of it is
	// still queued on the server when the FIN arrives: the server must
	// write all of it, then close.
	t.Run("queued reply", func(t *testing.T) {
		c := dial(t, addr)
		const lines = 128 << 10 // 8 MiB of 64-byte lines
		var req bytes.Buffer
		for i := range lines {
			fmt.Fprintf(&req, "%07d %s\n", i, strings.Repeat("y", 55))
		}
		want := req.Bytes()
		var server *Conn
		waitFor(t, "the second connection to be accepted", func() bool {
			tl.do(func() {
				if len(opened) == 2 {
					server = opened[1]
				}
			})
			return server != nil
		})
		c.refresh()
		if _, err := c.Conn.Write(want); err != nil { // the server reads all of it, whatever its backlog
			t.Fatalf("write: %v", err)
		}
		if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the server to see the FIN with its reply still queued", func() bool {
			var st Status
			var q int
			tl.do(func() { st, q = server.Status(), server.SendQueueSize() })
			if st == StatusClosed {
				t.Fatalf("server closed before the client read its reply")
			}
			return st == StatusClosing && q > 0
		})
		c.refresh()
		got, err := io.ReadAll(c.Conn) // stops at EOF; the deadline bounds it
		if err != nil {
			t.Fatalf("reading the reply: %v (got %d of %d bytes)", err, len(got), len(want))
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("reply of %d bytes differs from the %d bytes sent", len(got), len(want))
		}
		recv(t, "OnClose", closed)
	})
	if s := tl.stats(); s.Connections != 0 || s.SendFail != 0 {
		t.Errorf("after both clients left: Connections = %d, SendFail = %d; want 0, 0", s.Connections, s.SendFail)
	}
}

// TestSlowReader: sending to a client that does not read fills the send
// buffer up to MaxSendBuffer (plus at most the message that crossed it),
// fires OnBufferFull once, then drops further sends with OnError(SendFail,
// ErrSendBufferFull) and counts them; once the client reads, OnBufferDrain
// fires and sends are accepted again. Nothing accepted is lost or reordered.
func TestSlowReader(t *testing.T) {
	const msgSize, maxSend = 64 << 10, 256 << 10
	var (
		conn          *Conn
		fulls, drains int
		sendErrs      []error
	)
	opened := make(chan struct{}, 1)
	drained := make(chan struct{}, 16)
	h := &handler{
		open:  func(c *Conn) { conn = c; opened <- struct{}{} },
		full:  func(*Conn) { fulls++ },
		drain: func(*Conn) { drains++; drained <- struct{}{} },
		err: func(_ *Conn, code ErrorCode, err error) {
			if code != SendFail {
				err = fmt.Errorf("code %v: %w", code, err)
			}
			sendErrs = append(sendErrs, err)
		},
	}
	tl, _, addr := startLoop(t, Config{}, "tcp", h, ListenerConfig{MaxSendBuffer: maxSend})
	l := tl.loop
	c := dial(t, addr)
	recv(t, "OnOpen", opened)

	payload := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i%26)}, msgSize) }
	var (
		accepted, dropped, maxQueue int
		results                     []SendResult
		sendFail                    uint64
	)
	tl.do(func() {
		base := l.Stats().SendFail
		for i := 0; i < 1000 && dropped < 3; i++ {
			r := conn.Send(payload(accepted))
			switch r {
			case Sent, Queued:
				accepted++
			case Dropped:
				dropped++
			default:
				t.Errorf("Send on the loop returned %v", r)
				return
			}
			if len(results) == 0 || results[len(results)-1] != r {
				results = append(results, r)
			}
			maxQueue = max(maxQueue, conn.SendQueueSize())
		}
		sendFail = l.Stats().SendFail - base
	})
	t.Logf("%d messages accepted (%v), queue peaked at %d bytes", accepted, results, maxQueue)
	if dropped != 3 {
		t.Fatalf("%d sends dropped out of 1000 to a client that never reads; want the buffer to fill", dropped)
	}
	if maxQueue > maxSend+msgSize || maxQueue < maxSend {
		t.Errorf("send queue peaked at %d bytes; want between MaxSendBuffer %d and %d", maxQueue, maxSend, maxSend+msgSize)
	}
	if want := []SendResult{Sent, Queued, Dropped}; !slices.Equal(results, want) && !slices.Equal(results, want[1:]) {
		t.Errorf("send results went %v, want %v", results, want)
	}
	if sendFail != 3 {
		t.Errorf("Stats().SendFail rose by %d for 3 dropped sends", sendFail)
	}
	tl.do(func() {
		if fulls != 1 {
			t.Errorf("OnBufferFull fired %d times, want 1", fulls)
		}
		if drains != 0 {
			t.Errorf("OnBufferDrain fired %d times before the client read anything", drains)
		}
		if len(sendErrs) != 3 {
			t.Errorf("OnError fired %d times for 3 dropped sends: %v", len(sendErrs), sendErrs)
		}
		for _, err := range sendErrs {
			if !errors.Is(err, ErrSendBufferFull) {
				t.Errorf("OnError reported %v, want SendFail with ErrSendBufferFull", err)
			}
		}
	})

	// The client starts reading: everything accepted arrives, in order.
	buf := make([]byte, msgSize)
	for i := range accepted {
		c.refresh()
		if _, err := io.ReadFull(c.Conn, buf); err != nil {
			t.Fatalf("reading message %d of %d: %v", i, accepted, err)
		}
		if !bytes.Equal(buf, payload(i)) {
			t.Fatalf("message %d arrived corrupted or out of order", i)
		}
	}
	recv(t, "OnBufferDrain", drained)
	var r SendResult
	tl.do(func() {
		if q := conn.SendQueueSize(); q != 0 {
			t.Errorf("SendQueueSize = %d after OnBufferDrain", q)
		}
		r = conn.Send([]byte("after drain"))
	})
	if r != Sent && r != Queued {
		t.Fatalf("Send after the buffer drained returned %v", r)
	}
	c.refresh()
	tail := make([]byte, len("after drain"))
	if _, err := io.ReadFull(c.Conn, tail); err != nil || string(tail) != "after drain" {
		t.Fatalf("read %q, %v after the drain; want %q", tail, err, "after drain")
	}
	if s := tl.stats(); s.SendFail != 3 {
		t.Errorf("Stats().SendFail = %d, want 3", s.SendFail)
	}
}

// TestMessagePoisoning: in race (and wmdebug) builds, message bytes are
// overwritten with 0xDB as soon as OnMessage returns, so a handler that keeps
// m.Data without copying it sees garbage when the next message arrives, not
// data that looks right (a repeated message) or changes with later reads.
func TestMessagePoisoning(t *testing.T) {
	if !poisonMessages {
		t.Skip("message poisoning is on only in race and wmdebug builds")
	}
	kept := map[*Conn][]byte{} // loop-only
	var opened []*Conn
	seen := make(chan [2]string, 1)
	h := &handler{
		open: func(c *Conn) { opened = append(opened, c) },
		message: func(c *Conn, m codec.Message) {
			if kept[c] == nil {
				kept[c] = m.Data // the bug under test: no copy
				c.Send([]byte("kept " + string(m.Data)))
				return
			}
			seen <- [2]string{string(kept[c]), string(m.Data)}
			c.Send(m.Data)
		},
	}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
	for _, tc := range []struct {
		name         string
		first, again string
		split        int // write the first line in two parts, split bytes first
	}{
		{name: "separate reads", first: "first", again: "second"},
		{name: "same read", first: "first", again: "second"},
		{name: "repeated message", first: "ping", again: "ping"},
		{name: "message spanning reads", first: "first", again: "second", split: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			switch {
			case tc.name == "same read":
				c.write(tc.first + "\n" + tc.again + "\n")
				c.expectLine("kept " + tc.first)
			case tc.split > 0:
				c.write(tc.first[:tc.split])
				waitFor(t, "the server to buffer a partial line", func() bool {
					n := 0
					tl.do(func() {
						if len(opened) > 0 && kept[opened[len(opened)-1]] == nil {
							n = opened[len(opened)-1].RecvQueueSize()
						}
					})
					return n == tc.split
				})
				c.write(tc.first[tc.split:] + "\n")
				c.expectLine("kept " + tc.first)
				c.write(tc.again + "\n")
			default:
				c.write(tc.first + "\n")
				c.expectLine("kept " + tc.first)
				c.write(tc.again + "\n")
			}
			c.expectLine(tc.again)
			got := recv(t, "the second message", seen)
			if want := strings.Repeat("\xdb", len(tc.first)); got[0] != want {
				t.Errorf("kept m.Data reads %q when the next message arrives, want %q", got[0], want)
			}
			if got[1] != tc.again {
				t.Errorf("next message delivered as %q, want %q", got[1], tc.again)
			}
		})
	}
}

// A handler that pauses a connection (back-pressure, as Pipe does) in the
// same read that carries the peer's FIN must still get every message once it
// resumes; the FIN is acted on only after that.
func TestPauseWithFinInSameRead(t *testing.T) {
	h := &handler{
		// Hold the loop until the client's data and FIN have arrived, so
		// the first read holds both.
		open: func(c *Conn) {
			fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLRDHUP}}
			for {
				n, err := unix.Poll(fds, int(ioTimeout.Milliseconds()))
				if err == unix.EINTR {
					continue
				}
				if err != nil || n == 0 {
					t.Errorf("the client's FIN did not arrive: %d, %v", n, err)
				}
				return
			}
		},
	}
	h.message = func(c *Conn, m codec.Message) {
		c.Send(m.Data)
		if string(m.Data) == "a" {
			c.PauseRecv()
			c.loop.AddTimer(20*time.Millisecond, false, c.ResumeRecv)
		}
	}
	_, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
	c := dial(t, addr)
	c.write("a\nb\nc\n")
	if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a", "b", "c"} {
		c.expectLine(want)
	}
	c.expectEOF()
}
