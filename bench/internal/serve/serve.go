// Package serve holds what the reference servers (echoserver, httpserver,
// wsserver) share: their command line, the run of a single-loop gnet
// engine, and running one inside a test.
package serve

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Func serves on addr until ctx is done, calling ready (when not nil)
// once it accepts.
type Func func(ctx context.Context, addr string, ready func()) error

// Main is a reference server's command line: -addr (addr by default) and
// what flags adds (it may be nil). It serves until SIGTERM or SIGINT, and
// says "<name> listening on <addr>" on stderr once it accepts.
func Main(name, addr string, args []string, flags func(*flag.FlagSet), run Func) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&addr, "addr", addr, "listen `host:port`")
	if flags != nil {
		flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s flags: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return run(ctx, addr, func() { fmt.Fprintf(os.Stderr, "%s listening on %s\n", name, addr) })
}

// booting hands Gnet the engine once gnet has started it, which is also
// when the listener accepts.
type booting struct {
	gnet.EventHandler
	booted chan gnet.Engine
}

func (b *booting) OnBoot(eng gnet.Engine) gnet.Action {
	a := b.EventHandler.OnBoot(eng)
	b.booted <- eng
	return a
}

// Gnet runs h on a single gnet event loop, with TCP_NODELAY like the other
// servers, on addr until ctx is done.
func Gnet(ctx context.Context, addr string, h gnet.EventHandler, ready func()) error {
	return runGnet(ctx, "tcp://"+addr, h, ready, gnet.WithTCPNoDelay(gnet.TCPNoDelay))
}

// GnetUDP runs h on a single gnet event loop bound to the UDP address addr
// until ctx is done: each datagram is one OnTraffic.
func GnetUDP(ctx context.Context, addr string, h gnet.EventHandler, ready func()) error {
	return runGnet(ctx, "udp://"+addr, h, ready)
}

// runGnet runs a single-loop engine on url with opts until ctx is done.
func runGnet(ctx context.Context, url string, h gnet.EventHandler, ready func(), opts ...gnet.Option) error {
	b := &booting{EventHandler: h, booted: make(chan gnet.Engine, 1)}
	errc := make(chan error, 1)
	go func() {
		errc <- gnet.Run(b, url, append([]gnet.Option{gnet.WithMulticore(false)}, opts...)...)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("gnet run %s: %w", url, err)
	case eng := <-b.booted:
		if ready != nil {
			ready()
		}
		select {
		case err := <-errc:
			return fmt.Errorf("gnet run %s: %w", url, err)
		case <-ctx.Done():
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := eng.Stop(stopCtx); err != nil {
			return fmt.Errorf("gnet stop: %w", err)
		}
		<-errc
		return nil
	}
}

// InTest runs a server on a free loopback port for the rest of the test
// and returns its address once it accepts. The server is stopped when the
// test ends; an error from it, or a server that does not start or stop
// within 5 s, fails the test.
func InTest(t testing.TB, name string, run Func) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the server binds the address itself
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("%s: %v", name, err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatalf("%s did not start", name)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
	return addr
}
