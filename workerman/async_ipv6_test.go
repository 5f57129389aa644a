package workerman_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// AsyncTcpConnection to a bracketed IPv6 address, as docs/transports.md
// says it connects.
func TestAsyncTcpConnectionIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	w := workerman.NewWorker("text://[::1]:0")
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	var log eventLog
	ac := newAsync(t, p, fmt.Sprintf("text://[::1]:%d", w.Addr().Port()), &log)
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.SendString("over IPv6")
		ac.Connect()
	})
	ev := waitEvents(t, &log, 2)
	if want := fmt.Sprintf("connect ::1:%d|message over IPv6", w.Addr().Port()); strings.Join(ev, "|") != want {
		t.Fatalf("events %q, want %q", ev, want)
	}
	workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
	waitEvents(t, &log, 3)
}
