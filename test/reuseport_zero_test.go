package test

import (
	"strings"
	"testing"
	"time"
)

// reuse_port with port 0: every process listens on the one port the kernel
// chose for the first, so status shows one address and a client reaches
// all of them (before, each got a port of its own and status showed one).
func TestReusePortPortZero(t *testing.T) {
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("rp", "text://127.0.0.1:0", "echo", 3, "reuse_port = true"))
	d.start()
	st := d.waitReady("rp", 3)
	addr := st.addr("rp")
	for _, p := range st.procs("rp") {
		if !strings.HasSuffix(p.Listen, addr) {
			t.Errorf("process %d listens on %s, the worker on %s", p.PID, p.Listen, addr)
		}
	}
	// Connections spread over the processes' sockets by the kernel's
	// hash of the client port; 30 reach at least two of the three.
	for i := range 30 {
		c := dial(t, addr)
		c.mustEcho(t, "hello "+itoa(i))
		c.Close()
	}
	waitFor(t, slow(5*time.Second), "accepts counted in status", func() (bool, string) {
		serving := 0
		for _, p := range d.mustStatus().procs("rp") {
			if p.Accepted > 0 {
				serving++
			}
		}
		return serving >= 2, itoa(serving) + " processes accepted"
	})
	// A reload keeps the port.
	d.mustRun(0, "reload")
	if st := d.waitReady("rp", 3); st.addr("rp") != addr {
		t.Errorf("after reload the worker listens on %s, before on %s", st.addr("rp"), addr)
	}
	dial(t, addr).mustEcho(t, "after reload")
}
