package workerman_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

func TestSendResultsOnTheLoop(t *testing.T) {
	var log eventLog
	w := textWorker("send")
	w.OnConnect = func(c *workerman.Connection) {
		log.add("connect send: %v", c.SendString("welcome"))
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		switch string(m.Data) {
		case "ping":
			log.add("message send: %v", c.SendString("pong"))
		case "bye":
			c.SendString("a")
			c.Close([]byte("last"))
			log.add("send after close: %v, status %v", c.SendString("after"), c.Status())
		}
	}
	workermantest.Start(t, w)
	c := dialWorker(t, w)
	c.expectLine("welcome")
	c.write("ping\n")
	c.expectLine("pong")
	c.write("bye\n")
	c.expectLine("a")
	c.expectLine("last")
	c.expectEOF()
	// The client can see EOF before the callback that closed has returned.
	waitFor(t, "the callback that closed to return", func() bool { return len(log.events()) == 3 })
	want := []string{
		"connect send: sent",
		"message send: sent",
		"send after close: dropped, status CLOSED",
	}
	if got := log.events(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("send results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// floodLine is line i of a flood: 64 KiB in all, with its number in front so
// a lost or reordered line shows.
func floodLine(i int) string {
	head := fmt.Sprintf("%06d:", i)
	return head + strings.Repeat(string(rune('a'+i%26)), 64<<10-len(head)-1)
}

// floodWorker queues 4 MiB for a client that does not read yet when it
// receives "flood", then calls finish.
func floodWorker(log *eventLog, lines int, finish func(c *workerman.Connection)) *workerman.Worker {
	w := textWorker("flood")
	w.MaxSendBufferSize = 64 << 20
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if string(m.Data) != "flood" {
			return
		}
		for i := range lines {
			if r := c.SendString(floodLine(i)); r == workerman.Dropped {
				log.add("flood line %d dropped", i)
			}
		}
		log.add("queued %v", c.SendQueueSize() > 0)
		finish(c)
	}
	return w
}

// TestCloseFlushesQueueAndLastMessage: Close(last) writes everything queued,
// then the last message, then EOF.
func TestCloseFlushesQueueAndLastMessage(t *testing.T) {
	const lines = 64
	var log eventLog
	w := floodWorker(&log, lines, func(c *workerman.Connection) {
		c.Close([]byte("last"))
		log.add("status %v, send after close %v", c.Status(), c.SendString("after"))
	})
	workermantest.Start(t, w)
	c := dialWorker(t, w)
	c.write("flood\n")
	waitFor(t, "the flood to be queued", func() bool { return len(log.events()) >= 2 })
	for i := range lines {
		if got := c.readLine(); got != floodLine(i) {
			t.Fatalf("line %d: got %.20q… (%d bytes), want %.20q…", i, got, len(got), floodLine(i))
		}
	}
	c.expectLine("last")
	c.expectEOF()
	want := "queued true\nstatus CLOSING, send after close dropped"
	if got := strings.Join(log.events(), "\n"); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
}

// TestDestroyDropsQueuedOutput: Destroy closes at once; the client gets
// what had reached the kernel and nothing of the queue.
func TestDestroyDropsQueuedOutput(t *testing.T) {
	const lines = 64
	var (
		log     eventLog
		written = make(chan uint64, 1)
	)
	w := floodWorker(&log, lines, func(c *workerman.Connection) {
		written <- c.BytesWritten()
		c.Destroy()
		log.add("status %v, send after destroy %v", c.Status(), c.SendString("after"))
	})
	closed := make(chan struct{})
	w.OnClose = func(*workerman.Connection) { close(closed) }
	workermantest.Start(t, w)
	c := dialWorker(t, w)
	c.write("flood\n")
	var n uint64
	select {
	case n = <-written:
	case <-time.After(waitTimeout):
		t.Fatal("the flood was not sent")
	}
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("no OnClose after Destroy")
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	got, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		t.Fatalf("reading to EOF: %v after %d bytes", err, len(got))
	}
	if uint64(len(got)) != n {
		t.Errorf("the client got %d bytes, want the %d written before Destroy", len(got), n)
	}
	if n >= lines*64<<10 {
		t.Errorf("all %d bytes were written before Destroy: nothing was queued, the test proves nothing", n)
	}
	// What arrived is the start of the flood, intact.
	var want strings.Builder
	for i := 0; want.Len() < len(got); i++ {
		want.WriteString(floodLine(i) + "\n")
	}
	if !bytes.Equal(got, []byte(want.String()[:len(got)])) {
		t.Error("the bytes received before Destroy are not the start of the flood")
	}
	waitFor(t, "the callback that destroyed to return", func() bool { return len(log.events()) == 2 })
	wantEv := "queued true\nstatus CLOSED, send after destroy dropped"
	if ev := strings.Join(log.events(), "\n"); ev != wantEv {
		t.Errorf("events:\n%s\nwant:\n%s", ev, wantEv)
	}
}

// TestSendFromOtherGoroutines sends to stored connections from 8 goroutines
// at once: each Send reports Posted, every message arrives, each goroutine's
// messages in the order it sent them, and a Close from another goroutine
// closes after them.
func TestSendFromOtherGoroutines(t *testing.T) {
	const (
		clients    = 4
		goroutines = 8
		perG       = 2000
	)
	conns := make(chan *workerman.Connection, clients)
	w := textWorker("store")
	w.OnConnect = func(c *workerman.Connection) { conns <- c }
	p := workermantest.Start(t, w)

	type result struct {
		lines int
		err   error
	}
	results := make(chan result, clients)
	for range clients {
		c := dialWorker(t, w)
		go func() {
			// Check each goroutine's sequence; report at EOF.
			next := make([]int, goroutines)
			r := bufio.NewReader(c.Conn)
			n := 0
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					if errors.Is(err, io.EOF) && line == "" {
						err = nil
					}
					results <- result{n, err}
					return
				}
				var g, seq int
				if _, err := fmt.Sscanf(line, "g%d %d\n", &g, &seq); err != nil || g < 0 || g >= goroutines {
					results <- result{n, fmt.Errorf("bad line %q", line)}
					return
				}
				if seq != next[g] {
					results <- result{n, fmt.Errorf("goroutine %d: got message %d, want %d", g, seq, next[g])}
					return
				}
				next[g]++
				n++
			}
		}()
	}
	stored := make([]*workerman.Connection, 0, clients)
	for range clients {
		select {
		case c := <-conns:
			stored = append(stored, c)
		case <-time.After(waitTimeout):
			t.Fatalf("only %d of %d connections reached OnConnect", len(stored), clients)
		}
	}

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		notPosted []string
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 32)
			for seq := range perG {
				for _, c := range stored {
					var r workerman.SendResult
					if g%2 == 0 {
						r = c.SendString(fmt.Sprintf("g%d %d", g, seq))
					} else {
						// Reuse one buffer: Send must have copied it.
						buf = strconv.AppendInt(append(append(buf[:0], 'g'), strconv.Itoa(g)+" "...), int64(seq), 10)
						r = c.Send(buf)
						copy(buf, "XXXXXXXXXXXX")
					}
					if r != workerman.Posted {
						mu.Lock()
						notPosted = append(notPosted, fmt.Sprintf("goroutine %d message %d: %v", g, seq, r))
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range notPosted {
		t.Errorf("Send off the loop: %s, want posted", s)
	}
	// Close from yet another goroutine, after every send was posted.
	closedAll := make(chan struct{})
	go func() {
		for _, c := range stored {
			c.Close()
		}
		close(closedAll)
	}()
	<-closedAll
	for range clients {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("client: %v (after %d lines)", r.err, r.lines)
			} else if r.lines != goroutines*perG {
				t.Errorf("client got %d lines before EOF, want %d", r.lines, goroutines*perG)
			}
		case <-time.After(70 * time.Second):
			t.Fatal("a client did not finish reading")
		}
	}
	waitOnLoop(t, p, "every connection closed", func() bool { return w.ConnectionCount() == 0 })
	if sf := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().SendFail }); sf != 0 {
		t.Errorf("Stats().SendFail = %d, want 0", sf)
	}
}
