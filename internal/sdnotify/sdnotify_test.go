package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const helperEnv = "WORKERMAND_SDNOTIFY_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A child of a process that called Unsetenv: it must not see the
		// socket, and must not manage to notify.
		sent, err := Notify(StateReady)
		fmt.Printf("env=%q enabled=%v sent=%v err=%v\n", os.Getenv(EnvSocket), Enabled(), sent, err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// resetCapture undoes Unsetenv's capture so tests stay independent.
func resetCapture(t *testing.T) {
	t.Helper()
	mu.Lock()
	captured, addr = false, ""
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		captured, addr = false, ""
		mu.Unlock()
	})
}

// listen binds a unixgram socket at name (a path, or "@abstract"), points
// NOTIFY_SOCKET at it, and turns on SO_PASSCRED so received datagrams carry
// the sender's credentials, as systemd's socket does.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	resetCapture(t)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	if serr != nil {
		t.Fatal(serr)
	}
	t.Setenv(EnvSocket, name)
	return c
}

// recv reads one datagram and the sender's pid from its credentials.
func recv(t *testing.T, c *net.UnixConn) (string, int32) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n]), cred.Pid
}

func TestNotUnderSystemd(t *testing.T) {
	resetCapture(t)
	t.Setenv(EnvSocket, "")
	os.Unsetenv(EnvSocket)
	if Enabled() {
		t.Fatal("Enabled without NOTIFY_SOCKET")
	}
	if sent, err := Notify(StateReady); sent || err != nil {
		t.Fatalf("Notify = (%v, %v), want (false, nil)", sent, err)
	}
	for name, f := range map[string]func() error{
		"Ready": Ready, "Reloading": Reloading, "Stopping": Stopping,
		"Status": func() error { return Status("x") },
	} {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func testMessages(t *testing.T, c *net.UnixConn) {
	t.Helper()
	if !Enabled() {
		t.Fatal("not Enabled")
	}
	cases := []struct {
		name string
		send func() error
		want string
	}{
		{"Ready", Ready, "READY=1"},
		{"Stopping", Stopping, "STOPPING=1"},
		{"Status", func() error { return Status("4 workers, 8 processes\nREADY=1") }, "STATUS=4 workers, 8 processes READY=1"},
		{"Notify", func() error {
			sent, err := Notify("STATUS=reloading", StateReady, "MAINPID=1")
			if !sent && err == nil {
				err = errors.New("not sent")
			}
			return err
		}, "STATUS=reloading\nREADY=1\nMAINPID=1"},
	}
	for _, tc := range cases {
		if err := tc.send(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, pid := recv(t, c)
		if got != tc.want {
			t.Fatalf("%s sent %q, want %q", tc.name, got, tc.want)
		}
		if pid != int32(os.Getpid()) {
			t.Fatalf("%s: sender pid %d, want %d", tc.name, pid, os.Getpid())
		}
	}

	before, err := MonotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	if err := Reloading(); err != nil {
		t.Fatal(err)
	}
	after, _ := MonotonicUsec()
	got, _ := recv(t, c)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("Reloading sent %q", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec < before || usec > after {
		t.Fatalf("MONOTONIC_USEC=%d (%v), want within [%d, %d]", usec, err, before, after)
	}
	// Microseconds, not nanoseconds or milliseconds: two readings around
	// one send are well under a minute apart.
	if after-before > int64(time.Minute/time.Microsecond) {
		t.Fatalf("clock jumped %dµs", after-before)
	}
}

func TestPathSocket(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	testMessages(t, c)
}

func TestAbstractSocket(t *testing.T) {
	c := listen(t, fmt.Sprintf("@workermand-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	testMessages(t, c)
}

func TestUnsetenv(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	Unsetenv()
	Unsetenv() // idempotent: must not capture the now empty variable
	if v, ok := os.LookupEnv(EnvSocket); ok {
		t.Fatalf("NOTIFY_SOCKET still set: %q", v)
	}
	if !Enabled() {
		t.Fatal("the master lost its socket with Unsetenv")
	}
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if got, _ := recv(t, c); got != "READY=1" {
		t.Fatalf("got %q", got)
	}

	// A process started afterwards inherits nothing and cannot notify.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GORACE=atexit_sleep_ms=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	if want := `env="" enabled=false sent=false err=<nil>`; strings.TrimSpace(string(out)) != want {
		t.Fatalf("child reports %s, want %s", out, want)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := c.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("child notified (%d bytes)", n)
	}
}

func TestFilterEnv(t *testing.T) {
	in := []string{"A=1", EnvSocket + "=/run/x", "NOTIFY_SOCKETS=keep", "B=2"}
	got := FilterEnv(in)
	if want := []string{"A=1", "NOTIFY_SOCKETS=keep", "B=2"}; !slices.Equal(got, want) {
		t.Fatalf("FilterEnv = %q, want %q", got, want)
	}
	if len(in) != 4 || in[1] != EnvSocket+"=/run/x" {
		t.Fatal("FilterEnv modified its input")
	}
}

func TestErrors(t *testing.T) {
	resetCapture(t)
	dir := t.TempDir()
	cases := []struct {
		name, addr string
		want       error
		contains   string
	}{
		{"no listener", filepath.Join(dir, "missing.sock"), syscall.ENOENT, "send to"},
		{"relative", "notify.sock", nil, "only absolute paths and @abstract names"},
		{"vsock", "vsock:2:1234", nil, "only absolute paths"},
		{"too long", "/" + strings.Repeat("x", 200), syscall.EINVAL, "send to"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvSocket, tc.addr)
			sent, err := Notify(StateReady)
			if sent || err == nil {
				t.Fatalf("Notify = (%v, %v), want an error", sent, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q lacks %q", err, tc.contains)
			}
			if err := Ready(); err == nil {
				t.Fatal("Ready hid the error")
			}
		})
	}
	// A stream socket where a datagram one is expected.
	t.Run("stream socket", func(t *testing.T) {
		path := filepath.Join(dir, "stream.sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		t.Setenv(EnvSocket, path)
		if _, err := Notify(StateReady); !errors.Is(err, syscall.EPROTOTYPE) {
			t.Fatalf("Notify to a stream socket = %v, want EPROTOTYPE", err)
		}
	})
	t.Run("no state", func(t *testing.T) {
		t.Setenv(EnvSocket, filepath.Join(dir, "x.sock"))
		if _, err := Notify(); err == nil {
			t.Fatal("Notify() succeeded")
		}
	})
}
