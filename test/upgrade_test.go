package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startHTTPLoad opens a new connection per HTTP request (Connection:
// close), the counterpart of wrk's keep-alive connections.
func startHTTPLoad(addr string, goroutines int) *loadGen {
	return startLoadOf(goroutines, func(int, int) error { return httpOnce(addr) })
}

// httpOnce sends one request on a new connection and reads a 200 to the
// end.
func httpOnce(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	body, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(body), "HTTP/1.1 200 ") || !strings.HasSuffix(string(body), "Hello, World!") {
		return fmt.Errorf("answer %q", body)
	}
	return nil
}

var upgradedRE = regexp.MustCompile(`master pid (\d+) replaced by (\d+)`)

// upgrade runs `upgrade`, which must succeed, and checks what a user
// sees afterwards: a new master pid, in the pid file and in status, and
// the old master gone. It returns the new pid.
func (d *daemon) upgrade() int {
	d.t.Helper()
	before := d.pidFromFile()
	r := d.mustRun(0, "upgrade")
	m := upgradedRE.FindStringSubmatch(r.out)
	if m == nil {
		d.t.Fatalf("upgrade said %q", r.out)
	}
	old, _ := strconv.Atoi(m[1])
	pid, _ := strconv.Atoi(m[2])
	if old != before || pid == before || pid <= 0 {
		d.t.Fatalf("upgrade said %q; the pid file named %d", r.out, before)
	}
	d.setMaster(pid)
	if got := d.pidFromFile(); got != pid {
		d.t.Errorf("pid file holds %d after the upgrade to %d", got, pid)
	}
	if st := d.mustStatus(); st.Master.PID != pid {
		d.t.Errorf("status shows master pid %d after the upgrade to %d", st.Master.PID, pid)
	}
	waitGone(d.t, slow(10*time.Second), "the old master", old)
	return pid
}

// The goal: upgrades of the master under load, keep-alive
// clients (wrk, no retries) and a client that opens a connection per
// request, lose no request. The old master's children retire as in
// reload -g and pass their idle keep-alive connections on to the new
// master's. With one shared socket, and a socket per slot (reuse_port).
func TestUpgradeUnderLoad(t *testing.T) {
	t.Parallel()
	needTool(t, "wrk")
	for _, reusePort := range []bool{false, true} {
		// Sequential: wrk saturates the CPUs.
		t.Run(fmt.Sprintf("reuse_port=%v", reusePort), func(t *testing.T) {
			upgradesUnderLoad(t, reusePort)
		})
	}
}

func upgradesUnderLoad(t *testing.T, reusePort bool) {
	d := newDaemon(t, stockBin)
	d.writeConfig(respondWorker("hello", 2, fmt.Sprintf("reuse_port = %v", reusePort)))
	d.start()
	st := d.waitReady("hello", 2)
	addr := st.addr("hello")
	w := startWrk(t, 60*time.Second, "-t1", "-c50", "--timeout", "10s", "http://"+addr+"/")
	load := startHTTPLoad(addr, 2)
	defer load.halt()
	waitFor(t, slow(10*time.Second), "both clients served", func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		conns := 0
		for _, p := range s.procs("hello") {
			conns += p.Connections
		}
		return conns >= 50 && load.ok.Load() > 20, fmt.Sprintf("%d connections, %d requests on new connections", conns, load.ok.Load())
	})
	gen := 0
	for _, p := range st.procs("hello") {
		gen = max(gen, p.Generation)
	}
	masters := []int{st.Master.PID}
	for i := range 3 {
		masters = append(masters, d.upgrade())
		next := d.waitReplaced("hello", 2, st.pids(), masters[len(masters)-1])
		for _, p := range next.procs("hello") {
			if p.Generation <= gen {
				t.Errorf("upgrade %d: process %d has generation %d, not above %d", i, p.PID, p.Generation, gen)
			}
			gen = max(gen, p.Generation)
		}
		st = next
		time.Sleep(300 * time.Millisecond) // requests flow between upgrades
	}
	before := load.ok.Load()
	time.Sleep(300 * time.Millisecond)
	load.halt()
	s := w.stop(t)
	t.Logf("3 upgrades (masters %v) under wrk -c50: %s; new connection per request: %d answered, %d failed",
		masters, s, load.ok.Load(), load.failed.Load())
	if s.requests == 0 || s.failed() {
		t.Errorf("keep-alive: %s\n%s\nhand-over in the log: %s", s, s.report, handoverSummary(d.logFile))
	}
	if n := load.failed.Load(); n != 0 || load.ok.Load() == before {
		t.Errorf("new connection per request: %d failed (first errors: %v), %d answered after the last upgrade", n, load.errs, load.ok.Load()-before)
	}
	// The counts went on: exit statuses of the retired children.
	if es := d.mustStatus().worker("hello").ExitStatus; es["exit 0"] != 6 {
		t.Errorf("exit_status after 3 upgrades of 2 children: %v, want 6 \"exit 0\"", es)
	}
}

