package channel_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a redis-server or nats-server of the test's own on a free
// 127.0.0.1 port, killed by pid when the test ends; restart kills it and
// starts it again on the same port, as an operator's restart would.
type server struct {
	t    testing.TB
	name string
	bin  string
	args func(port int, dir string) []string
	port int
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedBuffer
}

// needServer finds bin, or skips (fails under WORKERMAND_REQUIRE_TOOLS=1 or,
// for redis-server, WORKERMAND_REQUIRE_REDIS=1, as CI sets them).
func needServer(t testing.TB, bin string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err == nil {
		return path
	}
	if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" || (bin == "redis-server" && os.Getenv("WORKERMAND_REQUIRE_REDIS") == "1") {
		t.Fatalf("%s not found, and the environment requires it: %v", bin, err)
	}
	t.Skipf("%s not found (%v); install it to run these tests", bin, err)
	return ""
}

func startRedis(t testing.TB) *server {
	t.Helper()
	return startServer(t, "redis-server", func(port int, dir string) []string {
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir}
	})
}

func startNats(t testing.TB) *server {
	t.Helper()
	return startServer(t, "nats-server", func(port int, dir string) []string {
		return []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	})
}

func startServer(t testing.TB, name string, args func(port int, dir string) []string) *server {
	t.Helper()
	s := &server{t: t, name: name, bin: needServer(t, name), args: args, dir: t.TempDir()}
	t.Cleanup(s.kill)
	// The port is free when picked but could be taken before the server
	// binds it; a few attempts make that race harmless.
	var err error
	for range 5 {
		s.port = freePort(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("start %s: %v", name, err)
	return nil
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// url is the backend URL of the server for channel.Connect.
func (s *server) url() string {
	if s.name == "redis-server" {
		return "redis://" + s.addr()
	}
	return "nats://" + s.addr()
}

func (s *server) start() error {
	cmd := exec.Command(s.bin, s.args(s.port, s.dir)...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("%s exited: %s", s.name, out.String())
		default:
		}
		if s.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("%s did not answer within 15 s: %s", s.name, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers is one readiness probe: PING → +PONG for Redis, the INFO line
// a NATS server sends first.
func (s *server) answers() bool {
	c, err := net.DialTimeout("tcp", s.addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if s.name == "redis-server" {
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return false
		}
		line, _ := r.ReadString('\n')
		return strings.HasPrefix(line, "+PONG")
	}
	line, _ := r.ReadString('\n')
	return strings.HasPrefix(line, "INFO ")
}

// kill stops the server by its pid and waits for it.
func (s *server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// restart kills the server and starts it again on its port after pause.
func (s *server) restart(pause time.Duration) {
	s.t.Helper()
	s.kill()
	time.Sleep(pause)
	s.startAgain()
}

// startAgain starts a killed server again on its port.
func (s *server) startAgain() {
	s.t.Helper()
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port in TIME_WAIT or our own socket closing
	}
	s.t.Fatalf("restart %s on %d: %v", s.name, s.port, err)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a child's output from two pipes' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
