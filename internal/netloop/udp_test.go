//go:build linux

package netloop

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// listenUDP binds a UDP socket on addr (port 0) and registers it with h.
func (tl *testLoop) listenUDP(addr, proto string, h Handler, lcfg ListenerConfig) (*Listener, string) {
	tl.t.Helper()
	fd, err := sockets.ListenUDP(netip.MustParseAddrPort(addr), sockets.ListenOptions{})
	if err != nil {
		tl.t.Fatalf("ListenUDP: %v", err)
	}
	lcfg.Protocol = lookup(tl.t, proto)
	lcfg.NewConn = func() *Conn {
		c := &Conn{}
		c.SetHandler(h)
		return c
	}
	ln, err := tl.loop.AddUDP(fd, lcfg)
	if err != nil {
		tl.t.Fatalf("AddUDP: %v", err)
	}
	return ln, ln.Addr().String()
}

// udpClient dials addr over UDP with a read deadline.
func udpClient(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

// exchange sends req and reads one datagram back.
func exchange(t *testing.T, c *net.UDPConn, req string) string {
	t.Helper()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 70000)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	return string(buf[:n])
}

func TestUDPEchoRaw(t *testing.T) {
	tl := newTestLoop(t, Config{})
	var peers []netip.AddrPort
	h := &handler{message: func(c *Conn, m codec.Message) {
		peers = append(peers, c.RemoteAddr())
		if c.LocalAddr() != c.ln.addr {
			t.Errorf("LocalAddr = %s, want the socket's %s", c.LocalAddr(), c.ln.addr)
		}
		c.Send(m.Data)
	}, open: func(*Conn) { t.Error("OnOpen ran for a UDP socket") }, close: func(*Conn) { t.Error("OnClose ran") }}
	_, addr := tl.listenUDP("127.0.0.1:0", "tcp", h, ListenerConfig{})
	tl.run()
	a, b := udpClient(t, addr), udpClient(t, addr)
	if got := exchange(t, a, "hello"); got != "hello" {
		t.Errorf("a got %q", got)
	}
	if got := exchange(t, b, "from b\n"); got != "from b\n" {
		t.Errorf("b got %q", got)
	}
	// A Close on a sender's Conn closes nothing: the socket still serves.
	tl.do(func() { tl.loop.listeners[udpFD(tl)].udp.peer.Close() })
	if got := exchange(t, a, "again"); got != "again" {
		t.Errorf("after Close a got %q", got)
	}
	var got []netip.AddrPort
	tl.do(func() { got = append(got, peers...) })
	want := []netip.AddrPort{a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort(), a.LocalAddr().(*net.UDPAddr).AddrPort()}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("senders %v, want %v", got, want)
	}
	s := tl.stats()
	if s.Datagrams != 3 || s.TotalRequest != 3 || s.Connections != 0 || s.Accepted != 0 {
		t.Errorf("stats %+v", s)
	}
}

func udpFD(tl *testLoop) int {
	for fd, ln := range tl.loop.listeners {
		if ln.udp != nil {
			return fd
		}
	}
	tl.t.Fatal("no UDP socket")
	return -1
}

