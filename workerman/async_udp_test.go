package workerman_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// newAsyncUdp creates an AsyncUdpConnection on p's loop whose callbacks
// record into log, and returns it without connecting.
func newAsyncUdp(t *testing.T, p *workerman.Process, remote string, log *eventLog) *workerman.AsyncUdpConnection {
	t.Helper()
	type res struct {
		c   *workerman.AsyncUdpConnection
		err error
	}
	r := workermantest.OnLoopValue(t, p.Loop(), func() res {
		c, err := workerman.NewAsyncUdpConnection(p.Loop(), remote)
		if err != nil {
			return res{nil, err}
		}
		c.OnConnect = func(c *workerman.AsyncUdpConnection) { log.add("connect %s", c.RemoteAddr()) }
		c.OnMessage = func(_ *workerman.AsyncUdpConnection, m workerman.Message) { log.add("message %s", m.Data) }
		c.OnClose = func(*workerman.AsyncUdpConnection) { log.add("close") }
		c.OnError = func(_ *workerman.AsyncUdpConnection, code workerman.ErrorCode, err error) {
			log.add("error %v", code)
			log.add("error detail: %v", err)
		}
		return res{c, nil}
	})
	if r.err != nil {
		t.Fatalf("NewAsyncUdpConnection(%q): %v", remote, r.err)
	}
	return r.c
}

// udpEchoWorker is a text-over-UDP worker answering each line with itself.
func udpEchoWorker() *workerman.Worker {
	w := udpWorker("udp-echo")
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }
	return w
}

// TestAsyncUdpConnectionWithWorker: a text client of a UDP worker. A Send
// before Connect connects (Workerman's send does) and holds the datagram
// until the socket is up; OnConnect follows it; later sends are Sent at
// once, from other goroutines Posted; Close runs OnClose, and a Send after
// it opens a new socket with the same callbacks.
func TestAsyncUdpConnectionWithWorker(t *testing.T) {
	w := udpEchoWorker()
	p := workermantest.Start(t, w)
	var log eventLog
	ac := newAsyncUdp(t, p, "text://"+w.Addr().String(), &log)
	type step struct {
		before, after workerman.Status
		r             workerman.SendResult
	}
	got := workermantest.OnLoopValue(t, p.Loop(), func() step {
		var s step
		s.before = ac.Status()
		s.r = ac.SendString("early")
		s.after = ac.Status()
		return s
	})
	if want := (step{workerman.StatusInitial, workerman.StatusConnecting, workerman.Queued}); got != want {
		t.Errorf("status before, after a Send before Connect, and its result = %+v, want %+v", got, want)
	}
	connect := "connect " + w.Addr().String()
	if ev := waitEvents(t, &log, 2); strings.Join(ev, "|") != connect+"|message early" {
		t.Fatalf("events %q, want OnConnect and the echo", ev)
	}
	st := workermantest.OnLoopValue(t, p.Loop(), func() []any {
		return []any{ac.Status(), ac.SendString("now"), ac.LocalAddr().Addr().String(), ac.RemoteIP(), ac.RemotePort()}
	})
	if want := []any{workerman.StatusEstablished, workerman.Sent, "127.0.0.1", "127.0.0.1", w.Addr().Port()}; fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("status, Send, local IP, remote IP and port = %v, want %v", st, want)
	}
	waitEvents(t, &log, 3)
	// From another goroutine: posted, then sent in order.
	if r := ac.Send([]byte("posted 1")); r != workerman.Posted {
		t.Errorf("Send off the loop = %v, want Posted", r)
	}
	if r, err := ac.SendValue("posted 2"); r != workerman.Posted || err != nil {
		t.Errorf("SendValue off the loop = %v, %v, want Posted", r, err)
	}
	ev := waitEvents(t, &log, 5)
	if strings.Join(ev[2:], "|") != "message now|message posted 1|message posted 2" {
		t.Errorf("events %q, want the three echoes in order", ev)
	}
	ac.Close() // off the loop: posted
	if ev := waitEvents(t, &log, 6); ev[5] != "close" {
		t.Fatalf("events %q, want OnClose", ev)
	}
	if s := workermantest.OnLoopValue(t, p.Loop(), ac.Status); s != workerman.StatusClosed {
		t.Errorf("status after Close = %v", s)
	}
	// A send after Close reconnects with the same callbacks.
	workermantest.OnLoop(t, p.Loop(), func() { ac.SendString("again") })
	if ev := waitEvents(t, &log, 8); strings.Join(ev[6:], "|") != connect+"|message again" {
		t.Errorf("events %q, want a new OnConnect and the echo", ev)
	}
	if st := workermantest.OnLoopValue(t, p.Loop(), p.Loop().Stats); st.Datagrams != 10 || st.Connections != 0 {
		t.Errorf("Stats: %d datagrams (5 each way), %d connections; want 10, 0", st.Datagrams, st.Connections)
	}
}

