package test

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// A reload that moves a worker between TCP and UDP on the same address
// (transport = "udp" added, then taken out again) gets a socket of the
// new type: the master once kept the old one, since it knew sockets by
// worker name and listen address only, and the new children were handed
// a TCP socket to serve UDP on. The old socket is closed once the reload
// is done, so the old transport is refused.
func TestReloadChangesTransport(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tcp := worker("t", "text://"+addr, "echo", 2)
	udp := worker("t", "text://"+addr, "echo", 2, `transport = "udp"`)
	d.writeConfig(tcp)
	d.start()
	d.waitReady("t", 2)
	dial(t, addr).mustEcho(t, "over tcp")

	d.writeConfig(udp)
	d.mustRun(0, "reload")
	d.waitReady("t", 2)
	if got := udpExchange(t, addr, "over udp\n"); got != "over udp\n" {
		t.Fatalf("after the reload to udp: %q", got)
	}
	waitFor(t, slow(5*time.Second), "the TCP socket closed", func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return false, "a TCP connect succeeded"
		}
		return true, ""
	})

	d.writeConfig(tcp)
	d.mustRun(0, "reload")
	d.waitReady("t", 2)
	dial(t, addr).mustEcho(t, "over tcp again")
}
