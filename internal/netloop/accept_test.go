//go:build linux

package netloop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// TestAcceptBatch: with AcceptBatch 4 and 100 connections already waiting
// when the loop starts, every connection is accepted and works, but no loop
// turn accepts more than 4: the rest of a burst waits for later turns (or,
// with a shared socket, for sibling processes).
func TestAcceptBatch(t *testing.T) {
	const burst, batch = 100, 4
	tl := newTestLoop(t, Config{AcceptBatch: batch})
	l := tl.loop

	// turn counts finished loop turns: a timer due at every turn fires once
	// per turn, after that turn's I/O.
	turn := 0
	type opened struct {
		turn     int
		accepted uint64
	}
	var opens []opened
	h := &handler{
		open:    func(*Conn) { opens = append(opens, opened{turn, l.Stats().Accepted}) },
		message: echo,
	}
	_, addr := tl.listen(lookup(t, "text"), h, ListenerConfig{})
	clients := make([]*client, burst)
	for i := range clients {
		clients[i] = dial(t, addr) // the kernel completes the handshake; nobody accepts yet
	}
	l.AddTimer(time.Nanosecond, true, func() { turn++ })
	tl.run()

	tl.waitStats("every pending connection to be accepted", func(s Stats) bool { return s.Accepted == burst })
	tl.do(func() {
		if len(opens) != burst {
			t.Fatalf("OnOpen ran %d times for %d connections", len(opens), burst)
		}
		perTurn := map[int]int{}
		for i, o := range opens {
			if o.accepted != uint64(i+1) {
				t.Errorf("OnOpen #%d saw Stats().Accepted = %d", i+1, o.accepted)
			}
			perTurn[o.turn]++
		}
		most := 0
		for tn, n := range perTurn {
			if n > batch {
				t.Errorf("turn %d accepted %d connections, more than AcceptBatch %d", tn, n, batch)
			}
			most = max(most, n)
		}
		if most != batch {
			t.Errorf("no turn accepted a full batch of %d (most: %d) although %d connections were waiting", batch, most, burst)
		}
		if len(perTurn) < burst/batch {
			t.Errorf("%d connections accepted in %d turns, want at least %d", burst, len(perTurn), burst/batch)
		}
	})
	for i, c := range clients {
		c.roundTrip("conn " + itoa(i))
	}
}

// TestSharedListenerTwoLoops: two loops share one listening socket (a
// duplicated descriptor registered Shared, as sibling processes would); when
// the first is slow in OnOpen the second takes part of a burst, and every
// connection is accepted once and works.
func TestSharedListenerTwoLoops(t *testing.T) {
	const burst = 200
	fd1, err := sockets.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	fd2, err := unix.FcntlInt(uintptr(fd1), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd1)
		t.Fatalf("dup: %v", err)
	}
	var slowOpens, fastOpens atomic.Int64
	slow := newTestLoop(t, Config{AcceptBatch: 4})
	_, addr := slow.addListener(fd1, lookup(t, "text"), &handler{
		open: func(*Conn) {
			slowOpens.Add(1)
			for end := time.Now().Add(2 * time.Millisecond); time.Now().Before(end); {
			}
		},
		message: echo,
	}, ListenerConfig{Shared: true})
	fast := newTestLoop(t, Config{AcceptBatch: 4})
	fast.addListener(fd2, lookup(t, "text"), &handler{
		open:    func(*Conn) { fastOpens.Add(1) },
		message: echo,
	}, ListenerConfig{Shared: true})
	slow.run()
	fast.run()
	slow.do(func() {})
	fast.do(func() {})

	// Keep the fast loop busy as the burst starts, so the slow one surely
	// gets its share first, however the scheduler treats the two threads;
	// after that, the fast loop must pick up what the slow one leaves.
	fast.loop.Post(func() {
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		}
	})
	conns := make([]net.Conn, burst)
	errs := make([]error, burst)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < burst; i += 8 {
				conns[i], errs[i] = net.DialTimeout("tcp", addr, ioTimeout)
			}
		})
	}
	wg.Wait()
	clients := make([]*client, burst)
	for i, c := range conns {
		if errs[i] != nil {
			t.Fatalf("dial #%d: %v", i, errs[i])
		}
		clients[i] = wrapClient(t, c)
	}
	waitFor(t, "both loops together to accept the burst", func() bool { return slowOpens.Load()+fastOpens.Load() == burst })
	s1, s2 := slow.stats(), fast.stats()
	t.Logf("slow loop accepted %d, fast loop %d", s1.Accepted, s2.Accepted)
	if s1.Accepted == 0 || s2.Accepted == 0 || s1.Accepted+s2.Accepted != burst {
		t.Errorf("accepted %d + %d of %d connections; want both loops to take part", s1.Accepted, s2.Accepted, burst)
	}
	for i, c := range clients {
		c.roundTrip("conn " + itoa(i))
	}
}

