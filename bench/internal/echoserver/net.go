package echoserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// ServeNet accepts on ln and echoes lines with one goroutine per connection
// until ctx is done; it then closes ln and every open connection and waits
// for their goroutines.
func ServeNet(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("accept: %w", aerr)
			}
			break
		}
		mu.Lock()
		if ctx.Err() != nil { // shutdown raced with this accept
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			echoLines(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	return err
}

// echoLines echoes complete lines and flushes only when the reader holds no
// further complete line, so a pipelined batch goes back in as few writes as
// possible. ("No buffered data" is not enough: with a partial line left in
// the buffer the next ReadSlice blocks while earlier replies sit unflushed.)
func echoLines(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			// io.EOF, a reset, or bufio.ErrBufferFull (a line longer than the
			// 4 KiB buffer): all end the connection.
			return
		}
		if _, err := w.Write(line); err != nil {
			return
		}
		if rest, _ := r.Peek(r.Buffered()); bytes.IndexByte(rest, '\n') < 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// ListenAndServeNet listens on addr and runs ServeNet.
func ListenAndServeNet(ctx context.Context, addr string, ready func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if ready != nil {
		ready()
	}
	if err := ServeNet(ctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
