// Package fanout holds the pieces of cmd/fanout besides its driver: the
// client processes that hold the websockets and report when a broadcast
// reached all of them, and the code-first workerman server.
package fanout

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/bench/internal/wsload"
)

// Mono is CLOCK_MONOTONIC in nanoseconds: one clock for the driver and the
// client processes, so the driver can subtract their arrival times from
// its send time.
func Mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Payload is the message of broadcast seq: size bytes of ASCII (a text
// frame; the stock broadcast handler sends UTF-8 as text), the sequence
// number in 16 hex digits first.
func Payload(seq uint64, size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	s := fmt.Sprintf("%016x", seq)
	copy(p, s)
	return p
}

// SeqOf reads the sequence number back from a payload.
func SeqOf(p []byte) (uint64, bool) {
	if len(p) < 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p[:16]), 16, 64)
	return n, err == nil
}

// LoadMain is the client process: it opens -conns websockets to -addr,
// says "READY <n>" on stdout, then for every broadcast that all of them
// have received prints "GOT <seq> <mono ns of the last arrival>". Each
// connection checks that it gets every broadcast once, in order, with the
// expected bytes; a wrong one prints "BAD <reason>" and exits 1. It runs
// until stdin closes or SIGTERM.
func LoadMain(args []string) error {
	fs := flag.NewFlagSet("fanoutload", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "server `host:port`")
	n := fs.Int("conns", 1000, "websockets to hold")
	size := fs.Int("size", 64, "payload bytes of a broadcast")
	parallel := fs.Int("parallel", 32, "connections opened at once")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("fanoutload flags: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { // the driver closing our stdin also ends us
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		stop()
	}()
	conns, err := dialAll(ctx, *addr, *n, *parallel)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex // guards out
	say := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", a...)
		_ = out.Flush()
		mu.Unlock()
	}
	var arrived atomic.Uint64
	bad := make(chan string, 1)
	for _, c := range conns {
		go func() {
			r := bufio.NewReaderSize(c, 256)
			buf := make([]byte, 0, *size)
			var last uint64
			for {
				op, fin, p, err := wsload.ReadFrame(r, buf)
				if err != nil {
					if ctx.Err() == nil {
						select {
						case bad <- fmt.Sprintf("read: %v", err):
						default:
						}
					}
					return
				}
				seq, ok := SeqOf(p)
				switch {
				case op != wsload.OpText || !fin || !ok || len(p) != *size:
					err = fmt.Errorf("frame op %d fin %v of %d bytes", op, fin, len(p))
				case seq != last+1:
					err = fmt.Errorf("broadcast %d after %d", seq, last)
				case string(p) != string(Payload(seq, *size)):
					err = fmt.Errorf("broadcast %d: wrong bytes", seq)
				}
				if err != nil {
					select {
					case bad <- err.Error():
					default:
					}
					return
				}
				last = seq
				// Broadcasts are sequential (the driver sends the next once
				// every client has this one), so the count of all arrivals
				// reaches n*seq exactly when the last of seq arrives.
				if arrived.Add(1) == uint64(*n)*seq {
					say("GOT %d %d", seq, Mono())
				}
			}
		}()
	}
	say("READY %d", len(conns))
	select {
	case <-ctx.Done():
		return nil
	case why := <-bad:
		say("BAD %s", why)
		return errors.New(why)
	}
}

func dialAll(ctx context.Context, addr string, n, parallel int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make(chan error, parallel)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := wsload.Dial(addr, 10*time.Second)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	var opened []net.Conn
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	if err := <-errs; err != nil {
		return opened, err
	}
	if ctx.Err() != nil {
		return opened, ctx.Err()
	}
	return opened, nil
}
