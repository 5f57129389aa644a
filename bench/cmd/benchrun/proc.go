package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tail keeps the last bytes written to it, so a failing child's output can
// be shown without storing or printing everything it ever logged.
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

// pinned returns a command that runs argv on the given CPU via taskset, so
// the pid we get is the program's own (taskset execs in place).
func pinned(ctx context.Context, cpu int, argv []string, env []string) *exec.Cmd {
	args := append([]string{"-c", fmt.Sprint(cpu)}, argv...)
	cmd := exec.CommandContext(ctx, "taskset", args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// child is a running server.
type child struct {
	addr   string // where it listens
	cmd    *exec.Cmd
	out    *tail
	exited chan struct{} // closed once the process has been reaped
	err    error         // Wait's result, valid after exited is closed
}

func (p *child) pid() int { return p.cmd.Process.Pid }

// startServer starts argv pinned to cpu in its own process group (so
// workers it may fork can be swept up later) and waits until addr accepts.
func startServer(cpu int, argv, env []string, addr string) (*child, error) {
	p := &child{addr: addr, out: &tail{}, exited: make(chan struct{})}
	p.cmd = pinned(context.Background(), cpu, argv, env)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before accepting (%v): %s", argv[0], p.err, p.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not accepting on %s after 10s: %w; output: %s", argv[0], addr, err, p.out)
		}
	}
}

// stop sends SIGTERM, then SIGKILL to the whole group after 3 s, and
// finally sweeps the group in case the server left forked workers behind.
func (p *child) stop() {
	pid := p.pid()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH when nothing is left
}

// alive reports an error if the server has already exited.
func (p *child) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("server exited (%v): %s", p.err, p.out)
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

// runLoad runs the load generator pinned to cpu and calls onEvent for each
// event line (START, END, CONNECTED n) as it arrives, with cancel ending
// the generator early (SIGTERM: it still prints its result). It returns the
// RESULT payload.
func runLoad(ctx context.Context, cpu int, argv []string, onEvent func(line string, cancel func()) error) (string, error) {
	cmd := pinned(ctx, cpu, argv, nil)
	// On timeout, ask politely first; WaitDelay then kills.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	errOut := &tail{}
	cmd.Stderr = errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("loadgen stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start loadgen: %w", err)
	}
	cancel := func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
	var result string
	var evErr error
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			result = r
			continue
		}
		if evErr == nil {
			if evErr = onEvent(line, cancel); evErr != nil {
				cancel()
			}
		}
	}
	_, _ = io.Copy(io.Discard, stdout) // drain on a scanner error so Wait does not block
	werr := cmd.Wait()
	switch {
	case evErr != nil:
		return "", evErr
	case ctx.Err() != nil:
		return "", fmt.Errorf("loadgen stopped: %w: %s", ctx.Err(), errOut)
	case werr != nil:
		return "", fmt.Errorf("loadgen: %w: %s", werr, errOut)
	case result == "":
		return "", fmt.Errorf("loadgen printed no result: %s", errOut)
	}
	return result, nil
}