// replaceBinary puts content (a script) at path, as a deploy would: a
// new file renamed over the old, which running processes keep.
func replaceBinary(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// copyBinary puts a copy of the stock binary in dir (over what is there),
// so that a test may replace it.
func copyBinary(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(stockBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "workermand")
	replaceBinary(t, bin, string(data))
	return bin
}

// An upgrade that cannot complete leaves the running master serving and
// says why: a binary that exits at once, a config the new master
// refuses; a second upgrade while one runs is refused; and after all
// that, an upgrade works, and the new master answers a reload.
func TestUpgradeFailuresKeepServing(t *testing.T) {
	t.Parallel()
	// The master runs a copy of the binary, which the subtests replace;
	// the commands run the stock one.
	d := newDaemon(t, stockBin)
	good := worker("echo", "text://127.0.0.1:0", "echo", 2)
	d.writeConfig(good)
	if r := d.run("upgrade"); r.code != 7 || !strings.Contains(r.err, "not running") {
		t.Errorf("upgrade with no master: %s; want exit 7, not running", r)
	}
	exe := copyBinary(t, d.dir)
	d.bin = exe
	d.start()
	d.bin = stockBin
	st := d.waitReady("echo", 2)
	master, addr := st.Master.PID, st.addr("echo")
	serving := func(when string) {
		t.Helper()
		if err := echoOnce(addr, when); err != nil {
			t.Errorf("%s: %v", when, err)
		}
		s := d.mustStatus()
		if s.Master.PID != master || d.pidFromFile() != master {
			t.Errorf("%s: master pid %d, pid file %d; want %d", when, s.Master.PID, d.pidFromFile(), master)
		}
		if len(s.procs("echo")) != 2 {
			t.Errorf("%s: %+v", when, s.procs("echo"))
		}
	}

	t.Run("broken binary", func(t *testing.T) {
		d := d.in(t)
		replaceBinary(t, exe, "#!/bin/sh\necho 'this build is broken' >&2\nexit 1\n")
		r := d.mustRun(1, "upgrade")
		for _, want := range []string{"keeps serving", fmt.Sprintf("pid %d", master), "exited (exit 1) before it was ready"} {
			if !strings.Contains(r.err, want) {
				t.Errorf("%s\nwant it to say %q", r, want)
			}
		}
		serving("after a broken binary")
		if data, _ := os.ReadFile(d.outFile); !strings.Contains(string(data), "this build is broken") {
			t.Errorf("the new binary's output is not in %s", d.outFile)
		}
	})

	t.Run("bad config", func(t *testing.T) {
		d := d.in(t)
		copyBinary(t, d.dir)
		d.writeConfig(good + "bogus_key = 1\n")
		r := d.mustRun(1, "upgrade")
		if !strings.Contains(r.err, "the new master could not start") || !strings.Contains(r.err, "bogus_key") {
			t.Errorf("%s\nwant the new master's reason, naming bogus_key", r)
		}
		d.writeConfig(good)
		serving("after a bad config")
	})

	t.Run("second upgrade refused", func(t *testing.T) {
		d := d.in(t)
		// A new binary that takes two seconds to start.
		replaceBinary(t, exe, fmt.Sprintf("#!/bin/sh\nsleep 2\nexec %s \"$@\"\n", stockBin))
		started := func() int {
			data, _ := os.ReadFile(d.logFile)
			return strings.Count(string(data), "upgrading: new master started")
		}
		before := started()
		first := make(chan result, 1)
		go func() { first <- d.run("upgrade") }()
		waitFor(t, slow(10*time.Second), "the first upgrade started", func() (bool, string) {
			return started() > before, ""
		})
		r := d.mustRun(1, "upgrade")
		if !strings.Contains(r.err, "an upgrade is already in progress") {
			t.Errorf("second upgrade: %s", r)
		}
		if r := d.run("reload"); r.code != 1 || !strings.Contains(r.err, "upgrade is in progress") {
			t.Errorf("reload during an upgrade: %s", r)
		}
		r = <-first
		if r.code != 0 {
			t.Fatalf("first upgrade: %s\n%s", r, d.logTail())
		}
		m := upgradedRE.FindStringSubmatch(r.out)
		if m == nil {
			t.Fatalf("upgrade said %q", r.out)
		}
		pid, _ := strconv.Atoi(m[2])
		d.setMaster(pid)
		waitGone(t, slow(10*time.Second), "the old master", master)
		st := d.waitReplaced("echo", 2, st.pids(), pid)
		if d.pidFromFile() != pid {
			t.Errorf("pid file %d, want %d", d.pidFromFile(), pid)
		}
		// The new master answers on the control socket (a reload, of
		// children that run the stock binary again).
		copyBinary(t, d.dir)
		d.mustRun(0, "reload")
		d.waitReplaced("echo", 2, st.pids(), pid)
		if err := echoOnce(addr, "after the upgrades"); err != nil {
			t.Error(err)
		}
	})
}

// systemd socket activation, with systemd's own tool: the master takes
// the socket bound to a worker's address, and the one named after a
// worker (FileDescriptorName=); a socket nobody uses is closed, and the
// LISTEN_* variables reach no child.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	activate := needTool(t, "systemd-socket-activate")
	d := newDaemon(t, stockBin)
	byAddr, named, spare := freePort(t), freePort(t), freePort(t)
	d.writeConfig(
		worker("echo", fmt.Sprintf("text://127.0.0.1:%d", byAddr), "echo", 2),
		// Its own address is not the socket's: the name decides.
		worker("named", "text://127.0.0.1:0", "echo", 1),
		worker("own", "text://127.0.0.1:0", "echo", 1),
	)
	args := []string{
		"-l", fmt.Sprintf("127.0.0.1:%d", byAddr),
		"-l", fmt.Sprintf("127.0.0.1:%d", named),
		"-l", fmt.Sprintf("127.0.0.1:%d", spare),
		"--fdname=sock-a:named:sock-c",
		"-E", markerEnv + "=" + d.dir,
		d.bin, "start", "-c", d.cfg,
	}
	cmd := exec.Command(activate, args...)
	cmd.Env = cleanEnv()
	fg := d.startCmd(cmd)
	// systemd-socket-activate starts the service on the first connection,
	// which waits in the backlog until a child accepts it.
	waitFor(t, slow(10*time.Second), "systemd-socket-activate listening", func() (bool, string) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", byAddr))
		if err != nil {
			return false, err.Error()
		}
		first := &client{Conn: c, r: bufio.NewReader(c)}
		defer first.Close()
		_ = first.SetDeadline(time.Now().Add(slow(10 * time.Second)))
		if err := first.echo("first"); err != nil {
			t.Fatalf("the connection that activated the service: %v\n%s", err, d.logTail())
		}
		return true, ""
	})
	st := d.waitReady("echo", 2)
	d.waitReady("named", 1)
	if got, want := st.addr("echo"), fmt.Sprintf("127.0.0.1:%d", byAddr); got != want {
		t.Errorf("echo listens on %s, want %s", got, want)
	}
	if got, want := st.addr("named"), fmt.Sprintf("127.0.0.1:%d", named); got != want {
		t.Errorf("named listens on %s, want the socket named after it, %s", got, want)
	}
	for _, a := range []string{st.addr("echo"), st.addr("named"), st.addr("own")} {
		if err := echoOnce(a, "hi "+a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", spare), time.Second); err == nil {
		c.Close()
		t.Errorf("the socket no worker uses (port %d) still accepts", spare)
	}
	// In the foreground the master logs to its standard error.
	log, _ := os.ReadFile(fg.errPath)
	if !strings.Contains(string(log), "inherited listening socket matches no worker") {
		t.Errorf("no warning about the unused socket in the log:\n%s", d.logTail())
	}
	for _, pid := range st.pids() {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if strings.Contains(string(env), "LISTEN_") {
			t.Errorf("child %d inherited LISTEN_* variables", pid)
		}
	}
	d.mustRun(0, "stop")
	select {
	case <-fg.done:
		if fg.err != nil {
			t.Errorf("master: %v", fg.err)
		}
	case <-time.After(slow(10 * time.Second)):
		t.Errorf("master still running after stop")
	}
}

