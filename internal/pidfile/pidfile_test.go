package pidfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test binary re-executes itself as a helper process when this variable
// names a mode; see helperMain.
const (
	helperEnv = "WORKERMAND_PIDFILE_HELPER"
	pathEnv   = "WORKERMAND_PIDFILE_PATH"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode, os.Getenv(pathEnv)))
	}
	os.Exit(m.Run())
}

// helperMain runs in a subprocess. It reports on stdout, one line per event,
// and holds whatever it got until its stdin reaches EOF (or it is killed).
//
//	hold:  Acquire, WritePID(own pid), "locked"
//	race:  "ready", wait for a line on stdin, Acquire, "won" or "lost <pid>"
//	adopt: Adopt(fd 3), WritePID(own pid), "adopted"
func helperMain(mode, path string) int {
	in := bufio.NewReader(os.Stdin)
	var l *Lock
	var err error
	switch mode {
	case "hold":
		l, err = Acquire(path)
	case "race":
		fmt.Println("ready")
		if _, err := in.ReadString('\n'); err != nil {
			return 4
		}
		l, err = Acquire(path)
		var busy ErrRunning
		if errors.As(err, &busy) {
			fmt.Printf("lost %d\n", busy.PID)
			return 0
		}
	case "adopt":
		l, err = Adopt(os.NewFile(3, "inherited-lock"), path)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 3
	}
	if err := l.WritePID(os.Getpid()); err != nil {
		fmt.Printf("error %v\n", err)
		return 3
	}
	switch mode {
	case "hold":
		fmt.Println("locked")
	case "race":
		fmt.Println("won")
	case "adopt":
		fmt.Println("adopted")
	}
	io.Copy(io.Discard, in) // hold until the parent closes stdin
	return 0
}

type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startHelper starts the test binary as a helper in mode, with extra files
// at fd 3 and up. Cleanup kills it by its pid if it still runs.
func startHelper(t *testing.T, mode, path string, extra ...*os.File) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// A race-enabled binary sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, pathEnv+"="+path, "GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = extra
	cmd.Stderr = os.Stderr
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
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill() // by pid: this very process
			cmd.Wait()
		}
	})
	return h
}

// line returns the helper's next line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	select {
	case s, ok := <-h.lines:
		if !ok {
			t.Fatalf("helper %d exited without a reply", h.cmd.Process.Pid)
		}
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("helper %d: no reply in 10s", h.cmd.Process.Pid)
	}
	return ""
}

// stop closes the helper's stdin and waits for its exit.
func (h *helper) stop(t *testing.T) {
	t.Helper()
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper %d: %v", h.cmd.Process.Pid, err)
	}
}

func pidPath(t *testing.T) string { return filepath.Join(t.TempDir(), "workermand.pid") }

func wantRunning(t *testing.T, path string, wantPID int, want bool) {
	t.Helper()
	pid, running, err := Running(path)
	if err != nil {
		t.Fatalf("Running: %v", err)
	}
	if running != want || pid != wantPID {
		t.Fatalf("Running = (pid %d, %v), want (pid %d, %v)", pid, running, wantPID, want)
	}
}

func TestAcquireWritePIDRelease(t *testing.T) {
	path := pidPath(t)
	wantRunning(t, path, 0, false)
	if _, err := os.Stat(path + LockSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Running created the lock file: %v", err)
	}

	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	wantRunning(t, path, 0, true) // locked, pid not written yet
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("pid file = %q, %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("pid file mode = %v, %v; want 0644", fi.Mode(), err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	wantRunning(t, path, os.Getpid(), true)

	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file not removed: %v", err)
	}
	if _, err := os.Stat(path + LockSuffix); err != nil {
		t.Fatalf("lock file removed (it is kept on purpose): %v", err)
	}
	wantRunning(t, path, 0, false)
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if err := l.WritePID(1); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("WritePID after Release = %v, want ErrClosed", err)
	}
	if l.File() != nil {
		t.Fatal("File after Release is not nil")
	}

	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// flock locks belong to the open file description, so a second Acquire in
