package echoserver

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// start runs server kind on a free loopback port and returns its address.
func start(t *testing.T, kind string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	addr := ln.Addr().String()
	switch kind {
	case "net":
		close(ready)
		go func() { done <- ServeNet(ctx, ln) }()
	case "gnet":
		ln.Close() // gnet binds the address itself
		go func() { done <- ServeGnet(ctx, addr, func() { close(ready) }) }()
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("%s server: %v", kind, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s server: %v", kind, err)
		}
	})
	return addr
}

// TestEchoLines checks partial lines, several lines per read, and that an
// unterminated tail is held back.
func TestEchoLines(t *testing.T) {
	for _, kind := range []string{"gnet", "net"} {
		t.Run(kind, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", start(t, kind), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, part := range []string{"hel", "lo\nwor", "ld\na\nb\nc"} {
				if _, err := io.WriteString(c, part); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // let each part arrive on its own
			}
			want := "hello\nworld\na\nb\n"
			got := make([]byte, len(want))
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read: %v (got %q)", err, got)
			}
			if string(got) != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			c.SetDeadline(time.Now().Add(100 * time.Millisecond))
			if n, err := c.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("partial line echoed early: %q, %v", got[:n], err)
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "\n")
			if _, err := io.ReadFull(c, got[:2]); err != nil || string(got[:2]) != "c\n" {
				t.Fatalf("completed line: %q, %v", got[:2], err)
			}
		})
	}
}