// Under systemd the old master, the unit's main process, names the new one
// with MAINPID= once it is ready, and only then does the new master notify
// (READY=1, later STOPPING=1): with NotifyAccess=main systemd would ignore
// it before. The old master says nothing more as it retires. The master
// runs `restart` (which found nothing to stop): its successor must run
// `start`, not its predecessor's command line, which would stop it.
func TestUpgradeUnderSystemd(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
	sockPath := filepath.Join(d.dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	// The sender's pid comes with each datagram, as systemd gets it.
	raw, err := notify.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })
	type note struct {
		pid   int
		state string
	}
	next := func(what string) note {
		t.Helper()
		buf, oob := make([]byte, 4096), make([]byte, 256)
		_ = notify.SetReadDeadline(time.Now().Add(slow(20 * time.Second)))
		n, oobn, _, _, err := notify.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Fatalf("waiting for %s on NOTIFY_SOCKET: %v\nlog:\n%s", what, err, d.logTail())
		}
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if cred, err := syscall.ParseUnixCredentials(&m); err == nil {
				return note{int(cred.Pid), string(buf[:n])}
			}
		}
		t.Fatalf("%q came without credentials", buf[:n])
		return note{}
	}

	cmd := exec.Command(d.bin, "restart", "-c", d.cfg)
	cmd.Dir = d.dir
	cmd.Env = append(cleanEnv(), "NOTIFY_SOCKET="+sockPath, markerEnv+"="+d.dir)
	d.startCmd(cmd)
	old := cmd.Process.Pid
	if n := next("READY=1"); n != (note{old, "READY=1"}) {
		t.Fatalf("first notification %+v, want READY=1 from %d", n, old)
	}
	pid := d.upgrade()
	if n := next("MAINPID="); n != (note{old, "MAINPID=" + itoa(pid)}) {
		t.Errorf("after the upgrade: %+v, want MAINPID=%d from the old master %d", n, pid, old)
	}
	if n := next("READY=1"); n != (note{pid, "READY=1"}) {
		t.Errorf("then %+v, want READY=1 from the new master %d", n, pid)
	}
	d.mustRun(0, "stop")
	if n := next("STOPPING=1"); n != (note{pid, "STOPPING=1"}) {
		t.Errorf("on stop: %+v, want STOPPING=1 from the new master %d", n, pid)
	}
}

