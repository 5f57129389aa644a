package main_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// binary is the workermand built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "workermand-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "workermand")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var listenRE = regexp.MustCompile(`"listen": "([0-9.]+:[0-9]+)"`)

// startDaemon runs `workermand start` with args and returns the process and
// the address it reports in its start-up log line.
func startDaemon(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // only the process this test started
			_ = cmd.Wait()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return cmd, addr
	case <-time.After(10 * time.Second):
		t.Fatal("workermand did not report its listen address within 10 s")
	}
	return nil, ""
}

func TestStartServesEchoAndStopsOnSIGTERM(t *testing.T) {
	cmd, addr := startDaemon(t, "--listen", "text://127.0.0.1:0")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello\r\nwor")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ld\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for _, want := range []string{"hello\n", "world\n"} {
		got, err := r.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("workermand still running 5 s after SIGTERM")
	}
	// The open connection is closed by the shutdown.
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after the daemon stopped")
	}
}

func TestStartFrameProtocol(t *testing.T) {
	_, addr := startDaemon(t, "--listen", "frame://127.0.0.1:0", "--handler", "echo")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	frame := []byte{0, 0, 0, 7, 'a', 'b', 'c'}
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("echo = %x, %v; want %x", got, err, frame)
	}
}

func TestStartErrorsExitNonZeroWithReason(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		reason string
	}{
		{[]string{"serve", "--handler", "nope"}, 2, `unknown handler "nope"`},
		{[]string{"serve", "--options", "bogus = 1"}, 2, "unknown option(s): bogus"},
		{[]string{"serve", "--listen", "text://0.0.0.0"}, 1, "missing port"},
		{[]string{"serve", "--listen", "gopher://127.0.0.1:0"}, 1, `unknown protocol "gopher"`},
		{[]string{"serve", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	}
	for _, tc := range cases {
		cmd := exec.Command(binary, tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Errorf("%v: exit %v, want code %d", tc.args, err, tc.code)
		}
		if !bytes.Contains(stderr.Bytes(), []byte(tc.reason)) {
			t.Errorf("%v: stderr %q does not mention %q", tc.args, stderr.String(), tc.reason)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !bytes.HasPrefix(out, []byte("workermand ")) {
		t.Fatalf("version: %q, %v", out, err)
	}
}

// A busy port is an error that names the address, not a crash.
func TestStartOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(binary, "serve", "--listen", "text://"+ln.Addr().String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !bytes.Contains(stderr.Bytes(), []byte("address already in use")) {
		t.Fatalf("exit %v, stderr %q; want code 1 naming the busy address", err, stderr.String())
	}
}