// emfileHelperEnv runs TestHelperEMFILE as the child of TestAcceptEMFILE;
// emfileLogEnv names the file it logs to, as JSON lines.
const (
	emfileHelperEnv = "NETLOOP_TEST_EMFILE_HELPER"
	emfileLogEnv    = "NETLOOP_TEST_EMFILE_LOG"
)

// TestHelperEMFILE is the child process of TestAcceptEMFILE: an echo server
// with a small descriptor limit. It prints "PORT <n>", answers "STATS" with
// its counters and exits when its stdin closes.
func TestHelperEMFILE(t *testing.T) {
	if os.Getenv(emfileHelperEnv) != "1" {
		t.Skip("helper process of TestAcceptEMFILE")
	}
	logFile, err := os.OpenFile(os.Getenv(emfileLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logFile), zap.DebugLevel))
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = uint64(max(64, len(entries)+40))
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}

	l, err := New(Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := &handler{message: func(c *Conn, m codec.Message) {
		if string(m.Data) == "STATS" {
			s := l.Stats()
			c.Send(fmt.Appendf(nil, "STATS %d %d %d", s.Accepted, s.AcceptPauses, s.Connections))
			return
		}
		echo(c, m)
	}}
	fd, err := sockets.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := codec.Lookup("text")
	ln, err := l.AddListener(fd, ListenerConfig{Protocol: text, NewConn: func() *Conn {
		c := &Conn{}
		c.SetHandler(h)
		return c
	}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PORT %d\n", ln.Addr().Port())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		l.Stop()
	}()
	stop := time.AfterFunc(2*time.Minute, l.Stop) // the parent vanished without closing stdin
	defer stop.Stop()
	if err := l.Run(); err != nil {
		t.Fatal(err)
	}
}

// acceptLogLines returns the helper's "accept paused" and "accept resumed"
// log lines, decoded.
func acceptLogLines(t *testing.T, path string) (paused, resumed []map[string]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(data) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("helper log line %q: %v", line, err)
		}
		switch m["msg"] {
		case "accept paused: out of resources":
			paused = append(paused, m)
		case "accept resumed":
			resumed = append(resumed, m)
		}
	}
	return paused, resumed
}

