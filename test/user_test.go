package test

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeLowPort returns a port below 1024 that was free on 127.0.0.1 a moment
// ago (root only).
func freeLowPort(t *testing.T) int {
	t.Helper()
	for p := 1023; p >= 600; p-- {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Skip("no free port between 600 and 1023")
	return 0
}

// procIDs is the real uid and gid of a process, from /proc/<pid>/status.
func procIDs(pid int) (uid, gid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1, err
	}
	uid, gid = -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Uid":
			uid, _ = strconv.Atoi(f[0])
		case "Gid":
			gid, _ = strconv.Atoi(f[0])
		}
	}
	return uid, gid, nil
}

// A worker with user = "nobody" on a port below 1024: the master (root)
// binds it, the children run as nobody and serve, also after a respawn and
// a reload. A worker without user runs as root beside it.
func TestWorkerRunsAsNobody(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: to bind a port below 1024 and switch users")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	port := freeLowPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d := newDaemon(t, crashBin)
	d.writeConfig(
		worker("low", "text://"+addr, "echo", 2, `user = "nobody"`),
		worker("rooted", "text://127.0.0.1:0", "echo", 1),
	)
	d.start()
	d.waitReady("rooted", 1)
	st := d.waitReady("low", 2)
	check := func(st *statusDoc, when string) {
		t.Helper()
		for _, p := range st.procs("low") {
			u, g, err := procIDs(p.PID)
			if err != nil || u != uid || g != gid {
				t.Errorf("%s: child %d of worker low runs as uid %d gid %d (%v), want nobody %d:%d", when, p.PID, u, g, err, uid, gid)
			}
		}
		for _, p := range st.procs("rooted") {
			if u, _, err := procIDs(p.PID); err != nil || u != 0 {
				t.Errorf("%s: child %d of worker rooted runs as uid %d (%v), want 0", when, p.PID, u, err)
			}
		}
		if u, _, _ := procIDs(st.Master.PID); u != 0 {
			t.Errorf("%s: master runs as uid %d", when, u)
		}
		for i := range 4 {
			if err := echoOnce(addr, fmt.Sprintf("%s %d", when, i)); err != nil {
				t.Errorf("%s: port %d: %v", when, port, err)
			}
		}
	}
	check(st, "start")

	victim := st.procs("low")[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, st, _ = d.waitRespawn("low", victim.ID, victim.PID, slow(5*time.Second))
	check(st, "respawn")

	d.mustRun(0, "reload")
	old := st.pids()
	d.waitReplaced("low", 2, old, st.Master.PID)
	st = d.waitReplaced("rooted", 1, old, st.Master.PID)
	check(st, "reload")
}

// A worker running as nobody writes its access log in a directory only
// root may write to: the master opens the file and hands it over, at start
// and on `reopen` after a rotation. The child used to open it itself, after
// the switch, and failed to start although `check` said ok.
func TestAccessLogOfNobody(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: to switch users")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	dir := tempDir(t) // root's, 0755
	logPath := filepath.Join(dir, "access.log")
	d := newDaemon(t, stockBin)
	d.writeConfig(respondWorker("web", 2, `user = "nobody"`, "[worker.http]", "access_log = "+strconv.Quote(logPath)))
	d.mustRun(0, "check")
	d.start()
	st := d.waitReady("web", 2)
	for _, p := range st.procs("web") {
		if uid, _, err := procIDs(p.PID); err != nil || uid == 0 {
			t.Fatalf("child %d runs as uid %d (%v), want nobody", p.PID, uid, err)
		}
	}
	url := "http://" + st.addr("web")
	waitLogged := func(path, marker string) {
		t.Helper()
		waitFor(t, slow(5*time.Second), marker+" in "+filepath.Base(path), func() (bool, string) {
			b, _ := os.ReadFile(path)
			return strings.Contains(string(b), marker), fmt.Sprintf("%q", b)
		})
	}
	curl(t, "-o", os.DevNull, url+"/before-rotation")
	waitLogged(logPath, "GET /before-rotation ")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	d.mustRun(0, "reopen")
	curl(t, "-o", os.DevNull, url+"/after-rotation")
	waitLogged(logPath, "GET /after-rotation ")
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "before-rotation") {
		t.Errorf("the new access log holds a line from before the rotation: %q", b)
	}
	// And after a reload the new children get the current file.
	d.mustRun(0, "reload")
	st = d.waitReplaced("web", 2, st.pids(), st.Master.PID)
	curl(t, "-o", os.DevNull, "http://"+st.addr("web")+"/after-reload")
	waitLogged(logPath, "GET /after-reload ")
}