func TestUDPTextLinesAndDrops(t *testing.T) {
	tl := newTestLoop(t, Config{})
	got := make(chan string, 16)
	h := &handler{message: func(c *Conn, m codec.Message) {
		got <- string(m.Data)
		c.Send(bytes.ToUpper(m.Data))
	}}
	_, addr := tl.listenUDP("127.0.0.1:0", "text", h, ListenerConfig{MaxPackageSize: 64})
	tl.run()
	c := udpClient(t, addr)
	// Each line is a message and gets its own datagram back.
	if _, err := c.Write([]byte("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for _, want := range []string{"ONE\n", "TWO\n"} {
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
	// An unterminated last line is dropped, as Workerman drops what its
	// input() cannot frame; over max_package_size the whole datagram goes.
	for _, d := range []string{"three\npartial", strings.Repeat("x", 65) + "\n"} {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "THREE\n" {
		t.Fatalf("read %q, %v; want the framed line of the cut datagram", buf[:n], err)
	}
	if got := exchange(t, c, "last\n"); got != "LAST\n" {
		t.Fatalf("got %q", got)
	}
	var msgs []string
	for len(got) > 0 {
		msgs = append(msgs, <-got)
	}
	if strings.Join(msgs, ",") != "one,two,three,last" {
		t.Errorf("messages %q", msgs)
	}
	s := tl.stats()
	if s.Datagrams != 4 || s.DatagramsDropped != 2 || s.TotalRequest != 4 {
		t.Errorf("stats %+v", s)
	}
}

// A datagram larger than the read buffer arrives cut; MSG_TRUNC tells, and
// it is dropped rather than delivered short.
func TestUDPTruncatedDropped(t *testing.T) {
	tl := newTestLoop(t, Config{ReadBufferSize: 1024})
	h := &handler{message: func(c *Conn, m codec.Message) { c.Send(m.Data) }}
	_, addr := tl.listenUDP("127.0.0.1:0", "tcp", h, ListenerConfig{})
	tl.run()
	c := udpClient(t, addr)
	if _, err := c.Write(make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, c, "ok"); got != "ok" {
		t.Fatalf("got %q", got)
	}
	if s := tl.stats(); s.Datagrams != 2 || s.DatagramsDropped != 1 || s.TotalRequest != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A dual-stack socket on [::] answers IPv4 senders at their own address.
func TestUDPDualStack(t *testing.T) {
	tl := newTestLoop(t, Config{})
	var from netip.AddrPort
	h := &handler{message: func(c *Conn, m codec.Message) { from = c.RemoteAddr(); c.Send(m.Data) }}
	ln, _ := tl.listenUDP("[::]:0", "tcp", h, ListenerConfig{})
	tl.run()
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		c := udpClient(t, host+":"+strconv.Itoa(int(ln.Addr().Port())))
		if got := exchange(t, c, "hi "+host); got != "hi "+host {
			t.Fatalf("%s got %q", host, got)
		}
		var f netip.AddrPort
		tl.do(func() { f = from })
		if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); f.Addr().Unmap() != want.Addr().Unmap() || f.Addr().Is4In6() {
			t.Errorf("sender %s, want %s", f, want)
		}
	}
}

// SendTo answers a sender later, from any goroutine, and leaves the
// current sender of an OnMessage alone.
func TestUDPSendTo(t *testing.T) {
	tl := newTestLoop(t, Config{})
	var ln *Listener
	h := &handler{message: func(c *Conn, m codec.Message) {
		from := c.RemoteAddr()
		if _, err := ln.SendTo(from, "first"); err != nil {
			t.Error(err)
		}
		c.Send(m.Data) // still to the sender
		go func() {
			if r, err := ln.SendTo(from, []byte("later")); r != Posted || err != nil {
				t.Errorf("off-loop SendTo = %v, %v", r, err)
			}
		}()
	}}
	ln, addr := tl.listenUDP("127.0.0.1:0", "text", h, ListenerConfig{})
	tl.run()
	c := udpClient(t, addr)
	if got := exchange(t, c, "x\n"); got != "first\n" {
		t.Fatalf("got %q", got)
	}
	buf := make([]byte, 100)
	for _, want := range []string{"x\n", "later\n"} {
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
}

// A panic in OnMessage ends that datagram's delivery only.
func TestUDPPanicKeepsServing(t *testing.T) {
	tl := newTestLoop(t, Config{})
	h := &handler{message: func(c *Conn, m codec.Message) {
		if string(m.Data) == "boom" {
			panic("boom")
		}
		c.Send(m.Data)
	}}
	_, addr := tl.listenUDP("127.0.0.1:0", "tcp", h, ListenerConfig{})
	tl.run()
	c := udpClient(t, addr)
	if _, err := c.Write([]byte("boom")); err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, c, "fine"); got != "fine" {
		t.Fatalf("got %q", got)
	}
	if s := tl.stats(); s.Exceptions != 1 {
		t.Errorf("exceptions %d", s.Exceptions)
	}
}

// A connected socket (a client's) talks to its one peer.
func TestUDPConnectedClient(t *testing.T) {
	tl := newTestLoop(t, Config{})
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	target := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	fd, err := sockets.DialUDPSocket(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := connectUDP(fd, target); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	var ln *Listener
	func() { // before Run, setup owns the loop
		ln, err = tl.loop.AddUDP(fd, ListenerConfig{Protocol: lookup(t, "text"), NewConn: func() *Conn {
			c := &Conn{}
			c.SetHandler(&handler{message: func(c *Conn, m codec.Message) { got <- string(m.Data) + " from " + c.RemoteAddr().String() }})
			return c
		}})
	}()
	if err != nil {
		t.Fatal(err)
	}
	tl.run()
	if !ln.Connected() || ln.Peer().RemoteAddr() != target {
		t.Fatalf("connected %v to %s", ln.Connected(), ln.Peer().RemoteAddr())
	}
	tl.do(func() { ln.Peer().Send([]byte("ping")) })
	buf := make([]byte, 100)
	_ = srv.SetDeadline(time.Now().Add(ioTimeout))
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "ping\n" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}
	if _, err := srv.WriteToUDPAddrPort([]byte("pong\n"), from); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, "the answer", got); m != "pong from "+target.String() {
		t.Errorf("got %q", m)
	}
	tl.do(func() { ln.Close() })
}

// Serving a datagram allocates nothing: one read buffer, one Conn for every
// sender, raw socket addresses kept in the socket.
func TestUDPNoAllocs(t *testing.T) {
	if poisonMessages {
		t.Skip("race and wmdebug builds copy each datagram to poison it")
	}
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fd, err := sockets.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := echoHandler()
	ln, err := l.AddUDP(fd, ListenerConfig{Protocol: lookup(t, "text"), NewConn: func() *Conn { c := &Conn{}; c.SetHandler(h); return c }})
	if err != nil {
		t.Fatal(err)
	}
	c := udpClient(t, ln.Addr().String())
	l.scratch = make([]byte, 0, 64)
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		_, _ = c.Write([]byte("hello\n"))
		waitReadable(t, fd)
		ln.udp.read()
		_, _ = c.Read(buf)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per datagram, want 0", allocs)
	}
}