// TestAcceptEMFILE: a server out of file descriptors keeps running and
// serving its connections, reports the accept pauses, does not spin while
// connections wait, and accepts the waiting connections once descriptors
// are free again. It logs the shortage once when it starts and once, with
// the number of pauses and their length, when it ends, not once per retry.
// The server runs in a child process whose descriptor limit is lowered.
func TestAcceptEMFILE(t *testing.T) {
	const extra = 100
	logPath := filepath.Join(t.TempDir(), "helper.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEMFILE$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), emfileHelperEnv+"=1", emfileLogEnv+"="+logPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	lines := make(chan string, 16)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		exited <- cmd.Wait() // after every read from stdout, as os/exec wants
	}()
	waited := false
	var exitErr error
	t.Cleanup(func() {
		if !waited {
			stdin.Close()
			select {
			case exitErr = <-exited:
			case <-time.After(stopTimeout):
				t.Errorf("helper %d did not exit; killing it", pid)
				_ = cmd.Process.Kill() // our own child, by pid
				exitErr = <-exited
			}
		}
		if t.Failed() {
			t.Logf("helper exit: %v; stderr:\n%s", exitErr, stderr.String())
		}
	})

	var port string
	deadline := time.After(30 * time.Second)
	for port == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helper exited before printing its port")
			}
			port, _ = strings.CutPrefix(line, "PORT ")
		case <-deadline:
			t.Fatalf("helper printed no port within 30s")
		}
	}
	addr := "127.0.0.1:" + port

	ctrl := dial(t, addr)
	query := func() (accepted, pauses, conns int) {
		t.Helper()
		ctrl.write("STATS\n")
		f := strings.Fields(ctrl.line())
		if len(f) != 4 || f[0] != "STATS" {
			t.Fatalf("bad STATS reply %q", f)
		}
		accepted, _ = strconv.Atoi(f[1])
		pauses, _ = strconv.Atoi(f[2])
		conns, _ = strconv.Atoi(f[3])
		return
	}
	ctrl.roundTrip("hello")

	// Saturate: more connections than the child has descriptors for. The
	// kernel completes every handshake; the child cannot accept them all.
	extras := make([]*client, extra)
	for i := range extras {
		extras[i] = dial(t, addr)
	}
	var accepted, pauses, conns int
	waitFor(t, "the child to report an accept pause", func() bool {
		accepted, pauses, conns = query()
		return pauses > 0
	})
	t.Logf("saturated: accepted %d, pauses %d, connections %d", accepted, pauses, conns)
	if accepted > extra*8/10 {
		t.Fatalf("child accepted %d of %d connections: its descriptor limit is not what this test needs", accepted, extra+1)
	}
	ctrl.roundTrip("still serving")
	extras[0].roundTrip("accepted before the limit")

	// No spinning: CPU time over one second of saturation.
	cpu0, wall0 := procCPU(t, pid), time.Now()
	time.Sleep(time.Second) // a measurement window, not a wait for a condition
	cpu1, wall := procCPU(t, pid), time.Since(wall0)
	accepted2, pauses2, _ := query()
	if share := (cpu1 - cpu0).Seconds() / wall.Seconds(); share > 0.30 {
		t.Errorf("child used %.0f%% of a core while saturated (%v CPU in %v): accept is spinning", 100*share, cpu1-cpu0, wall)
	} else {
		t.Logf("child used %.1f%% of a core while saturated", 100*share)
	}
	if accepted2 != accepted || pauses2 <= pauses {
		t.Errorf("over the measurement window accepted went %d→%d and pauses %d→%d; want no accepts and repeated retries",
			accepted, accepted2, pauses, pauses2)
	}
	if paused, resumed := acceptLogLines(t, logPath); len(paused) != 1 || len(resumed) != 0 {
		t.Errorf("after %d pauses the log has %d \"accept paused\" and %d \"accept resumed\" lines; want 1 and 0",
			pauses2, len(paused), len(resumed))
	}

	// Free descriptors: the connections still waiting get accepted and echo.
	for _, c := range extras[:extra*8/10] {
		c.Close()
	}
	for i, c := range extras[extra*8/10:] {
		c.roundTrip("waited " + itoa(i))
	}
	waitFor(t, "every connection to be accepted", func() bool {
		accepted, pauses, _ = query()
		return accepted == extra+1
	})
	paused, resumed := acceptLogLines(t, logPath)
	if len(paused) != 1 || len(resumed) != 1 {
		t.Fatalf("after the shortage the log has %d \"accept paused\" and %d \"accept resumed\" lines; want 1 and 1",
			len(paused), len(resumed))
	}
	if n, _ := resumed[0]["pauses"].(float64); int(n) != pauses {
		t.Errorf("\"accept resumed\" reports %v pauses; the counter says %d", resumed[0]["pauses"], pauses)
	}
	// The shortage outlasted the one-second measurement window above.
	if d, _ := resumed[0]["paused_for"].(float64); d < 1 {
		t.Errorf("\"accept resumed\" reports paused_for %v; the shortage lasted over a second", resumed[0]["paused_for"])
	}

	stdin.Close()
	select {
	case exitErr = <-exited:
		waited = true
	case <-time.After(stopTimeout):
		t.Fatalf("helper did not exit after its stdin closed")
	}
	if exitErr != nil {
		t.Errorf("helper exited with %v", exitErr)
	}
}

// procCPU is the user+system CPU time of process pid, from /proc/<pid>/stat
// (utime and stime, fields 14 and 15, in USER_HZ = 100 ticks per second).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("child %d is gone: %v", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		t.Fatalf("short /proc/%d/stat: %q", pid, b)
	}
	if f[0] == "Z" {
		t.Fatalf("child %d is a zombie", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad /proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}

// TestAcceptPauseSurvivesDelAllTimers: a listener paused for lack of
// descriptors resumes after AcceptPause even if user code cancels all its
// timers meanwhile (Workerman's Timer::delAll): it must not stay deaf.
func TestAcceptPauseSurvivesDelAllTimers(t *testing.T) {
	tl, ln, addr := startLoop(t, Config{AcceptPause: 20 * time.Millisecond}, "text", echoHandler(), ListenerConfig{})
	tl.do(func() {
		ln.pauseAccept(unix.EMFILE) // what accept does on EMFILE
		tl.loop.DelAllTimers()
	})
	c := dial(t, addr)
	c.roundTrip("accepted after the pause")
	if s := tl.stats(); s.AcceptPauses != 1 || s.Accepted != 1 {
		t.Errorf("AcceptPauses = %d, Accepted = %d; want 1, 1", s.AcceptPauses, s.Accepted)
	}
}
