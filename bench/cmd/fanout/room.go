package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/fanout"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsload"
)

// room is one server with its client processes and the trigger
// connection, held for the whole run.
type room struct {
	b     *bench
	srv   *runner.Server
	loads []*client
	trig  net.Conn
	trigR *bufio.Reader
	seq   uint64
	frame []byte
	buf   []byte
}

// client is one fanoutload process.
type client struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its stdout, closed at EOF
	out   *runner.Tail
	conns int
}

// open starts server s pinned, its client processes pinned to the load
// CPU, and the trigger connection, then warms the room up.
func (b *bench) open(ctx context.Context, s string) (*room, error) {
	srv, err := runner.Launch(s, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, s, addr)
	})
	if err != nil {
		return nil, err
	}
	r := &room{b: b, srv: srv}
	for left := b.conns; left > 0; left -= b.perProc {
		n := min(left, b.perProc)
		c, err := startClient(ctx, b.LoadCPU, []string{b.self, "fanoutload", "-addr", srv.Addr, "-conns", strconv.Itoa(n), "-size", strconv.Itoa(b.size)}, n)
		if err != nil {
			r.close()
			return nil, err
		}
		r.loads = append(r.loads, c)
	}
	began := time.Now()
	for _, c := range r.loads {
		line, err := c.next(ctx, 3*time.Minute)
		if err != nil || line != fmt.Sprintf("READY %d", c.conns) {
			r.close()
			return nil, fmt.Errorf("client process: %q, %v: %s", line, err, c.out)
		}
	}
	if r.trig, err = wsload.Dial(srv.Addr, 10*time.Second); err != nil {
		r.close()
		return nil, fmt.Errorf("trigger: %w", err)
	}
	r.trigR = bufio.NewReaderSize(r.trig, 256)
	runner.Logf("%-16s %d connections open in %s", s, b.conns+1, time.Since(began).Round(time.Millisecond))
	for range b.warm {
		if _, err := r.broadcast(ctx); err != nil {
			r.close()
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	return r, nil
}

func startClient(ctx context.Context, cpu int, argv []string, n int) (*client, error) {
	// cpu < 0: unpinned (the processes mode spreads over every core).
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if cpu >= 0 {
		cmd = runner.Pinned(ctx, cpu, argv, nil)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c := &client{cmd: cmd, lines: make(chan string, 16), out: &runner.Tail{}, conns: n}
	cmd.Stderr = c.out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("client stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("client stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start client: %w", err)
	}
	c.stdin = stdin
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

// errNoWord is next's timeout.
var errNoWord = errors.New("no word from the client process")

// next is the client's next line, within timeout.
func (c *client) next(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			return "", errors.New("client process exited")
		}
		return line, nil
	case <-t.C:
		return "", fmt.Errorf("%w in %s", errNoWord, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// broadcast sends the next message through the trigger and returns the
// time from its write until the last client process had it on all its
// connections (their CLOCK_MONOTONIC readings against ours).
func (r *room) broadcast(ctx context.Context) (time.Duration, error) {
	r.seq++
	p := fanout.Payload(r.seq, r.b.size)
	var key [4]byte
	_, _ = rand.Read(key[:])
	r.frame = wsload.AppendFrame(r.frame[:0], wsload.OpText, p, key)
	t0 := fanout.Mono()
	if _, err := r.trig.Write(r.frame); err != nil {
		return 0, fmt.Errorf("trigger write: %w", err)
	}
	last := t0
	for _, c := range r.loads {
		line, err := c.next(ctx, 30*time.Second)
		if err != nil {
			return 0, fmt.Errorf("broadcast %d: %w: %s", r.seq, err, c.out)
		}
		at, err := gotAt(line, r.seq)
		if err != nil {
			return 0, err
		}
		last = max(last, at)
	}
	buf, err := checkTriggerCopy(r.trig, r.trigR, r.buf, p, r.seq)
	r.buf = buf
	if err != nil {
		return 0, err
	}
	return time.Duration(last - t0), nil
}

// clientTicks is the CPU time of the room's client processes.
func (r *room) clientTicks() (int64, error) {
	var sum int64
	for _, c := range r.loads {
		t, err := proc.CPUTicks(c.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// close ends the trigger, the client processes (stdin closed, then
// SIGKILL to the group of each pid this driver started after 3 s) and the
// server.
func (r *room) close() {
	r.closeClients()
	r.srv.Stop()
}

// closeClients ends the trigger and the client processes.
func (r *room) closeClients() {
	if r.trig != nil {
		r.trig.Close()
	}
	for _, c := range r.loads {
		c.stdin.Close()
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// gotAt reads a client process's report that its last connection got
// broadcast seq ("GOT <seq> <monotonic ns>") and returns the time.
func gotAt(line string, seq uint64) (int64, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "GOT" || f[1] != strconv.FormatUint(seq, 10) {
		return 0, fmt.Errorf("broadcast %d: client process said %q", seq, line)
	}
	at, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("broadcast %d: client process said %q", seq, line)
	}
	return at, nil
}

// checkTriggerCopy reads the trigger connection's own copy of broadcast
// seq and checks it is p; it returns buf for the next read.
func checkTriggerCopy(trig net.Conn, trigR *bufio.Reader, buf, p []byte, seq uint64) ([]byte, error) {
	_ = trig.SetReadDeadline(time.Now().Add(10 * time.Second))
	op, _, got, err := wsload.ReadFrame(trigR, buf)
	if err != nil {
		return buf, fmt.Errorf("broadcast %d: the trigger's copy: %w", seq, err)
	}
	if op != wsload.OpText || string(got) != string(p) {
		return got[:0], fmt.Errorf("broadcast %d: the trigger's copy differs", seq)
	}
	return got[:0], nil
}
