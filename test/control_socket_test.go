package test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Two daemons with their own pid files but one control socket: the second
// refuses to start rather than take the socket over (its status, reload and
// stop would reach the wrong master), and the first stays in command. With
// only pid_file set, each gets the socket next to its pid file.
func TestControlSocketNotTakenOver(t *testing.T) {
	a := newDaemon(t, stockBin)
	a.writeConfig(worker("a", "text://127.0.0.1:0", "echo", 1))
	a.start()
	a.waitReady("a", 1)

	b := newDaemon(t, stockBin)
	b.globals["control_socket"] = strconv.Quote(a.sock)
	b.writeConfig(worker("b", "text://127.0.0.1:0", "echo", 1))
	r := b.run("start", "-d")
	if r.code == 0 || !strings.Contains(r.err, "another running master answers on it") {
		t.Fatalf("a second daemon on the first's control socket: want a refusal, got %s", r)
	}
	if st := a.mustStatus(); len(st.procs("a")) != 1 || len(st.procs("b")) != 0 {
		t.Errorf("the first daemon's status after the refusal: %+v", st.Processes)
	}

	// pid_file alone: the control socket follows it.
	c := newDaemon(t, stockBin)
	delete(c.globals, "control_socket")
	c.pidFile = filepath.Join(c.dir, "other.pid")
	c.sock = filepath.Join(c.dir, "other.sock")
	c.globals["pid_file"] = strconv.Quote(c.pidFile)
	c.writeConfig(worker("c", "text://127.0.0.1:0", "echo", 1))
	if r := c.mustRun(0, "check"); !strings.Contains(r.out, "control_socket: "+c.sock) {
		t.Errorf("check with pid_file only: want the control socket %s\n%s", c.sock, r.out)
	}
	c.start()
	c.waitReady("c", 1)
}