// the same process fails like one in another process would.
func TestDoubleAcquireSameProcess(t *testing.T) {
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Acquire(path)
	var busy ErrRunning
	if !errors.As(err, &busy) || busy.PID != os.Getpid() {
		t.Fatalf("second Acquire = %v, want ErrRunning{PID: %d}", err, os.Getpid())
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusal took %v: an exclusive holder must be reported at once", d)
	}
	if want := fmt.Sprintf("already running (pid %d)", os.Getpid()); err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
}

func TestDoubleAcquireOtherProcess(t *testing.T) {
	path := pidPath(t)
	h := startHelper(t, "hold", path)
	if s := h.line(t); s != "locked" {
		t.Fatalf("helper: %s", s)
	}
	wantRunning(t, path, h.cmd.Process.Pid, true)

	_, err := Acquire(path)
	var busy ErrRunning
	if !errors.As(err, &busy) || busy.PID != h.cmd.Process.Pid {
		t.Fatalf("Acquire while the helper holds the lock = %v, want ErrRunning{PID: %d}", err, h.cmd.Process.Pid)
	}

	// The helper is killed, not stopped: the kernel drops its lock and its
	// pid file stays behind, stale.
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
	wantRunning(t, path, h.cmd.Process.Pid, false)
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	defer l.Release()
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	wantRunning(t, path, os.Getpid(), true)
}

func TestStalePIDFileReplaced(t *testing.T) {
	path := pidPath(t)
	// A pid that existed and is gone, and a lock file nobody holds: what a
	// master killed with SIGKILL leaves behind.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := dead.Process.Pid
	if err := os.WriteFile(path, []byte(strconv.Itoa(stale)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+LockSuffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wantRunning(t, path, stale, false)

	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire over a stale pid file: %v", err)
	}
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	wantRunning(t, path, os.Getpid(), true)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	wantRunning(t, path, 0, false)

	// Only a stale pid file, no lock file at all: same result.
	os.Remove(path + LockSuffix)
	os.WriteFile(path, []byte("garbage"), 0o644)
	wantRunning(t, path, 0, false)
	l, err = Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

func TestReleaseKeepsForeignPIDFile(t *testing.T) {
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	// Someone ignoring the lock wrote another pid: not ours to remove.
	if err := os.WriteFile(path, []byte("12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if pid, err := ReadPID(path); err != nil || pid != 12345 {
		t.Fatalf("pid file after Release = %d, %v; want it kept with 12345", pid, err)
	}
}

func TestConcurrentAcquireGoroutines(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.pid", round))
		const n = 32
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			winners atomic.Int32
			mu      sync.Mutex
			locks   []*Lock
			others  []error
		)
		for range n {
			wg.Go(func() {
				<-start
				l, err := Acquire(path)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					winners.Add(1)
					locks = append(locks, l)
					return
				}
				var busy ErrRunning
				if !errors.As(err, &busy) {
					others = append(others, err)
				}
			})
		}
		close(start)
		wg.Wait()
		for _, l := range locks {
			l.Release()
		}
		if winners.Load() != 1 || len(others) != 0 {
			t.Fatalf("round %d: %d winners of %d, unexpected errors %v", round, winners.Load(), n, others)
		}
	}
}

// Of N processes that Acquire at the same moment, exactly one wins.
func TestConcurrentAcquireProcesses(t *testing.T) {
	path := pidPath(t)
	const n = 8
	hs := make([]*helper, n)
	for i := range hs {
		hs[i] = startHelper(t, "race", path)
	}
	for _, h := range hs {
		if s := h.line(t); s != "ready" {
			t.Fatalf("helper: %s", s)
		}
	}
	for _, h := range hs {
		io.WriteString(h.stdin, "go\n")
	}
	var winner *helper
	for _, h := range hs {
		switch s := h.line(t); {
		case s == "won":
			if winner != nil {
				t.Fatalf("two winners: %d and %d", winner.cmd.Process.Pid, h.cmd.Process.Pid)
			}
			winner = h
		case strings.HasPrefix(s, "lost"):
		default:
			t.Fatalf("helper %d: %s", h.cmd.Process.Pid, s)
		}
	}
	if winner == nil {
		t.Fatal("no winner")
	}
	wantRunning(t, path, winner.cmd.Process.Pid, true)
	for _, h := range hs {
		h.stop(t)
	}
	wantRunning(t, path, winner.cmd.Process.Pid, false)
}

