package workerman

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/netloop"
	"github.com/workermand/workermand/internal/sockets"
)

// A UDP worker (ListenAddr "udp://ip:port" for raw datagrams, or a protocol
// such as "text://ip:port" with Transport "udp", where each line of a
// datagram is a message) has no connections, as in Workerman: OnConnect
// and OnClose never run, and OnMessage gets a Connection standing for the
// datagram's sender: RemoteAddr is the sender, and Send, SendString and
// SendValue answer it with one datagram (never queued: what the kernel
// does not take is Dropped and counted as send_fail). That Connection is
// reused for every datagram, so serving one allocates nothing; like
// Message.Data it is valid only until OnMessage returns, and its sends are
// loop-only (off the loop they are Dropped). To answer later or from
// another goroutine, keep c.RemoteAddr() and call Worker.SendTo.

// errNotUDP is SendTo's error on a worker that does not serve UDP.
var errNotUDP = errors.New("workerman: SendTo needs a running UDP worker")

// udpSchemes are the protocols that need a stream and cannot serve
// datagrams.
var udpSchemes = map[string]bool{"http": true, "websocket": true, "ws": true}

// resolveUDP reconciles ListenAddr and Transport as Workerman does: udp:// is
// raw datagrams (the transport is the scheme), and a protocol over UDP is
// text://ip:port with Transport "udp". It rewrites a.Scheme to the
// protocol ("tcp", raw, for udp://).
func (w *Worker) resolveUDP(a *listenaddr.Addr) error {
	switch {
	case a.Scheme == "udp" && w.Transport != "" && w.Transport != "udp":
		return fmt.Errorf("worker %q: transport %q contradicts %q, a UDP address", w.Name, w.Transport, w.ListenAddr)
	case a.Scheme == "udp":
		w.Transport, a.Scheme = "udp", "tcp"
	case w.Transport != "udp":
		return nil
	}
	if udpSchemes[a.Scheme] {
		return fmt.Errorf("worker %q: %s:// cannot run over UDP: it needs a connection", w.Name, a.Scheme)
	}
	if len(w.ProxyProtocol) > 0 {
		return fmt.Errorf("worker %q: ProxyProtocol does not apply to UDP", w.Name)
	}
	return nil
}

// isUDP reports whether w serves datagrams.
func (w *Worker) isUDP() bool { return w.Transport == "udp" }

// bindSocket creates w's socket in this process (a daemon's children
// inherit theirs from the master).
func (w *Worker) bindSocket() (int, error) {
	if w.isUDP() {
		return sockets.ListenUDP(w.addr.AddrPort(), sockets.ListenOptions{ReusePort: w.ReusePort, V6Only: w.IPv6Only})
	}
	return sockets.ListenTCP(w.addr.AddrPort(), sockets.ListenOptions{ReusePort: w.ReusePort, V6Only: w.IPv6Only})
}

// addSocket hands w's bound socket to the loop: a listener, or for UDP a
// socket whose datagrams all go through one reused Connection.
func (w *Worker) addSocket(l *netloop.Loop, fd int, cfg netloop.ListenerConfig) (*netloop.Listener, error) {
	if w.isUDP() {
		return l.AddUDP(fd, cfg)
	}
	return l.AddListener(fd, cfg)
}

// SendTo encodes v ([]byte, string, or a value the protocol encodes) and
// sends it in one datagram from a UDP worker's socket to addr: how a
// sender is answered after OnMessage has returned, or from another
// goroutine. Off the loop it posts the send (copying a []byte) and reports
// Posted. Safe from any goroutine once the process runs.
func (w *Worker) SendTo(addr netip.AddrPort, v any) (SendResult, error) {
	ln := w.listener
	if !w.isUDP() || w.loop == nil {
		return Dropped, errNotUDP
	}
	if !w.loop.l.OnLoop() {
		// w.listener belongs to the loop: read it there.
		if b, ok := v.([]byte); ok {
			v = append([]byte(nil), b...)
		}
		w.loop.l.Post(func() { _, _ = w.SendTo(addr, v) })
		return Posted, nil
	}
	if ln == nil {
		return Dropped, errNotUDP
	}
	r, err := ln.SendTo(addr, v)
	return SendResult(r), err
}

// udpOffLoop reports a send on a UDP worker's Connection from off the
// loop: the Connection stands for whichever sender the loop serves now, so
// such a send is dropped rather than risk reaching someone else.
func (c *Connection) udpOffLoop() bool {
	return c.worker != nil && c.worker.isUDP() && !c.worker.loop.l.OnLoop()
}

// errUDPOffLoop is SendValue's error for a send on a UDP worker's
// Connection from off the loop (see udpOffLoop).
var errUDPOffLoop = errors.New("workerman: a UDP worker's Connection is valid only during OnMessage; use Worker.SendTo")
