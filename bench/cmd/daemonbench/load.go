package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// churn counts the outcomes of one-request connections.
type churn struct {
	ok, dial, reset, short, timeout, mismatch, other atomic.Int64

	mu     sync.Mutex
	sample []string // the first few failures, for the log
}

func (c *churn) failed() int64 {
	return c.dial.Load() + c.reset.Load() + c.short.Load() + c.timeout.Load() + c.mismatch.Load() + c.other.Load()
}

func (c *churn) total() int64 { return c.ok.Load() + c.failed() }

func (c *churn) fail(n *atomic.Int64, what string, err error) {
	n.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sample) < 5 {
		c.sample = append(c.sample, fmt.Sprintf("%s: %v", what, err))
	}
}

// runChurn runs workers goroutines that each, until ctx ends or max
// requests have been made in all, dial addr, write one line, read its echo
// and close; together they make at most rate requests per second (each
// closed connection leaves a TIME_WAIT socket and an ephemeral port on a
// machine we share). Every step has a 2 s deadline.
func runChurn(ctx context.Context, addr string, workers, rate int, max int64, c *churn) {
	var wg sync.WaitGroup
	var issued atomic.Int64
	every := time.Duration(workers) * time.Second / time.Duration(rate) // per goroutine
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, 64)
			next := time.Now()
			for seq := 0; ctx.Err() == nil && issued.Add(1) <= max; seq++ {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(every)
				c.request(addr, fmt.Sprintf("churn %d %d\n", w, seq), buf)
			}
		})
	}
	wg.Wait()
}

func (c *churn) request(addr, line string, buf []byte) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		c.fail(&c.dial, "dial", err)
		time.Sleep(10 * time.Millisecond) // do not spin on a refused port
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, line); err != nil {
		c.fail(c.classify(err), "write", err)
		return
	}
	got := buf[:len(line)]
	if _, err := io.ReadFull(conn, got); err != nil {
		c.fail(c.classify(err), "read", err)
		return
	}
	if string(got) != line {
		c.fail(&c.mismatch, "echo", fmt.Errorf("got %q, want %q", got, line))
		return
	}
	c.ok.Add(1)
}

func (c *churn) classify(err error) *atomic.Int64 {
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return &c.reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &c.short
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &c.timeout
	}
	return &c.other
}

// openIdle opens n connections to addr, parallel at a time; each sends one
// line and waits for its echo (so a child has accepted it, not just the
// kernel), then stays open. The caller closes them.
func openIdle(addr string, n, parallel int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				conns[i], errs[i] = echoOnce(addr, fmt.Sprintf("idle %d\n", i))
			}
		})
	}
	wg.Wait()
	var ok []net.Conn
	for _, c := range conns {
		if c != nil {
			ok = append(ok, c)
		}
	}
	return ok, errors.Join(errs...)
}

func echoOnce(addr, line string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := func() (string, error) {
		if _, err := io.WriteString(conn, line); err != nil {
			return "", err
		}
		return bufio.NewReader(conn).ReadString('\n')
	}()
	if err == nil && got != line {
		err = fmt.Errorf("echo %q, want %q", got, line)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
