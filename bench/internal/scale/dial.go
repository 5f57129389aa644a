package scale

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spread is where a load process's connections go and come from: the
// destinations in turn, and source addresses and ports of its own.
//
// Each connection is bound to a source address and port of its own:
// left to the kernel, connect searches the local port range for a free
// port, and with tens of thousands taken that search costs more than the
// whole websocket setup (100,000 connections took two minutes that way,
// 30,000 ten seconds). Connection i takes port lo + i % n of source
// address i / n, n being the ports of the range less a tenth, kept for
// ports found taken (EADDRINUSE: a listener on the wildcard address).
type Spread struct {
	Dsts   []netip.AddrPort
	Srcs   []netip.Addr
	Lo, Hi int // source ports
}

// ParseSpread reads the load processes' flags: comma-separated loopback
// host:port destinations and source addresses, and a port range lo-hi.
func ParseSpread(targets, sources, ports string) (Spread, error) {
	var s Spread
	for _, t := range strings.Split(targets, ",") {
		ap, err := netip.ParseAddrPort(t)
		if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
			return s, fmt.Errorf("-targets: %q is not an IPv4 loopback host:port", t)
		}
		s.Dsts = append(s.Dsts, ap)
	}
	for _, t := range strings.Split(sources, ",") {
		a, err := netip.ParseAddr(t)
		if err != nil || !a.Is4() || !a.IsLoopback() {
			return s, fmt.Errorf("-sources: %q is not an IPv4 loopback address", t)
		}
		s.Srcs = append(s.Srcs, a)
	}
	if _, err := fmt.Sscanf(ports, "%d-%d", &s.Lo, &s.Hi); err != nil || s.Lo < 1 || s.Hi > 65535 || s.Hi < s.Lo {
		return s, fmt.Errorf("-ports %q: want lo-hi", ports)
	}
	return s, nil
}

// used is the ports of each source address planned for; the rest are
// spares.
func (s Spread) used() int { return (s.Hi - s.Lo + 1) * 9 / 10 }

// OpenAll opens conns connections with open, parallel at a time, within
// ctx. It returns those opened, how many failed and the first error.
func (s Spread) OpenAll(ctx context.Context, conns, parallel int,
	open func(src, dst netip.AddrPort) (*net.TCPConn, error)) (held []*net.TCPConn, failed int, firstErr error) {
	used := s.used()
	spare := s.Hi - s.Lo + 1 - used
	if conns > used*len(s.Srcs) {
		return nil, 0, fmt.Errorf("%d connections need more than %d source addresses of %d ports", conns, len(s.Srcs), used)
	}
	var (
		next, spares atomic.Int64
		mu           sync.Mutex
		wg           sync.WaitGroup
	)
	held = make([]*net.TCPConn, 0, conns)
	for range min(parallel, conns) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < conns && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				dst := s.Dsts[i%len(s.Dsts)]
				c, err := open(netip.AddrPortFrom(s.Srcs[i/used], uint16(s.Lo+i%used)), dst)
				for errors.Is(err, syscall.EADDRINUSE) {
					k := int(spares.Add(1)) - 1
					if k >= spare*len(s.Srcs) {
						break
					}
					c, err = open(netip.AddrPortFrom(s.Srcs[k/spare], uint16(s.Lo+used+k%spare)), dst)
				}
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					held = append(held, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return held, failed, firstErr
}

const handshake = "GET / HTTP/1.1\r\nHost: scalebench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// OpenWS opens one websocket from src to dst, each step bounded by
// timeout, and checks the 101 answer, of which nothing may follow yet.
// The connection's deadline is left set: clear it to keep the connection.
func OpenWS(src, dst netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: net.TCPAddrFromAddrPort(src)}
	// A port an earlier run left in TIME_WAIT is taken again.
	d.Control = func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
		return cmp.Or(err, serr)
	}
	nc, err := d.Dial("tcp4", dst.String())
	if err != nil {
		return nil, err
	}
	c := nc.(*net.TCPConn)
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(handshake)); err != nil {
		return nil, fmt.Errorf("handshake to %s: %w", dst, err)
	}
	var buf [512]byte
	n := 0
	end := -1
	for end < 0 {
		if n == len(buf) {
			return nil, fmt.Errorf("handshake answer from %s too long", dst)
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return nil, fmt.Errorf("handshake answer from %s: %d bytes, %w", dst, n, err)
		}
		n += m
		end = bytes.Index(buf[:n], []byte("\r\n\r\n"))
	}
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		return nil, fmt.Errorf("handshake answer from %s: %q", dst, line)
	}
	if end+4 != n {
		return nil, fmt.Errorf("handshake answer from %s: %d bytes after it", dst, n-end-4)
	}
	ok = true
	return c, nil
}
