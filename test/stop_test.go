package test

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkStopped checks what a stopped master leaves: no master, no
// children, no pid file, no control socket, a free port.
func checkStopped(t *testing.T, d *daemon, st *statusDoc, addr string) {
	t.Helper()
	waitGone(t, slow(2*time.Second), "master and children after stop", append(st.pids(), st.Master.PID)...)
	for _, f := range []string{d.pidFile, d.sock} {
		if fileExists(f) {
			t.Errorf("%s still exists after stop", f)
		}
	}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port still taken after stop: %v", err)
		} else {
			ln.Close()
		}
	}
	if r := d.run("status"); r.code != 3 {
		t.Errorf("status after stop: %s, want exit 3", r)
	}
}

// stop closes the clients' connections and returns once the master exited,
// well within stop_timeout.
func TestStopClosesConnections(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.globals["stop_timeout"] = `"3s"`
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.start()
	st := d.waitReady("echo", 2)
	addr := st.addr("echo")
	var clients []*client
	for range 4 {
		c := dial(t, addr)
		c.mustEcho(t, "before stop")
		clients = append(clients, c)
	}
	r := d.mustRun(0, "stop")
	if !strings.Contains(r.out, "workermand stopped") {
		t.Errorf("stop said %q", r.out)
	}
	if r.took > slow(3*time.Second)+2*time.Second {
		t.Errorf("stop took %s, stop_timeout is 3 s", r.took)
	}
	t.Logf("stop with 4 open connections took %s", r.took.Round(time.Millisecond))
	for i, c := range clients {
		if _, data, err := c.waitEOF(slow(2 * time.Second)); err != nil || data != "" {
			t.Errorf("client %d after stop: %q, %v; want EOF", i, data, err)
		}
	}
	checkStopped(t, d, st, addr)
}

// dialRefused reports whether a connection attempt to addr is refused.
func dialRefused(addr string) (bool, string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false, "connected"
	}
	return errors.Is(err, syscall.ECONNREFUSED), err.Error()
}

// stop -g: the port refuses new connections at once, an open idle
// connection is still served until graceful_timeout, then it is closed and
// the master exits.
func TestStopGracefulDrainsUntilTimeout(t *testing.T) {
	t.Parallel()
	const graceful = 2 * time.Second
	d := newDaemon(t, stockBin)
	d.globals["graceful_timeout"] = `"2s"`
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.start()
	st := d.waitReady("echo", 2)
	addr := st.addr("echo")
	c1, c2 := dial(t, addr), dial(t, addr)
	c1.mustEcho(t, "one")
	c2.mustEcho(t, "two")

	begin := time.Now()
	stopped := make(chan result, 1)
	go func() { stopped <- d.run("stop", "-g") }()
	refusedAfter := waitFor(t, slow(time.Second), "new connections refused after stop -g", func() (bool, string) {
		return dialRefused(addr)
	})
	t.Logf("port refused connections %s after stop -g was run", refusedAfter.Round(time.Millisecond))
	// The open connections are still served: c1 by a steady client until
	// the drain ends, c2 once and then left idle.
	c2.mustEcho(t, "still served")
	lastOK := make(chan time.Duration, 1)
	go func() {
		var last time.Duration
		for range 1000 { // 1000 × 20 ms bounds it
			if c1.echo("steady") != nil {
				break
			}
			last = time.Since(begin)
			time.Sleep(pollEvery) // the client's pace
		}
		lastOK <- last
	}()
	_, data, err := c2.waitEOF(graceful + slow(5*time.Second))
	closedAt := time.Since(begin)
	if err != nil || data != "" {
		t.Fatalf("idle connection after graceful_timeout: %q, %v; want EOF", data, err)
	}
	if closedAt < graceful-100*time.Millisecond {
		t.Errorf("idle connection closed %s after stop -g, before graceful_timeout (%s)", closedAt, graceful)
	}
	var steady time.Duration
	select {
	case steady = <-lastOK:
	case <-time.After(slow(10 * time.Second)):
		t.Fatal("the steady client was not cut off")
	}
	if steady < graceful-500*time.Millisecond {
		t.Errorf("the steady client's last echo came %s after stop -g; it should be served until graceful_timeout (%s)", steady, graceful)
	}
	var r result
	select {
	case r = <-stopped:
	case <-time.After(slow(10 * time.Second)):
		t.Fatal("stop -g did not return 10 s after the connections closed")
	}
	if r.code != 0 || !strings.Contains(r.out, "workermand stopped") {
		t.Errorf("stop -g: %s", r)
	}
	t.Logf("stop -g: connection closed after %s, command returned after %s (graceful_timeout %s)",
		closedAt.Round(time.Millisecond), r.took.Round(time.Millisecond), graceful)
	if r.took > graceful+slow(3*time.Second) {
		t.Errorf("stop -g took %s; graceful_timeout is %s", r.took, graceful)
	}
	checkStopped(t, d, st, addr)
}

// stop -g ends as soon as the last connection is gone, long before
// graceful_timeout.
func TestStopGracefulEndsWhenIdle(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.globals["graceful_timeout"] = `"60s"`
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.start()
	st := d.waitReady("echo", 2)
	addr := st.addr("echo")
	c := dial(t, addr)
	c.mustEcho(t, "one")
	stopped := make(chan result, 1)
	go func() { stopped <- d.run("stop", "-g") }()
	waitFor(t, slow(time.Second), "new connections refused after stop -g", func() (bool, string) {
		return dialRefused(addr)
	})
	c.mustEcho(t, "still served")
	closed := time.Now()
	c.Close()
	select {
	case r := <-stopped:
		if r.code != 0 {
			t.Errorf("stop -g: %s", r)
		}
		t.Logf("master exited %s after the last client left", time.Since(closed).Round(time.Millisecond))
	case <-time.After(slow(5 * time.Second)):
		t.Fatal("stop -g still waiting 5 s after the last connection closed (graceful_timeout 60 s)")
	}
	checkStopped(t, d, st, addr)
}

// kill -9 of the master: the children notice and exit within 2 s, and the
// port is free again. The next start is not blocked by the pid file left
// behind.
func TestKillMasterChildrenExit(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	port := freePort(t)
	d.writeConfig(worker("echo", "text://127.0.0.1:"+itoa(port), "echo", 3))
	d.start()
	st := d.waitReady("echo", 3)
	addr := st.addr("echo")
	c := dial(t, addr)
	c.mustEcho(t, "hello")
	if err := syscall.Kill(st.Master.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := waitGone(t, slow(2*time.Second), "children after kill -9 of the master", st.pids()...)
	t.Logf("children gone %s after kill -9 of the master", took.Round(time.Millisecond))
	if _, _, err := c.waitEOF(slow(2 * time.Second)); err != nil {
		t.Errorf("client of a child whose master was killed: %v", err)
	}
	var ln net.Listener
	waitFor(t, slow(time.Second), "binding the port of the killed master", func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	ln.Close()
	if r := d.run("status"); r.code != 3 {
		t.Errorf("status after kill -9 of the master: %s, want exit 3", r)
	}
	// The pid file is stale now; a new start replaces it.
	d.start()
	st2 := d.waitReady("echo", 3)
	if st2.Master.PID == st.Master.PID {
		t.Errorf("new master has the old pid %d", st.Master.PID)
	}
	if err := echoOnce(addr, "again"); err != nil {
		t.Error(err)
	}
}