// TestAsyncUdpConnectionRaw: udp:// sends and receives datagrams as they
// are, against a plain net.ListenUDP server; reconnecting from OnClose
// gets a new socket (a new local port) each round.
func TestAsyncUdpConnectionRaw(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_ = srv.SetDeadline(time.Now().Add(ioTimeout))
	p := workermantest.Start(t, textWorker("idle"))
	var log eventLog
	ac := newAsyncUdp(t, p, "udp://"+srv.LocalAddr().String(), &log)
	const rounds = 3
	workermantest.OnLoop(t, p.Loop(), func() {
		n := 0
		ac.OnConnect = func(c *workerman.AsyncUdpConnection) {
			n++
			c.SendString(fmt.Sprintf("round %d", n))
		}
		ac.OnMessage = func(c *workerman.AsyncUdpConnection, m workerman.Message) {
			log.add("message %s", m.Data)
			c.Close()
		}
		ac.OnClose = func(c *workerman.AsyncUdpConnection) {
			if n < rounds {
				c.Connect()
			}
		}
		ac.Connect()
	})
	buf := make([]byte, 100)
	ports := map[int]bool{}
	for i := 1; i <= rounds; i++ {
		n, from, err := srv.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if got, want := string(buf[:n]), fmt.Sprintf("round %d", i); got != want {
			t.Errorf("server read %q, want %q (raw: no framing)", got, want)
		}
		ports[from.Port] = true
		if _, err := srv.WriteToUDP([]byte("pong\nraw"), from); err != nil {
			t.Fatal(err)
		}
	}
	ev := waitEvents(t, &log, rounds)
	for _, e := range ev {
		if e != "message pong\nraw" {
			t.Errorf("events %q, want each whole datagram as one message", ev)
			break
		}
	}
	if len(ports) != rounds {
		t.Errorf("the rounds came from %d local ports, want a new socket each round", len(ports))
	}
	waitOnLoop(t, p, "the last Close", func() bool { return ac.Status() == workerman.StatusClosed })
}

// TestAsyncUdpConnectionRefused: a datagram to a port nothing listens on
// is refused by ICMP, reported to OnError as SendFail with ECONNREFUSED;
// the socket stays up and serves the port once a server binds it.
func TestAsyncUdpConnectionRefused(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.LocalAddr().(*net.UDPAddr)
	srv.Close()
	p := workermantest.Start(t, textWorker("idle"))
	var log eventLog
	ac := newAsyncUdp(t, p, "udp://"+addr.String(), &log)
	var refused error
	workermantest.OnLoop(t, p.Loop(), func() {
		prev := ac.OnError
		ac.OnError = func(c *workerman.AsyncUdpConnection, code workerman.ErrorCode, err error) {
			refused = err
			prev(c, code, err)
		}
		ac.SendString("anyone?")
	})
	ev := waitEvents(t, &log, 3)
	if ev[1] != "error SEND_FAIL" {
		t.Fatalf("events %q, want OnConnect and then OnError(SEND_FAIL)", ev)
	}
	if err := workermantest.OnLoopValue(t, p.Loop(), func() error { return refused }); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("OnError's error %v is not ECONNREFUSED", err)
	}
	if s := workermantest.OnLoopValue(t, p.Loop(), ac.Status); s != workerman.StatusEstablished {
		t.Errorf("status after a refusal = %v, want ESTABLISHED", s)
	}
	srv, err = net.ListenUDP("udp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer srv.Close()
	_ = srv.SetDeadline(time.Now().Add(ioTimeout))
	workermantest.OnLoop(t, p.Loop(), func() { ac.SendString("now?") })
	buf := make([]byte, 100)
	if n, _, err := srv.ReadFromUDP(buf); err != nil || string(buf[:n]) != "now?" {
		t.Errorf("server read %q, %v", buf[:n], err)
	}
}

