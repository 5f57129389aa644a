package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tail keeps the last bytes written to it, so a failing child's output can
// be shown without storing everything it ever logged.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// pinned returns a command running argv on cpu under taskset, which execs
// in place: the pid is the program's own, so /proc readings and signals
// reach it directly.
func pinned(ctx context.Context, cpu int, argv, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", fmt.Sprint(cpu)}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// server is a running server process.
type server struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	out    *tail
	exited chan struct{} // closed once the process has been reaped
	err    error         // Wait's result, valid after exited is closed
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// startServer starts argv pinned to cpu in its own process group (so any
// workers it forks, like nginx's, can be swept up by the group) and waits
// up to 10 s for addr to accept.
func startServer(name string, cpu int, argv, env []string, addr string) (*server, error) {
	s := &server{name: name, addr: addr, out: &tail{}, exited: make(chan struct{})}
	s.cmd = pinned(context.Background(), cpu, argv, env)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before accepting (%v): %s", argv[0], s.err, s.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not accepting on %s after 10s: %w; output: %s", argv[0], addr, err, s.out)
		}
	}
}

// stop sends SIGTERM to the pid it started, SIGKILL to its group after
// 3 s, and finally sweeps the group for anything the server left behind.
// The group is the one Setpgid made for this server alone.
func (s *server) stop() {
	pid := s.pid()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH when nothing is left
}

// alive reports an error if the server has already exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("server exited (%v): %s", s.err, s.out)
	default:
		return nil
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// wrkRun is one finished wrk process.
type wrkRun struct {
	stdout string
	cpu    time.Duration // wrk's own user+system time
}

// runWrk runs wrk pinned to cpu and bounded by ctx: on expiry wrk gets
// SIGTERM, and SIGKILL 3 s later if it is still there.
func runWrk(ctx context.Context, cpu int, argv []string) (wrkRun, error) {
	cmd := pinned(ctx, cpu, argv, nil)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	var stdout bytes.Buffer
	stderr := &tail{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	var r wrkRun
	r.stdout = stdout.String()
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("wrk stopped: %w: %s", ctx.Err(), stderr)
	case err != nil:
		return r, fmt.Errorf("wrk: %w: %s %s", err, stderr, strings.TrimSpace(r.stdout))
	}
	return r, nil
}

// raiseNoFile lifts the open-files soft limit to the hard limit. Calling
// Setrlimit explicitly also makes Go pass the raised limit on to the
// processes it starts (it otherwise restores the original one in
// children), which nginx and wrk need for 1000 connections each.
func raiseNoFile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("setrlimit nofile %d: %w", l.Max, err)
	}
	return l.Cur, nil
}

// execOutput runs a short informational command (a version query) with a
// time bound and returns its combined output.
func execOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// coreTicks returns the busy and total clock ticks of the given CPUs so
// far, from /proc/stat, to tell how much else ran on the benchmark's cores.
func coreTicks(cpus ...int) (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	found := 0
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || !slices.Contains(cpus, n) {
			continue
		}
		found++
		// user nice system idle iowait irq softirq steal; guest time is
		// already inside user.
		var sum, idle int64
		for i := 1; i <= 8; i++ {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse /proc/stat %s: %w", f[0], err)
			}
			sum += v
			if i == 4 || i == 5 {
				idle += v
			}
		}
		busy += sum - idle
		total += sum
	}
	if found != len(cpus) {
		return 0, 0, fmt.Errorf("/proc/stat lists %d of CPUs %v", found, cpus)
	}
	return busy, total, nil
}
