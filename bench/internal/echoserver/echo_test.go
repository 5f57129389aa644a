package echoserver

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/workermand/workermand/bench/internal/serve"
)

// start runs server kind on a free loopback port and returns its address.
func start(t *testing.T, kind string) string {
	run := map[string]serve.Func{"gnet": ServeGnet, "net": ListenAndServeNet}[kind]
	return serve.InTest(t, kind+" server", run)
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