// TestAsyncUdpConnectionHostNames: a host name is resolved off the loop
// (CONNECTING meanwhile, sends held); a name that does not resolve is a
// ConnectFail followed by OnClose; Close while resolving abandons the
// connect.
func TestAsyncUdpConnectionHostNames(t *testing.T) {
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	// Every family, since localhost may resolve to ::1 first.
	listen := "text://127.0.0.1:0"
	if hasIPv6Loopback(t) {
		listen = "text://[::]:0"
	}
	w := workerman.NewWorker(listen)
	w.Transport = "udp"
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }
	p := workermantest.Start(t, w)
	var log eventLog
	ac := newAsyncUdp(t, p, fmt.Sprintf("text://localhost:%d", w.Addr().Port()), &log)
	status := workermantest.OnLoopValue(t, p.Loop(), func() workerman.Status {
		ac.SendString("by name")
		return ac.Status()
	})
	if status != workerman.StatusConnecting {
		t.Errorf("status right after a Send to a host name = %v, want CONNECTING", status)
	}
	ev := waitEvents(t, &log, 2)
	if !strings.HasPrefix(ev[0], "connect ") || ev[1] != "message by name" {
		t.Fatalf("events %q, want OnConnect and the echo", ev)
	}
	if h := workermantest.OnLoopValue(t, p.Loop(), ac.RemoteHost); h != "localhost" {
		t.Errorf("RemoteHost() = %q", h)
	}

	var bad eventLog
	nx := newAsyncUdp(t, p, "udp://no-such-host.invalid:9", &bad)
	workermantest.OnLoop(t, p.Loop(), func() {
		nx.ConnectTimeout = 3 * time.Second
		nx.Connect()
	})
	if ev := waitEvents(t, &bad, 3); ev[0] != "error CONNECT_FAIL" || !strings.Contains(ev[1], "no-such-host.invalid") || ev[2] != "close" {
		t.Errorf("events %q, want OnError(CONNECT_FAIL) naming the host, then OnClose", ev)
	}

	var abandoned eventLog
	ab := newAsyncUdp(t, p, fmt.Sprintf("udp://localhost:%d", w.Addr().Port()), &abandoned)
	workermantest.OnLoop(t, p.Loop(), func() {
		ab.SendString("never")
		ab.Close()
	})
	// Let a lookup finish: nothing may follow the close.
	waitEvents(t, &abandoned, 1)
	time.Sleep(100 * time.Millisecond)
	workermantest.OnLoop(t, p.Loop(), func() {})
	if ev := abandoned.events(); strings.Join(ev, "|") != "close" {
		t.Errorf("events %q, want only OnClose", ev)
	}
}

func TestNewAsyncUdpConnectionRejectsBadAddresses(t *testing.T) {
	p := workermantest.Start(t, textWorker("idle"))
	for _, tc := range []struct{ remote, want string }{
		{"http://127.0.0.1:80", "cannot run over UDP"},
		{"ws://127.0.0.1:80", "cannot run over UDP"},
		{"tcp://127.0.0.1:80", "is not UDP"},
		{"text://127.0.0.1:80/path", "no path"},
		{"nope://127.0.0.1:80", `unknown protocol "nope"`},
		{"udp://127.0.0.1", "missing port"},
	} {
		err := workermantest.OnLoopValue(t, p.Loop(), func() error {
			_, err := workerman.NewAsyncUdpConnection(p.Loop(), tc.remote)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewAsyncUdpConnection(%q) = %v, want an error containing %q", tc.remote, err, tc.want)
		}
	}
}