// Running takes a shared lock for an instant; an Acquire that meets it must
// retry, not report a master that does not exist.
func TestAcquireDuringProbes(t *testing.T) {
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var probes atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := Running(path); err != nil {
					t.Error(err)
					return
				}
				probes.Add(1)
			}
		})
	}
	for started := time.Now(); probes.Load() < 100; {
		if time.Since(started) > 5*time.Second {
			close(stop)
			wg.Wait()
			t.Fatalf("%d probes in 5 s, want 100 before acquiring", probes.Load())
		}
		time.Sleep(time.Millisecond)
	}
	// Acquire until enough of them met a probe (a few percent do).
	retries := probeRetries.Load()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; probeRetries.Load()-retries < 10 && time.Now().Before(deadline); i++ {
		l, err := Acquire(path)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("Acquire %d during probes: %v", i, err)
		}
		l.Release()
	}
	close(stop)
	wg.Wait()
	if probeRetries.Load() == retries {
		t.Fatal("no Acquire met a probe: the test proves nothing")
	}
	t.Logf("%d probes, %d retries", probes.Load(), probeRetries.Load()-retries)
}

// The start -d hand-over: the launcher Acquires and starts the daemon with
// the lock descriptor, the daemon Adopts it, the launcher closes its copy.
func TestHandOver(t *testing.T) {
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "adopt", path, l.File())
	if s := h.line(t); s != "adopted" {
		t.Fatalf("helper: %s", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	child := h.cmd.Process.Pid
	wantRunning(t, path, child, true)
	var busy ErrRunning
	if _, err := Acquire(path); !errors.As(err, &busy) || busy.PID != child {
		t.Fatalf("Acquire while the daemon holds the lock = %v, want ErrRunning{PID: %d}", err, child)
	}

	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
	wantRunning(t, path, child, false)
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after the daemon died: %v", err)
	}
	l2.Release()
}

// Adopt refuses a descriptor that is not the lock file, or whose open file
// description does not hold the lock while another does.
func TestAdoptRefuses(t *testing.T) {
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}

	other, err := os.Open(path) // the pid file, not the lock file
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := Adopt(other, path); err == nil || !strings.Contains(err.Error(), "is not the lock file") {
		t.Fatalf("Adopt(pid file) = %v", err)
	}

	// The right file, but a fresh open file description: it holds nothing,
	// and l holds the lock.
	fresh, err := os.Open(path + LockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	var busy ErrRunning
	if _, err := Adopt(fresh, path); !errors.As(err, &busy) || busy.PID != os.Getpid() {
		t.Fatalf("Adopt(unlocked description) = %v, want a wrapped ErrRunning", err)
	}
	if _, err := Adopt(nil, path); err == nil {
		t.Fatal("Adopt(nil) succeeded")
	}
}

// A lock file deleted by hand under a holder cannot be defended (the next
// Acquire creates a new inode and wins: the documented limit), but Acquire
// never reports success on an inode the path no longer names.
func TestAcquireRechecksInode(t *testing.T) {
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	fi, _ := l.File().Stat()
	os.Remove(path + LockSuffix)
	l2, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Release()
	fi2, _ := l2.File().Stat()
	pi, err := os.Stat(path + LockSuffix)
	if err != nil || !os.SameFile(fi2, pi) || os.SameFile(fi, fi2) {
		t.Fatal("second Acquire locked an inode the path does not name")
	}
}

func TestLockFileModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	path := pidPath(t)
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + LockSuffix} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("%s mode = %v, %v; want 0644", p, fi.Mode(), err)
		}
	}
}

func TestErrors(t *testing.T) {
	_, err := Acquire(filepath.Join(t.TempDir(), "missing-dir", "x.pid"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "x.pid.lock") {
		t.Fatalf("Acquire in a missing directory = %v", err)
	}
	if got := (ErrRunning{}).Error(); got != "already running" {
		t.Fatalf("ErrRunning{}.Error() = %q", got)
	}
	l, err := Acquire(pidPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.WritePID(0); err == nil {
		t.Fatal("WritePID(0) succeeded")
	}
}
