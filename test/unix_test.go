package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// socatUnix sends input to the Unix socket at path with socat and returns
// what came back: socat half-closes after the input and waits (-t) for the
// rest of the answer.
func socatUnix(t *testing.T, socat, path, input string) string {
	t.Helper()
	cmd := exec.Command(socat, "-t", "2", "-T", "5", "STDIO", "UNIX-CONNECT:"+path)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("socat: %v\n%s", err, errb.String())
	}
	return out.String()
}

// inode is the inode number of the file at path (0 when missing).
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is not a socket: %v", path, fi.Mode())
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// Unix socket workers: a raw stream (unix://) answered through socat and an
// http worker (http:/// with transport unix) through curl --unix-socket;
// the socket file has socket_mode, status and connections show its path,
// a reload keeps the same file (inode) and serves throughout, a second
// daemon on the path is refused, and stop removes the files.
func TestUnixSockets(t *testing.T) {
	t.Parallel()
	socat := needTool(t, "socat")
	needTool(t, "curl")
	d := newDaemon(t, stockBin)
	raw := filepath.Join(d.dir, "raw.sock")
	web := filepath.Join(d.dir, "web.sock")
	d.writeConfig(
		worker("raw", "unix://"+raw, "echo", 2, `socket_mode = "0660"`),
		worker("web", "http://"+web, "respond", 1, `transport = "unix"`, "[worker.options]", `body = "over unix"`),
	)
	d.start()
	d.waitReady("raw", 2)
	st := d.waitReady("web", 1)
	if got := st.worker("raw").Listen; got != "unix://"+raw {
		t.Errorf("status shows raw listening on %q, want unix://%s", got, raw)
	}
	if got := st.worker("web").Listen; got != "http://"+web {
		t.Errorf("status shows web listening on %q", got)
	}
	fi, err := os.Lstat(raw)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket file %s: %v, %v; want a socket with mode 0660", raw, fi.Mode(), err)
	}

	if got := socatUnix(t, socat, raw, "hello over unix\n"); got != "hello over unix\n" {
		t.Errorf("socat through %s got %q", raw, got)
	}
	if r := curl(t, "--unix-socket", web, "http://localhost/"); r.out != "over unix" {
		t.Errorf("curl --unix-socket got %q", r.out)
	}

	// connections shows the path as the local address of an open one.
	c, err := net.Dial("unix", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "x")
	waitFor(t, slow(5*time.Second), "the unix connection listed", func() (bool, string) {
		r := d.mustRun(0, "connections", "--json")
		var rows []struct {
			Worker, Transport, Local, Remote string
		}
		if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
			return false, err.Error()
		}
		for _, row := range rows {
			if row.Worker == "raw" && row.Transport == "unix" && row.Local == raw && row.Remote == "" {
				return true, ""
			}
		}
		return false, r.out
	})
	c.Close()

	// Reload: the same socket (inode) stays, and clients are served
	// throughout.
	before := inode(t, raw)
	var stop atomic.Bool
	var served, failed atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := unixEcho(raw, "ping"); err != nil {
				failed.Add(1)
				lastErr.Store(err.Error())
			} else {
				served.Add(1)
			}
		}
	}()
	d.mustRun(0, "reload")
	d.waitReady("raw", 2)
	for range 20 {
		if err := unixEcho(raw, "after"); err != nil {
			t.Errorf("after reload: %v", err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if failed.Load() != 0 || served.Load() == 0 {
		t.Errorf("during reload: %d served, %d failed (last: %v)", served.Load(), failed.Load(), lastErr.Load())
	}
	if after := inode(t, raw); after != before {
		t.Errorf("reload replaced the socket file: inode %d, then %d", before, after)
	}

	// Another daemon (its own pid file) on the same path is refused, and
	// the first one's file stays.
	d2 := newDaemon(t, stockBin)
	d2.writeConfig(worker("raw", "unix://"+raw, "echo", 1))
	r := d2.run("start", "-d")
	if r.code == 0 || !strings.Contains(r.out+r.err+d2.logTail(), "another process is listening on this socket") {
		t.Errorf("a second daemon on %s: %s\n%s", raw, r, d2.logTail())
	}
	if got := inode(t, raw); got != before {
		t.Errorf("the refused daemon touched the socket file")
	}
	if err := unixEcho(raw, "still"); err != nil {
		t.Errorf("after the refused start: %v", err)
	}

	d.mustRun(0, "stop")
	for _, p := range []string{raw, web} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after stop, %s: %v; want it removed", p, err)
		}
	}
}

