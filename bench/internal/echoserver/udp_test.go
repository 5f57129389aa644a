package echoserver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/serve"
)

// TestGnetUDPEcho: every datagram comes back whole, to its own sender; and
// the UDP generator runs a short window against it with no error.
func TestGnetUDPEcho(t *testing.T) {
	addr := serve.InTest(t, "gnet udp server", ServeGnetUDP)
	for _, msg := range []string{"one", "two\nlines\n", "no newline"} {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, buf[:n], err)
		}
	}
	res, err := loadgen.RunUDP(context.Background(), loadgen.Config{
		Addr: addr, Mode: loadgen.ReqResp, Conns: 4, Size: 64, Warmup: 50 * time.Millisecond,
		Duration: 200 * time.Millisecond, DialTimeout: 2 * time.Second, IOTimeout: 2 * time.Second,
		DialParallel: 4, ConnectIn: 5 * time.Second,
	})
	if err != nil || res.Msgs == 0 || res.Errors+res.Mismatches > 0 {
		t.Fatalf("RunUDP: %+v, %v", res, err)
	}
}
