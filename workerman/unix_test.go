package workerman_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// unixAnswer reports, for each line, what the connection says of its peer:
// the credentials of a Unix peer, the addresses of any.
func unixAnswer(c *workerman.Connection, _ workerman.Message) {
	cr, err := c.PeerCredentials()
	c.SendString(fmt.Sprintf("cred=%d/%d/%d err=%v ip=%q local=%q v4=%v v6=%v path=%s\n", cr.PID, cr.UID, cr.GID,
		errors.Is(err, workerman.ErrNotUnixSocket), c.RemoteIP(), c.LocalIP(), c.IsIPv4(), c.IsIPv6(), c.Worker().SocketPath()))
}

func TestUnixWorker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.sock")
	for _, tc := range []struct{ listen, transport string }{
		{"unix://" + path, ""},     // a raw stream
		{"text://" + path, "unix"}, // Workerman's form for a protocol
		{"unix://" + path, "unix"}, // the transport may be said twice
	} {
		w := workerman.NewWorker(tc.listen)
		w.Transport = tc.transport
		w.OnMessage = unixAnswer
		p := workermantest.Start(t, w)
		if w.SocketPath() != path || w.Transport != "unix" {
			t.Fatalf("%s: SocketPath %q, Transport %q", tc.listen, w.SocketPath(), w.Transport)
		}
		c := workermantest.Dial(t, w)
		fmt.Fprintf(c, "hi\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("cred=%d/%d/%d err=false ip=\"\" local=\"\" v4=false v6=false path=%s\n", os.Getpid(), os.Getuid(), os.Getgid(), path)
		if line != want {
			t.Errorf("%s: got %q, want %q", tc.listen, line, want)
		}
		workermantest.Stop(t, p)
		// The process bound the file, so it removes it.
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("%s: socket file after stop: %v", tc.listen, err)
		}
	}
}

func TestUnixWorkerRefusedWhileInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = workerman.NewProcess(workerman.ProcessOptions{}, workerman.NewWorker("unix://"+path))
	if err == nil || !strings.Contains(err.Error(), "another process is listening on this socket") {
		t.Fatalf("NewProcess on a live socket: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the live socket's file was removed: %v", err)
	}
}

func TestTransportRules(t *testing.T) {
	for _, tc := range []struct{ listen, transport, want string }{
		{"text:///tmp/x.sock", "", `is a socket path: set Transport to "unix"`},
		{"text://127.0.0.1:0", "unix", "listens on a socket path"},
		{"unix:///tmp/x.sock", "tcp", "contradicts"},
		{"unix://x.sock", "", "a unix address is a path"},
	} {
		w := workerman.NewWorker(tc.listen)
		w.Transport = tc.transport
		if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with transport %q: %v, want %q", tc.listen, tc.transport, err, tc.want)
		}
	}
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.IPv6Only = true
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}, w); err == nil || !strings.Contains(err.Error(), "IPv6Only applies to IPv6") {
		t.Errorf("IPv6Only on IPv4: %v", err)
	}
}

func TestTCPPeerHasNoCredentials(t *testing.T) {
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.OnMessage = unixAnswer
	workermantest.Start(t, w)
	c := workermantest.Dial(t, w)
	fmt.Fprintf(c, "hi\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := `cred=0/0/0 err=true ip="127.0.0.1" local="127.0.0.1" v4=true v6=false path=` + "\n"; line != want {
		t.Errorf("got %q, want %q", line, want)
	}
}

// hasIPv6Loopback reports whether ::1 can be bound here; containers may
// run without IPv6.
func hasIPv6Loopback(t *testing.T) bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback (%v)", err)
		return false
	}
	ln.Close()
	return true
}

func TestIPv6Addresses(t *testing.T) {
	if !hasIPv6Loopback(t) {
		t.Skip("skipped: this machine has no IPv6 loopback (::1)")
	}
	w := workerman.NewWorker("text://[::1]:0")
	w.OnMessage = func(c *workerman.Connection, _ workerman.Message) {
		c.SendString(fmt.Sprintf("%s %s %s %v\n", c.RemoteIP(), c.RemoteAddr(), c.LocalAddr(), c.IsIPv6()))
	}
	workermantest.Start(t, w)
	if !strings.HasPrefix(w.Addr().String(), "[::1]:") {
		t.Errorf("Addr() = %s, want [::1]:port", w.Addr())
	}
	c := workermantest.Dial(t, w)
	fmt.Fprintf(c, "hi\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	want := fmt.Sprintf("::1 %s %s true\n", c.LocalAddr(), w.Addr())
	if line != want {
		t.Errorf("got %q, want %q", line, want)
	}
}

// TestIPv6Only: [::] serves IPv4 too unless IPv6Only is set; IPv4 peers of
// a dual-stack listener are plain IPv4 addresses.
func TestIPv6Only(t *testing.T) {
	if !hasIPv6Loopback(t) {
		t.Skip("skipped: this machine has no IPv6 loopback (::1)")
	}
	for _, v6only := range []bool{false, true} {
		w := workerman.NewWorker("text://[::]:0")
		w.IPv6Only = v6only
		w.OnMessage = func(c *workerman.Connection, _ workerman.Message) {
			c.SendString(c.RemoteIP() + "\n")
		}
		workermantest.Start(t, w)
		port := w.Addr().Port()
		c4, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if v6only {
			if err == nil {
				c4.Close()
				t.Errorf("IPv6Only: an IPv4 client connected")
			}
		} else if err != nil {
			t.Errorf("dual stack: IPv4 dial: %v", err)
		} else {
			fmt.Fprintf(c4, "hi\n")
			if line, _ := bufio.NewReader(c4).ReadString('\n'); line != "127.0.0.1\n" {
				t.Errorf("dual stack: IPv4 peer reported as %q", line)
			}
			c4.Close()
		}
		c6 := workermantest.DialAddr(t, fmt.Sprintf("[::1]:%d", port))
		fmt.Fprintf(c6, "hi\n")
		if line, _ := bufio.NewReader(c6).ReadString('\n'); line != "::1\n" {
			t.Errorf("IPv6Only %v: IPv6 peer reported as %q", v6only, line)
		}
	}
}
