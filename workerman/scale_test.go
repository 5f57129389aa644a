package workerman_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman/workermantest"
)

// TestFiveThousandConcurrentEchoConnections opens 5,000 connections to one
// text echo worker, keeps them all open while each does a round trip, checks
// the counts seen on the loop, then closes them and waits for the counts to
// drop back to zero. Both ends of every connection live in this process:
// 10,000 descriptors, well under the test's limit of 20,000.
func TestFiveThousandConcurrentEchoConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 descriptors")
	}
	const (
		conns   = 5000
		dialers = 64 // client goroutines
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := textWorker("echo")
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	addr := w.Addr().String()

	clients := make([]net.Conn, conns)
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	})

	// Each client dials, sends a unique line and reads its echo, then keeps
	// its connection open until every round trip is done.
	var (
		next   atomic.Int64
		echoed atomic.Int64
		wg     sync.WaitGroup
		errMu  sync.Mutex
		errs   []error
	)
	fail := func(err error) {
		errMu.Lock()
		if len(errs) < 10 {
			errs = append(errs, err)
		}
		errMu.Unlock()
	}
	var d net.Dialer
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= conns || ctx.Err() != nil {
					return
				}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					fail(fmt.Errorf("client %d: dial: %w", i, err))
					return
				}
				clients[i] = c
				deadline, _ := ctx.Deadline()
				c.SetDeadline(deadline)
				line := fmt.Sprintf("client %d of %d: %x", i, conns, uint64(i)*0x9E3779B97F4A7C15)
				if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
					fail(fmt.Errorf("client %d: write: %w", i, err))
					return
				}
				got, err := bufio.NewReaderSize(c, 128).ReadString('\n')
				if err != nil {
					fail(fmt.Errorf("client %d: read: %w (got %q)", i, err, got))
					return
				}
				if got != line+"\n" {
					fail(fmt.Errorf("client %d: echoed %q, want %q", i, got, line+"\n"))
					return
				}
				echoed.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if n := echoed.Load(); n != conns {
		t.Fatalf("%d of %d round trips completed", n, conns)
	}

	type counts struct{ worker, stats, accepted, live int }
	got := workermantest.OnLoopValue(t, p.Loop(), func() counts {
		live := 0
		for range w.Connections() {
			live++
		}
		s := p.Loop().Stats()
		return counts{w.ConnectionCount(), s.Connections, int(s.Accepted), live}
	})
	if want := (counts{conns, conns, conns, conns}); got != want {
		t.Fatalf("with every client connected: ConnectionCount, Stats().Connections, Stats().Accepted, len(Connections()) = %+v, want %+v", got, want)
	}
	if tr := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().TotalRequest }); tr != conns {
		t.Errorf("Stats().TotalRequest = %d, want %d", tr, conns)
	}

	for i, c := range clients {
		c.Close()
		clients[i] = nil
	}
	deadline, _ := ctx.Deadline()
	for {
		got = workermantest.OnLoopValue(t, p.Loop(), func() counts {
			return counts{w.ConnectionCount(), p.Loop().Stats().Connections, 0, 0}
		})
		if got.worker == 0 && got.stats == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after every client closed: ConnectionCount = %d, Stats().Connections = %d, want 0", got.worker, got.stats)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
