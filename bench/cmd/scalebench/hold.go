package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The load process ("hold"): it opens -conns websockets, a handshake and
// one echoed message each, over the destinations in turn, prints
//
//	CONNECTED <ok> <failed> <first dial, unix ns> <last open, unix ns> [<first error>]
//
// and holds them until SIGTERM or -hold.
//
// Each connection is bound to a source address and port of its own
// (-sources, -ports): left to the kernel, connect searches the local port
// range for a free port, and with tens of thousands taken that search
// costs more than the whole websocket setup (100,000 connections took two
// minutes that way, 30,000 ten seconds). Connection i takes port
// lo + i % n of source address i / n, n being the ports of the range less
// a tenth, kept for ports found taken (EADDRINUSE: a listener on the
// wildcard address).

const handshake = "GET / HTTP/1.1\r\nHost: scalebench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// ping is one masked text frame "hi" (mask key 0), and pong its echo.
var (
	ping = []byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}
	pong = []byte{0x81, 0x02, 'h', 'i'}
)

func holdMain(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	targets := fs.String("targets", "", "comma-separated `host:port` destinations (loopback only)")
	sources := fs.String("sources", "", "comma-separated source `addresses` (loopback), used one after the other")
	portRange := fs.String("ports", "32768-60999", "source ports `lo-hi` of each source address")
	conns := fs.Int("conns", 1000, "connections to open")
	parallel := fs.Int("parallel", 64, "connection attempts in flight")
	within := fs.Duration("connect-within", 2*time.Minute, "give up opening connections after this long")
	hold := fs.Duration("hold", 10*time.Minute, "hold the connections at most this long")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each connect, handshake and echo")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var dsts []netip.AddrPort
	for _, s := range strings.Split(*targets, ",") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
			return fmt.Errorf("-targets: %q is not an IPv4 loopback host:port", s)
		}
		dsts = append(dsts, ap)
	}
	var srcs []netip.Addr
	for _, s := range strings.Split(*sources, ",") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || !a.IsLoopback() {
			return fmt.Errorf("-sources: %q is not an IPv4 loopback address", s)
		}
		srcs = append(srcs, a)
	}
	var lo, hi int
	if _, err := fmt.Sscanf(*portRange, "%d-%d", &lo, &hi); err != nil || lo < 1 || hi > 65535 || hi < lo {
		return fmt.Errorf("-ports %q: want lo-hi", *portRange)
	}
	used := (hi - lo + 1) * 9 / 10
	spare := hi - lo + 1 - used
	if *conns > used*len(srcs) {
		return fmt.Errorf("%d connections need more than %d source addresses of %d ports", *conns, len(srcs), used)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	octx, cancel := context.WithTimeout(ctx, *within)
	defer cancel()

	var (
		next, failed, spares atomic.Int64
		mu                   sync.Mutex
		held                 = make([]*net.TCPConn, 0, *conns)
		firstErr             error
		wg                   sync.WaitGroup
	)
	start := time.Now()
	for range min(*parallel, *conns) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < *conns && octx.Err() == nil; i = int(next.Add(1)) - 1 {
				dst := dsts[i%len(dsts)]
				c, err := openWS(netip.AddrPortFrom(srcs[i/used], uint16(lo+i%used)), dst, *timeout)
				for errors.Is(err, syscall.EADDRINUSE) {
					k := int(spares.Add(1)) - 1
					if k >= spare*len(srcs) {
						break
					}
					c, err = openWS(netip.AddrPortFrom(srcs[k/spare], uint16(lo+used+k%spare)), dst, *timeout)
				}
				mu.Lock()
				if err != nil {
					failed.Add(1)
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
	end := time.Now()
	msg := ""
	if firstErr != nil {
		msg = " " + strings.ReplaceAll(firstErr.Error(), "\n", " ")
	}
	fmt.Printf("CONNECTED %d %d %d %d%s\n", len(held), failed.Load(), start.UnixNano(), end.UnixNano(), msg)
	select {
	case <-ctx.Done():
	case <-time.After(*hold):
	}
	return nil // exiting closes them
}

// openWS opens one websocket from src to dst, each step bounded by
// timeout, and checks the 101 and one echo.
func openWS(src, dst netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
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
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return nil, fmt.Errorf("handshake answer from %s too long", dst)
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return nil, fmt.Errorf("handshake answer from %s: %d bytes, %w", dst, n, err)
		}
		n += m
	}
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		return nil, fmt.Errorf("handshake answer from %s: %q", dst, line)
	}
	if _, err := c.Write(ping); err != nil {
		return nil, fmt.Errorf("message to %s: %w", dst, err)
	}
	if _, err := io.ReadFull(c, buf[:len(pong)]); err != nil {
		return nil, fmt.Errorf("echo from %s: %w", dst, err)
	}
	if !bytes.Equal(buf[:len(pong)], pong) {
		return nil, fmt.Errorf("echo from %s: % x", dst, buf[:len(pong)])
	}
	ok = true
	return c, nil
}