// A socket file left by a daemon that died (nothing accepts on it) is
// replaced at the next start; any other file at the path is left alone and
// the start fails.
func TestUnixStaleSocket(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	path := filepath.Join(d.dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false) // what a crash leaves
	ln.Close()
	d.writeConfig(worker("raw", "unix://"+path, "echo", 1))
	d.start()
	d.waitReady("raw", 1)
	if err := unixEcho(path, "fresh"); err != nil {
		t.Fatalf("over the replaced socket: %v", err)
	}
	d.mustRun(0, "stop")

	writeFile(t, path, "not a socket")
	r := d.run("start", "-d")
	if r.code == 0 || !strings.Contains(r.out+r.err+d.logTail(), "exists and is not a socket") {
		t.Errorf("start over a regular file: %s", r)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a socket" {
		t.Errorf("the regular file was changed: %q", b)
	}
}

// An IPv6 worker on [::1] serves, and status and connections show
// [::1]:port; a dual-stack [::] worker takes IPv4 clients unless ipv6_only.
func TestIPv6Workers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("skipped: this machine has no IPv6 loopback (::1): %v", err)
	}
	ln.Close()
	d := newDaemon(t, stockBin)
	p6, pd, p6o := freePort(t), freePort(t), freePort(t)
	d.writeConfig(
		worker("v6", fmt.Sprintf("text://[::1]:%d", p6), "echo", 1),
		worker("dual", fmt.Sprintf("text://[::]:%d", pd), "echo", 1),
		worker("v6only", fmt.Sprintf("text://[::]:%d", p6o), "echo", 1, "ipv6_only = true"),
	)
	d.start()
	d.waitReady("v6", 1)
	d.waitReady("dual", 1)
	st := d.waitReady("v6only", 1)
	want := fmt.Sprintf("text://[::1]:%d", p6)
	if got := st.worker("v6").Listen; got != want {
		t.Errorf("status shows %q, want %q", got, want)
	}
	c := dial(t, fmt.Sprintf("[::1]:%d", p6))
	c.mustEcho(t, "hello v6")
	waitFor(t, slow(5*time.Second), "the IPv6 connection listed", func() (bool, string) {
		r := d.mustRun(0, "connections", "--json")
		return strings.Contains(r.out, fmt.Sprintf(`"local": "[::1]:%d"`, p6)) && strings.Contains(r.out, `"remote": "[::1]:`), r.out
	})
	if err := echoOnce(fmt.Sprintf("127.0.0.1:%d", pd), "v4 on dual stack"); err != nil {
		t.Errorf("dual stack refused IPv4: %v", err)
	}
	if err := echoOnce(fmt.Sprintf("[::1]:%d", p6o), "v6 on v6only"); err != nil {
		t.Errorf("ipv6_only refused IPv6: %v", err)
	}
	if err := echoOnce(fmt.Sprintf("127.0.0.1:%d", p6o), "v4 on v6only"); err == nil {
		t.Errorf("ipv6_only accepted an IPv4 client")
	}
	if log, _ := os.ReadFile(d.logFile); !strings.Contains(string(log), fmt.Sprintf("[::1]:%d", p6)) {
		t.Errorf("the log does not name [::1]:%d:\n%s", p6, d.logTail())
	}
}

// unixEcho sends msg with a newline over a fresh Unix connection and
// checks the echo.
func unixEcho(path, msg string) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg)+1)
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		if err != nil {
			return fmt.Errorf("after %q: %w", buf[:n], err)
		}
		n += m
	}
	if string(buf) != msg+"\n" {
		return fmt.Errorf("echo %q, want %q", buf, msg+"\n")
	}
	return nil
}
