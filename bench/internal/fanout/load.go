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
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/bench/internal/scale"
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

// LoadMain is the client process: it opens -conns websockets to -addr
// (or, with -sources, over -targets in turn from source addresses and
// ports of its own, as scalebench's load processes do), says "READY <n>"
// on stdout, then for every broadcast that all of them have received
// prints "GOT <seq> <mono ns of the last arrival>". Each connection checks
// that it gets every broadcast once, in order, with the expected bytes; a
// wrong one prints "BAD <reason>" and exits 1. With -allow-gaps a
// connection may skip broadcasts (the driver counts the misses): a line
// "COUNT <seq>" on stdin is answered "COUNT <seq> <got> <got of target 1>
// …", the connections that have broadcast seq so far. It runs until stdin
// closes or SIGTERM.
func LoadMain(args []string) error {
	fs := flag.NewFlagSet("fanoutload", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "server `host:port`")
	targets := fs.String("targets", "", "with -sources: comma-separated `host:port` destinations, taken in turn")
	sources := fs.String("sources", "", "comma-separated source `addresses` (loopback); empty: the kernel picks, to -addr")
	ports := fs.String("ports", "32768-60999", "with -sources: source ports `lo-hi` of each source address")
	n := fs.Int("conns", 1000, "websockets to hold")
	size := fs.Int("size", 64, "payload bytes of a broadcast")
	parallel := fs.Int("parallel", 32, "connections opened at once")
	gaps := fs.Bool("allow-gaps", false, "a connection may miss broadcasts (counted through COUNT) instead of failing")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("fanoutload flags: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	counts := newArrivals(1)
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex // guards out
	say := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", a...)
		_ = out.Flush()
		mu.Unlock()
	}
	ready := make(chan struct{})
	go func() { // the driver closing our stdin also ends us
		defer stop()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var seq uint64
			if _, err := fmt.Sscanf(sc.Text(), "COUNT %d", &seq); err != nil {
				continue
			}
			<-ready
			say("COUNT %d %s", seq, counts.report(seq))
		}
	}()
	var conns []net.Conn
	var dsts []int // the target index of each connection
	var err error
	if *sources != "" {
		var spread scale.Spread
		if spread, err = scale.ParseSpread(*targets, *sources, *ports); err != nil {
			return err
		}
		var tcs []*net.TCPConn
		var failed int
		tcs, failed, err = spread.OpenAll(ctx, *n, *parallel, func(src, dst netip.AddrPort) (*net.TCPConn, error) {
			c, err := scale.OpenWS(src, dst, 10*time.Second)
			if err == nil {
				_ = c.SetDeadline(time.Time{})
			}
			return c, err
		})
		for _, c := range tcs {
			conns = append(conns, c)
			d, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			dsts = append(dsts, slices.Index(spread.Dsts, d))
		}
		if err != nil {
			err = fmt.Errorf("%d of %d connections failed, the first: %w", failed, *n, err)
		}
		counts = newArrivals(len(spread.Dsts))
	} else {
		conns, err = dialAll(ctx, *addr, *n, *parallel)
		dsts = make([]int, len(conns))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	close(ready)
	bad := make(chan string, 1)
	for i, c := range conns {
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
				case seq <= last || (seq != last+1 && !*gaps):
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
				// every client has this one, or it has counted the misses),
				// so seq's count reaching n is the last of seq arriving.
				if counts.add(seq, dsts[i]) == uint64(len(conns)) {
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

// arrivalSlots is how many broadcasts arrivals are counted for at once:
// a slot is cleared for reuse when the broadcast half the ring ahead of it
// arrives, long after the driver has done with it.
const arrivalSlots = 1024

// arrivals counts each broadcast's arrivals, in all and per target.
type arrivals struct {
	targets int
	total   []atomic.Uint64 // by slot
	per     []atomic.Uint64 // by slot*targets + target
}

func newArrivals(targets int) *arrivals {
	return &arrivals{targets: targets, total: make([]atomic.Uint64, arrivalSlots),
		per: make([]atomic.Uint64, arrivalSlots*targets)}
}

// add counts an arrival of seq on a connection to target and returns
// seq's count so far.
func (a *arrivals) add(seq uint64, target int) uint64 {
	slot := int(seq % arrivalSlots)
	a.per[slot*a.targets+target].Add(1)
	got := a.total[slot].Add(1)
	if got == 1 {
		old := int((seq + arrivalSlots/2) % arrivalSlots)
		a.total[old].Store(0)
		for t := range a.targets {
			a.per[old*a.targets+t].Store(0)
		}
	}
	return got
}

// report is "<got> <got of target 0> …" for seq.
func (a *arrivals) report(seq uint64) string {
	slot := int(seq % arrivalSlots)
	parts := []string{strconv.FormatUint(a.total[slot].Load(), 10)}
	for t := range a.targets {
		parts = append(parts, strconv.FormatUint(a.per[slot*a.targets+t].Load(), 10))
	}
	return strings.Join(parts, " ")
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
