// Package runner holds what the benchmark drivers share: their main and
// flags, starting pinned server and generator processes (and a daemon of
// their own) and stopping exactly what they started, reading a server's
// CPU and the cores' busy time around a measured window, and rendering
// medians and ratios as Markdown tables.
package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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

// Tail keeps the last bytes written to it, so a failing child's output can
// be shown without storing or printing everything it ever logged.
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// Pinned returns a command running argv on cpu under taskset, which execs
// in place: the pid is the program's own, so /proc readings and signals
// reach it directly.
func Pinned(ctx context.Context, cpu int, argv, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", strconv.Itoa(cpu)}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Server is a running server process.
type Server struct {
	Name   string
	Addr   string // where it listens
	Cmd    *exec.Cmd
	Out    *Tail
	Grace  time.Duration // between Stop's SIGTERM and its SIGKILL; 3 s unless set
	exited chan struct{} // closed once the process has been reaped
	err    error         // Wait's result, valid after exited is closed
}

// Pid is the pid of the process StartServer started.
func (s *Server) Pid() int { return s.Cmd.Process.Pid }

// StartServer starts argv pinned to cpu (see Start).
func StartServer(name string, cpu int, argv, env []string, addr string) (*Server, error) {
	return Start(name, Pinned(context.Background(), cpu, argv, env), addr)
}

// Start starts cmd in its own process group (so workers it may fork can be
// swept up with it) and waits up to 10 s for addr to accept. Its output
// goes to Out, and to cmd's own Stdout and Stderr where set.
func Start(name string, cmd *exec.Cmd, addr string) (*Server, error) {
	return startProbed(name, cmd, addr, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// StartUDP is Start for a datagram echo server on the UDP address addr: it
// waits until a datagram sent there comes back, since UDP has no accept
// to see.
func StartUDP(name string, cmd *exec.Cmd, addr string) (*Server, error) {
	return startProbed(name, cmd, addr, func() error { return probeUDP(addr) })
}

// probeUDP sends one datagram to addr and waits 200 ms for any answer.
func probeUDP(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("probe\n")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 64))
	return err
}

// startProbed starts cmd as Start says, until probe succeeds.
func startProbed(name string, cmd *exec.Cmd, addr string, probe func() error) (*Server, error) {
	s := &Server{Name: name, Addr: addr, Cmd: cmd, Out: &Tail{}, exited: make(chan struct{})}
	s.Cmd.Stdout, s.Cmd.Stderr = teeTo(s.Cmd.Stdout, s.Out), teeTo(s.Cmd.Stderr, s.Out)
	s.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	argv0 := name
	if err := s.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv0, err)
	}
	go func() { s.err = s.Cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		err := probe()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before accepting (%v): %s", argv0, s.err, s.Out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s not accepting on %s after 10s: %w; output: %s", argv0, addr, err, s.Out)
		}
	}
}

func teeTo(w io.Writer, t *Tail) io.Writer {
	if w == nil {
		return t
	}
	return io.MultiWriter(w, t)
}

// Stop sends SIGTERM to the pid it started, SIGKILL to its group after
// the grace, and finally sweeps the group for anything the server left
// behind. The group is the one Setpgid made for this server alone.
func (s *Server) Stop() {
	pid := s.Pid()
	grace := s.Grace
	if grace == 0 {
		grace = 3 * time.Second
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH when nothing is left
}

// Alive reports an error if the server has already exited.
func (s *Server) Alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("server exited (%v): %s", s.err, s.Out)
	default:
		return nil
	}
}

// FreeUDPAddr returns a loopback address whose UDP port was free a moment
// ago.
func FreeUDPAddr() (string, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", fmt.Errorf("find free udp port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// RunLoad runs a generator pinned to cpu that speaks the loadgen event
// protocol (START, END, CONNECTED n lines, then "RESULT <json>"), calls
// onEvent for each event line as it arrives, with cancel ending the
// generator early (SIGTERM: it still prints its result), and returns the
// RESULT payload.
func RunLoad(ctx context.Context, cpu int, argv []string, onEvent func(line string, cancel func()) error) (string, error) {
	cmd := Pinned(ctx, cpu, argv, nil)
	// On timeout, ask politely first; WaitDelay then kills.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	errOut := &Tail{}
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

// RaiseNoFile lifts the open-files soft limit to the hard limit. Calling
// Setrlimit explicitly also makes Go pass the raised limit on to the
// processes it starts (it otherwise restores the original one in
// children), which servers and generators holding thousands of
// connections need.
func RaiseNoFile() (uint64, error) {
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

// CoreTicks returns the busy and total clock ticks of the given CPUs so
// far, from /proc/stat, to tell how much else ran on the benchmark's cores.
func CoreTicks(cpus ...int) (busy, total int64, err error) {
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

// quietBusy is how busy (in % of one core, all given cores together) the
// benchmark's cores may be, with neither server nor generator working,
// for the machine to count as quiet.
const quietBusy = 15

// WaitQuiet waits, up to limit, for half a second in which the given
// cores are nearly idle, so a test does not start in the middle of another
// tenant's burst (a build, a test run). It only delays, and says when it
// gave up: the "other CPU" figures still report what happened during the
// measurement.
func WaitQuiet(ctx context.Context, limit time.Duration, clkTck int64, cpus ...int) {
	if limit <= 0 {
		return
	}
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil {
		c0, _, err := CoreTicks(cpus...)
		if err != nil {
			return
		}
		began := time.Now()
		SleepCtx(ctx, 500*time.Millisecond)
		c1, _, err := CoreTicks(cpus...)
		if err != nil {
			return
		}
		busy := 100 * float64(c1-c0) / float64(clkTck) / time.Since(began).Seconds()
		if busy < quietBusy {
			return
		}
		if time.Now().After(deadline) {
			Logf("cores still %.0f%% busy with other work after %s; measuring anyway", busy, limit)
			return
		}
	}
}

// SleepCtx sleeps for d or until ctx is done.
func SleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Row writes one Markdown table row.
func Row(sb *strings.Builder, cells []string) {
	sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// Num formats v, showing n/a for a missing (NaN) or infinite value.
func Num(format string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// Median returns the median of xs, or NaN if there are none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	n := len(s)
	return (s[n/2-1] + s[n/2]) / 2
}

// CPUModel is the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// HoldIdle runs an idle-mode load generator (argv) on cpu. Once it reports
// its connections open ("CONNECTED n"), HoldIdle waits settle, calls read
// (a reading of the server, such as its RSS) and lets the generator end.
// It returns the generator's RESULT, the connections it opened and what
// read returned.
func HoldIdle(ctx context.Context, cpu int, argv []string, settle time.Duration, read func() (int64, error)) (result string, connected int, value int64, err error) {
	value = -1
	result, err = RunLoad(ctx, cpu, argv, func(ev string, release func()) error {
		n, ok := strings.CutPrefix(ev, "CONNECTED ")
		if !ok {
			return nil
		}
		var err error
		if connected, err = strconv.Atoi(n); err != nil {
			return fmt.Errorf("bad event %q: %w", ev, err)
		}
		SleepCtx(ctx, settle)
		value, err = read()
		release()
		return err
	})
	if err == nil && (value < 0 || connected == 0) {
		err = errors.New("the generator never reported its connections")
	}
	return result, connected, value, err
}
