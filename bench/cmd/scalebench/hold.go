package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/scale"
)

// The load process ("hold"): it opens -conns websockets, a handshake and
// one echoed message each, over the destinations in turn, each from a
// source address and port of its own (scale.Spread), prints
//
//	CONNECTED <ok> <failed> <first dial, unix ns> <last open, unix ns> [<first error>]
//
// and holds them until SIGTERM or -hold.

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
	spread, err := scale.ParseSpread(*targets, *sources, *portRange)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	octx, cancel := context.WithTimeout(ctx, *within)
	defer cancel()

	start := time.Now()
	held, failed, firstErr := spread.OpenAll(octx, *conns, *parallel, func(src, dst netip.AddrPort) (*net.TCPConn, error) {
		return openWS(src, dst, *timeout)
	})
	if held == nil && firstErr != nil {
		return firstErr
	}
	end := time.Now()
	msg := ""
	if firstErr != nil {
		msg = " " + strings.ReplaceAll(firstErr.Error(), "\n", " ")
	}
	fmt.Printf("CONNECTED %d %d %d %d%s\n", len(held), failed, start.UnixNano(), end.UnixNano(), msg)
	select {
	case <-ctx.Done():
	case <-time.After(*hold):
	}
	return nil // exiting closes them
}

// openWS opens one websocket from src to dst, each step bounded by
// timeout, and checks one echo.
func openWS(src, dst netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	c, err := scale.OpenWS(src, dst, timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(ping); err != nil {
		c.Close()
		return nil, fmt.Errorf("message to %s: %w", dst, err)
	}
	var buf [4]byte // len(pong)
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("echo from %s: %w", dst, err)
	}
	if !bytes.Equal(buf[:], pong) {
		c.Close()
		return nil, fmt.Errorf("echo from %s: % x", dst, buf[:])
	}
	return c, nil
}