// A Unix socket worker keeps its socket file (the same inode) across an
// upgrade, serving throughout; the new master owns the file then and
// removes it at its final stop, the control socket's too.
func TestUpgradeUnixSocket(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	path := filepath.Join(d.dir, "echo.sock")
	d.writeConfig(worker("echo", "unix://"+path, "echo", 1))
	d.start()
	d.waitReady("echo", 1)
	ino := inode(t, path)
	if err := unixEcho(path, "before"); err != nil {
		t.Fatal(err)
	}
	d.upgrade()
	if got := inode(t, path); got != ino {
		t.Errorf("socket file inode %d after the upgrade, was %d", got, ino)
	}
	if err := unixEcho(path, "after"); err != nil {
		t.Error(err)
	}
	d.mustRun(0, "stop")
	for _, f := range []string{path, d.sock, d.pidFile} {
		if fileExists(f) {
			t.Errorf("%s left behind by the final stop", f)
		}
	}
}

// A new master that never reports ready is killed after the upgrade's
// timeout (WORKERMAND_UPGRADE_TIMEOUT, 60 s by default), and the old one
// serves on.
func TestUpgradeTimeout(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	d.env = append(d.env, "WORKERMAND_UPGRADE_TIMEOUT=1s")
	exe := copyBinary(t, d.dir)
	d.bin = exe
	d.start()
	d.bin = stockBin
	st := d.waitReady("echo", 1)
	replaceBinary(t, exe, "#!/bin/sh\nexec sleep 30\n")
	r := d.mustRun(1, "upgrade")
	if !strings.Contains(r.err, "did not report ready within 1s") || !strings.Contains(r.err, "keeps serving") {
		t.Errorf("%s\nwant the timeout as the reason", r)
	}
	m := regexp.MustCompile(`"new_pid": (\d+)`).FindStringSubmatch(d.logTail())
	if m == nil {
		t.Fatalf("no new_pid in the log:\n%s", d.logTail())
	}
	pid, _ := strconv.Atoi(m[1])
	waitGone(t, slow(5*time.Second), "the new master that timed out", pid)
	if s := d.mustStatus(); s.Master.PID != st.Master.PID || d.pidFromFile() != st.Master.PID {
		t.Errorf("master pid %d, pid file %d; want %d", s.Master.PID, d.pidFromFile(), st.Master.PID)
	}
	if err := echoOnce(st.addr("echo"), "after the timeout"); err != nil {
		t.Error(err)
	}
}
