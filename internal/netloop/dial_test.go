//go:build linux

package netloop

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// dialEvent is what an outbound connection's handler saw.
type dialEvent struct {
	what string // "open", "message", "error", "close"
	data string
	err  error
}

func dialHandler(events chan<- dialEvent) *handler {
	return &handler{
		open:    func(c *Conn) { events <- dialEvent{what: "open"}; c.Send([]byte("hi")) },
		message: func(c *Conn, m codec.Message) { events <- dialEvent{what: "message", data: string(m.Data)} },
		err: func(c *Conn, code ErrorCode, err error) {
			if code != ConnectFail {
				err = errors.Join(err, errors.New("code "+code.String()))
			}
			events <- dialEvent{what: "error", err: err}
		},
		close: func(*Conn) { events <- dialEvent{what: "close"} },
	}
}

func expectDialEvent(t *testing.T, events <-chan dialEvent, what string) dialEvent {
	t.Helper()
	ev := recv(t, "outbound connection event "+what, events)
	if ev.what != what {
		t.Fatalf("outbound connection reported %q (%v), want %q", ev.what, ev.err, what)
	}
	return ev
}

// TestDial: an outbound connection reports OnOpen and talks; a refused one
// reports OnError(ConnectFail) then OnClose, never from inside Dial; a
// connect that hangs times out, even if every user timer was cancelled
// meanwhile (the connect timeout is the loop's own timer).
func TestDial(t *testing.T) {
	tl, _, addr := startLoop(t, Config{}, "text", echoHandler(), ListenerConfig{})
	l := tl.loop
	text := lookup(t, "text")
	events := make(chan dialEvent, 16)
	dialTo := func(to netip.AddrPort, timeout time.Duration, then func()) {
		t.Helper()
		tl.do(func() {
			c := &Conn{}
			c.SetHandler(dialHandler(events))
			c.PrepareOutbound(l, text)
			l.Dial(c, to, timeout)
			select {
			case ev := <-events:
				t.Errorf("Dial reported %q from inside the call", ev.what)
			default:
			}
			if then != nil {
				then()
			}
		})
	}

	t.Run("connects", func(t *testing.T) {
		dialTo(netip.MustParseAddrPort(addr), 5*time.Second, nil)
		expectDialEvent(t, events, "open")
		if ev := expectDialEvent(t, events, "message"); ev.data != "hi" {
			t.Fatalf("echo over the outbound connection: %q", ev.data)
		}
	})

	t.Run("refused", func(t *testing.T) {
		// A port that was just free: nothing listens there.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedAddr := netip.MustParseAddrPort(ln.Addr().String())
		ln.Close()
		dialTo(closedAddr, 5*time.Second, nil)
		ev := expectDialEvent(t, events, "error")
		if !errors.Is(ev.err, unix.ECONNREFUSED) {
			t.Errorf("ConnectFail error %v, want ECONNREFUSED", ev.err)
		}
		expectDialEvent(t, events, "close")
	})

	t.Run("times out despite DelAllTimers", func(t *testing.T) {
		// A listener that never accepts and whose accept queue is full:
		// the kernel drops further SYNs, so a connect hangs.
		fd, err := sockets.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{Backlog: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		full := sockets.SockaddrToAddrPort(sa)
		for i := 0; ; i++ {
			c, err := net.DialTimeout("tcp", full.String(), 200*time.Millisecond)
			if err != nil {
				break // the queue is full
			}
			t.Cleanup(func() { c.Close() })
			if i == 10 {
				t.Fatalf("a backlog-1 listener took %d connections", i+1)
			}
		}
		start := time.Now()
		dialTo(full, 50*time.Millisecond, l.DelAllTimers)
		ev := expectDialEvent(t, events, "error")
		if !errors.Is(ev.err, ErrConnectTimeout) {
			t.Errorf("ConnectFail error %v, want ErrConnectTimeout", ev.err)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("connect timeout of 50ms reported after %v (after the SYN retry?)", d)
		}
		expectDialEvent(t, events, "close")
	})
	if s := tl.stats(); s.Connections != 2 { // the outbound conn and its accepted peer
		t.Errorf("Connections = %d, want 2", s.Connections)
	}
}
