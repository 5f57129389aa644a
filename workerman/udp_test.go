package workerman_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// udpWorker returns a worker serving text over UDP on a free loopback port.
func udpWorker(name string) *workerman.Worker {
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.Name = name
	w.Transport = "udp"
	return w
}

// readDatagram reads one datagram from c within ioTimeout.
func readDatagram(t *testing.T, c net.Conn) string {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading a datagram: %v", err)
	}
	return string(buf[:n])
}

// TestUDPWorkerConnectionDuringOnMessage: OnMessage gets one reused
// Connection whose RemoteAddr is the datagram's sender and whose Send
// answers that sender, whichever of several clients sent it; every line of
// a datagram is a message, and OnConnect and OnClose never run.
func TestUDPWorkerConnectionDuringOnMessage(t *testing.T) {
	w := udpWorker("udp-echo")
	var log eventLog
	conns := map[*workerman.Connection]bool{}
	w.OnConnect = func(*workerman.Connection) { log.add("connect") }
	w.OnClose = func(*workerman.Connection) { log.add("close") }
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		conns[c] = true
		if r := c.SendString(fmt.Sprintf("%s from %s", m.Data, c.RemoteAddr())); r != workerman.Sent {
			log.add("send %v", r)
		}
	}
	p := workermantest.Start(t, w)
	a, b := workermantest.Dial(t, w), workermantest.Dial(t, w)
	for i, c := range []net.Conn{a, b, a} {
		if _, err := fmt.Fprintf(c, "m%d\n", i); err != nil {
			t.Fatal(err)
		}
		if got, want := readDatagram(t, c), fmt.Sprintf("m%d from %s\n", i, c.LocalAddr()); got != want {
			t.Errorf("answer %q, want %q", got, want)
		}
	}
	// Two lines in one datagram: two messages, two answers.
	if _, err := b.Write([]byte("x\ny\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x", "y"} {
		if got := readDatagram(t, b); got != want+" from "+b.LocalAddr().String()+"\n" {
			t.Errorf("answer %q to line %q", got, want)
		}
	}
	n := workermantest.OnLoopValue(t, p.Loop(), func() int { return len(conns) })
	if n != 1 {
		t.Errorf("OnMessage saw %d Connections, want the one reused for every datagram", n)
	}
	if ev := log.events(); len(ev) != 0 {
		t.Errorf("events %q, want no OnConnect, OnClose or failed send", ev)
	}
	if st := workermantest.OnLoopValue(t, p.Loop(), p.Loop().Stats); st.Datagrams != 4 || st.Connections != 0 {
		t.Errorf("Stats: %d datagrams, %d connections; want 4, 0", st.Datagrams, st.Connections)
	}
}

// TestUDPWorkerSendToFromAnotherGoroutine: a sender's address kept from
// OnMessage is answered later through Worker.SendTo from another goroutine
// (Posted), with the worker's protocol encoding the value.
func TestUDPWorkerSendToFromAnotherGoroutine(t *testing.T) {
	w := udpWorker("udp-later")
	senders := make(chan netip.AddrPort, 1)
	w.OnMessage = func(c *workerman.Connection, _ workerman.Message) { senders <- c.RemoteAddr() }
	workermantest.Start(t, w)
	c := workermantest.Dial(t, w)
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	var from netip.AddrPort
	select {
	case from = <-senders:
	case <-time.After(waitTimeout):
		t.Fatal("OnMessage did not run")
	}
	for _, v := range []any{[]byte("bytes"), "string"} {
		r, err := w.SendTo(from, v)
		if r != workerman.Posted || err != nil {
			t.Errorf("SendTo(%v) off the loop = %v, %v; want Posted", v, r, err)
		}
		if got, want := readDatagram(t, c), fmt.Sprintf("%s\n", v); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// A TCP worker has no datagrams to send.
	tw := textWorker("tcp")
	workermantest.Start(t, tw)
	if r, err := tw.SendTo(from, "x"); r != workerman.Dropped || err == nil {
		t.Errorf("SendTo on a TCP worker = %v, %v; want Dropped and an error", r, err)
	}
}

// TestUDPWorkerConnectionOffLoopDropped: the reused Connection stands for
// whichever sender the loop serves now, so a send on it from another
// goroutine is Dropped (never posted to someone else); SendTo is the way.
func TestUDPWorkerConnectionOffLoopDropped(t *testing.T) {
	w := udpWorker("udp-kept")
	kept := make(chan *workerman.Connection, 1)
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if string(m.Data) == "keep" {
			kept <- c
			return
		}
		c.Send(m.Data)
	}
	workermantest.Start(t, w)
	client := workermantest.Dial(t, w)
	if _, err := client.Write([]byte("keep\n")); err != nil {
		t.Fatal(err)
	}
	var c *workerman.Connection
	select {
	case c = <-kept:
	case <-time.After(waitTimeout):
		t.Fatal("OnMessage did not run")
	}
	if r := c.Send([]byte("late")); r != workerman.Dropped {
		t.Errorf("Send off the loop = %v, want Dropped", r)
	}
	if r := c.SendString("late"); r != workerman.Dropped {
		t.Errorf("SendString off the loop = %v, want Dropped", r)
	}
	if r, err := c.SendValue("late"); r != workerman.Dropped || err == nil || !strings.Contains(err.Error(), "SendTo") {
		t.Errorf("SendValue off the loop = %v, %v; want Dropped and an error pointing to SendTo", r, err)
	}
	// Nothing of the dropped sends arrives: the next datagram is the echo.
	if _, err := client.Write([]byte("echo\n")); err != nil {
		t.Fatal(err)
	}
	if got := readDatagram(t, client); got != "echo\n" {
		t.Errorf("got %q, want only the echo", got)
	}
}

// TestUDPWorkerIPv6Only: a UDP worker a foreground Process binds on [::]
// keeps to IPv6 with IPv6Only, leaving the IPv4 port free, and serves IPv4
// senders too without it, as the master's sockets do.
func TestUDPWorkerIPv6Only(t *testing.T) {
	if !hasIPv6Loopback(t) {
		t.Skip("skipped: this machine has no IPv6 loopback (::1)")
	}
	for _, v6only := range []bool{false, true} {
		t.Run(fmt.Sprintf("IPv6Only=%v", v6only), func(t *testing.T) {
			w := workerman.NewWorker("udp://[::]:0")
			w.IPv6Only = v6only
			w.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }
			workermantest.Start(t, w)
			v4 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), w.Addr().Port())
			ln, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(v4))
			switch {
			case v6only && err != nil:
				t.Errorf("IPv6Only: the IPv4 port is taken: %v", err)
			case !v6only && err == nil:
				t.Errorf("dual stack: the IPv4 port is free, so IPv4 senders are not served")
			case !v6only && !errors.Is(err, syscall.EADDRINUSE):
				t.Errorf("dual stack: binding the IPv4 port: %v, want address in use", err)
			}
			if ln != nil {
				ln.Close()
			}
			u, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Loopback(), w.Addr().Port())))
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			if _, err := u.Write([]byte("six")); err != nil {
				t.Fatal(err)
			}
			if got := readDatagram(t, u); got != "six" {
				t.Errorf("IPv6 echo %q", got)
			}
		})
	}
}
