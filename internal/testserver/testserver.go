// Package testserver runs the real servers tests talk to (redis-server,
// nats-server, mariadbd, mosquitto, memcached...) as children of the test,
// each on a free loopback port with a directory of its own, killed by pid
// when the test ends. A missing binary skips the test, or fails it where
// the environment requires the tools (WORKERMAND_REQUIRE_TOOLS=1 in CI;
// WORKERMAND_REQUIRE_REDIS=1 for redis-server). Imported by tests only.
package testserver

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Spec says how to run one kind of server.
type Spec struct {
	// Name is the binary, looked up on PATH.
	Name string
	// Args are its arguments for a port and a directory of its own.
	Args func(port int, dir string) []string
	// Ready probes the server at addr (host:port); nil means a TCP
	// connection succeeds.
	Ready func(addr string) bool
	// StartTimeout bounds the wait for Ready (default 15 s).
	StartTimeout time.Duration
}

// Server is one running server.
type Server struct {
	t    testing.TB
	spec Spec
	bin  string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer
}

// Need returns the path of the binary name, or skips t (fails it where the
// environment requires the tools).
func Need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" || name == "redis-server" && os.Getenv("WORKERMAND_REQUIRE_REDIS") == "1" {
		t.Fatalf("%s is required here (WORKERMAND_REQUIRE_TOOLS/REDIS) but not installed: %v", name, err)
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}

// Start runs the server and waits until it is ready. A port that was free
// when picked may be taken before the server binds it: a few attempts make
// that race harmless.
func Start(t testing.TB, spec Spec) *Server {
	t.Helper()
	s := &Server{t: t, spec: spec, bin: Need(t, spec.Name), dir: t.TempDir()}
	t.Cleanup(s.Kill)
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("start %s: %v", spec.Name, err)
	return nil
}

// Redis runs redis-server without persistence, with extra arguments.
func Redis(t testing.TB, extra ...string) *Server {
	t.Helper()
	return Start(t, Spec{Name: "redis-server", Ready: RedisReady, Args: func(port int, dir string) []string {
		return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir}, extra...)
	}})
}

// NATS runs nats-server.
func NATS(t testing.TB) *Server {
	t.Helper()
	return Start(t, Spec{Name: "nats-server", Ready: NATSReady, Args: func(port int, dir string) []string {
		return []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	}})
}

// RedisReady: PING is answered with +PONG.
func RedisReady(addr string) bool {
	return probe(addr, "PING\r\n", "+PONG")
}

// NATSReady: the server sends its INFO line first.
func NATSReady(addr string) bool { return probe(addr, "", "INFO ") }

// probe writes send (if any) and wants a first line starting with want.
func probe(addr, send, want string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if send != "" {
		if _, err := c.Write([]byte(send)); err != nil {
			return false
		}
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, want)
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.spec.Args(s.port, s.dir)...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()
	ready := s.spec.Ready
	if ready == nil {
		ready = func(addr string) bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
	}
	timeout := s.spec.StartTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited: %s", s.spec.Name, out.String())
		default:
		}
		if ready(s.Addr()) {
			return nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("%s was not ready on %s within %s: %s", s.spec.Name, s.Addr(), timeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is the server's 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Dir is the server's own directory.
func (s *Server) Dir() string { return s.dir }

// Output is what the server printed so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// PID is the running server's process id (0 when killed).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill stops the server by its pid and waits for it (a paused one too).
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart kills the server and starts it again on its port after pause, as
// an operator's restart would.
func (s *Server) Restart(pause time.Duration) {
	s.t.Helper()
	s.Kill()
	time.Sleep(pause)
	s.StartAgain()
}

// StartAgain starts a killed server again on its port.
func (s *Server) StartAgain() {
	s.t.Helper()
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port in TIME_WAIT or our own socket closing
	}
	s.t.Fatalf("restart %s on %d: %v", s.spec.Name, s.port, err)
}

// Pause stops the server with SIGSTOP and waits until the kernel reports
// every thread stopped: the kernel still accepts connections and buffers
// requests, but nothing answers, which is what a hung server looks like.
// Resume undoes it.
func (s *Server) Pause() {
	s.t.Helper()
	pid := s.PID()
	if pid == 0 || syscall.Kill(pid, syscall.SIGSTOP) != nil {
		s.t.Fatalf("pause %s: not running", s.spec.Name)
	}
	tasks := fmt.Sprintf("/proc/%d/task/*/stat", pid)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stopped := true
		stats, _ := filepath.Glob(tasks)
		for _, p := range stats {
			b, err := os.ReadFile(p)
			// pid (comm) state ...: the state follows the last ')'.
			fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if err != nil || len(fields) == 0 || fields[0] != "T" {
				stopped = false
				break
			}
		}
		if stopped && len(stats) > 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pause %s: its threads did not all stop within 5 s", s.spec.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	if pid := s.PID(); pid == 0 || syscall.Kill(pid, syscall.SIGCONT) != nil {
		s.t.Fatalf("resume %s: not running", s.spec.Name)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
