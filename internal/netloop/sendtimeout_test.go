//go:build linux

package netloop

import (
	"bytes"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	"golang.org/x/sys/unix"
)

// TestSendTimeout: a peer that stops reading is destroyed once its queued
// output has made no progress for the send timeout, and counted; so is one
// whose Close waits for output it will never take. A peer that reads slowly
// but steadily, whose backlog lasts several timeouts, gets every byte.
func TestSendTimeout(t *testing.T) {
	const (
		timeout = time.Second
		payload = 2 << 20
	)
	big := bytes.Repeat([]byte("z"), payload-1) // the text codec adds '\n'
	type closeEvent struct {
		at      time.Time
		written uint64
	}
	closed := map[string]chan closeEvent{
		"stall": make(chan closeEvent, 1), "close": make(chan closeEvent, 1), "steady": make(chan closeEvent, 1),
	}
	kind := map[*Conn]string{} // loop-only
	h := &handler{
		open: func(c *Conn) {
			// A small server buffer too: the kernel then takes the
			// steady reader's output a few KiB at a time, so progress
			// is seen at the pace of the reader and not in megabytes
			// many seconds apart.
			_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 32<<10)
		},
		message: func(c *Conn, m codec.Message) {
			k := string(m.Data)
			kind[c] = k
			c.Send(big)
			if k == "close" {
				c.Close()
			}
		},
		close: func(c *Conn) {
			if ch, ok := closed[kind[c]]; ok {
				ch <- closeEvent{time.Now(), c.BytesWritten()}
			}
		},
	}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 64 << 20, SendTimeout: timeout})

	stall, closer, steady := dialSmallWindow(t, addr), dialSmallWindow(t, addr), dialSmallWindow(t, addr)
	asked := time.Now()
	stall.write("stall\n")
	closer.write("close\n")
	steady.write("steady\n")

	// The steady reader: 8 KiB every 10 ms, 2 MiB in about 2.5 s.
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 8<<10)
		total := 0
		for total < payload {
			_ = steady.SetReadDeadline(time.Now().Add(ioTimeout))
			n, err := steady.Conn.Read(buf)
			total += n
			if err != nil {
				got <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		got <- nil
	}()

	for _, k := range []string{"stall", "close"} {
		ev := recv(t, k+" connection to be closed", closed[k])
		if waited := ev.at.Sub(asked); waited < timeout {
			t.Errorf("%s connection closed %v after its request; the send timeout is %v", k, waited, timeout)
		}
		if ev.written >= payload {
			t.Errorf("%s connection: the server wrote all %d bytes, so nothing was stuck", k, ev.written)
		}
	}
	if err := recv(t, "the steady reader to read everything", got); err != nil {
		t.Fatalf("steady reader: %v", err)
	}
	select {
	case ev := <-closed["steady"]:
		t.Fatalf("steady reader closed by the server after %d bytes", ev.written)
	default:
	}
	if s := tl.stats(); s.SendTimeouts != 2 {
		t.Errorf("SendTimeouts = %d, want 2", s.SendTimeouts)
	}

	// The stalled peer learns of the close once it reads: what the kernel
	// had taken, then the end, not the whole reply.
	stall.refresh()
	n, err := io.Copy(io.Discard, stall.Conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("stalled client: read %d bytes, then %v; want the end of the stream", n, err)
	}
	if n >= payload {
		t.Errorf("stalled client read the whole reply (%d bytes)", n)
	}
}

// TestSendTimeoutOff: without a send timeout a stalled backlog costs no
// timer, and the connection stays until its peer reads.
func TestSendTimeoutOff(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 2<<20)
	var server *Conn // loop-only
	h := &handler{
		open:    func(c *Conn) { _ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 32<<10) },
		message: func(c *Conn, m codec.Message) { server = c; c.Send(big) },
	}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 64 << 20})
	c := dialSmallWindow(t, addr)
	c.write("go\n")
	waitFor(t, "the reply to be backlogged", func() bool {
		var q int
		tl.do(func() {
			if server != nil {
				q = server.SendQueueSize()
			}
		})
		return q > 0
	})
	if s := tl.stats(); s.Timers != 0 {
		t.Errorf("Timers = %d with no send timeout; want 0", s.Timers)
	}
	c.refresh()
	n, err := io.CopyN(io.Discard, c.Conn, int64(len(big)+1))
	if err != nil {
		t.Fatalf("read %d bytes of the reply: %v", n, err)
	}
	if s := tl.stats(); s.SendTimeouts != 0 || s.Connections != 1 {
		t.Errorf("SendTimeouts = %d, Connections = %d; want 0 and 1", s.SendTimeouts, s.Connections)
	}
}
