package workerman_test

import (
	"bytes"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// TestSendTimeout: a worker's SendTimeout closes a connection whose client
// stopped reading a reply, and counts it; other connections are served.
func TestSendTimeout(t *testing.T) {
	const timeout = time.Second
	big := bytes.Repeat([]byte("z"), 16<<20)
	closed := make(chan time.Time, 1)
	w := textWorker("stalled")
	w.SendTimeout = timeout
	w.MaxSendBufferSize = 64 << 20
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if string(m.Data) == "big" {
			c.Send(big)
			return
		}
		c.Send(m.Data)
	}
	w.OnClose = func(c *workerman.Connection) {
		select {
		case closed <- time.Now():
		default:
		}
	}
	p := workermantest.Start(t, w)

	// A small receive window keeps the reply queued on the server instead
	// of in the kernel's buffers.
	d := net.Dialer{Timeout: ioTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
	}}
	nc, err := d.Dial("tcp", w.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	asked := time.Now()
	if _, err := nc.Write([]byte("big\n")); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	select {
	case at = <-closed:
	case <-time.After(waitTimeout):
		t.Fatalf("the stalled connection was not closed within %s", waitTimeout)
	}
	if waited := at.Sub(asked); waited < timeout {
		t.Errorf("closed %s after the request; SendTimeout is %s", waited, timeout)
	}
	other := dialWorker(t, w)
	other.write("still serving\n")
	other.expectLine("still serving")
	if s := workermantest.OnLoopValue(t, p.Loop(), p.Loop().Stats); s.SendTimeouts != 1 {
		t.Errorf("Stats().SendTimeouts = %d, want 1", s.SendTimeouts)
	}
}

// TestSendTimeoutSettings: NewWorker starts with nginx's 60 s; a negative
// value is refused.
func TestSendTimeoutSettings(t *testing.T) {
	if w := workerman.NewWorker("text://127.0.0.1:0"); w.SendTimeout != 60*time.Second {
		t.Errorf("NewWorker().SendTimeout = %s, want 60s", w.SendTimeout)
	}
	w := textWorker("negative")
	w.SendTimeout = -time.Second
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("NewProcess with a negative SendTimeout: %v", err)
	}
}
