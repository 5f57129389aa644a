package session_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/http/session"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// Generous bounds: the tests run on a small, noisy machine under -race.
const waitTimeout = 15 * time.Second

// startProcess runs a Process with the given workers (a tcp:// one when
// none) and stops it when the test ends.
func startProcess(t testing.TB, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	if len(workers) == 0 {
		workers = []*workerman.Worker{workerman.NewWorker("tcp://127.0.0.1:0")}
	}
	return workermantest.Start(t, workers...)
}

// startLoop is the loop of a process serving nothing in particular.
func startLoop(t *testing.T) *workerman.EventLoop {
	t.Helper()
	return startProcess(t).Loop()
}

// open runs Manager.Open on the loop and returns its results.
func open(t *testing.T, loop *workerman.EventLoop, m *session.Manager, id string) *session.Session {
	t.Helper()
	var (
		s   *session.Session
		err error
	)
	workermantest.OnLoopAsync(t, loop, func(finish func()) {
		m.Open(loop, id, func(ss *session.Session, e error) { s, err = ss, e; finish() })
	})
	if err != nil {
		t.Fatalf("Open(%.12q): %v", id, err)
	}
	return s
}

// save runs Session.Save on the loop, with fn run first on the loop to
// change the session.
func save(t *testing.T, loop *workerman.EventLoop, s *session.Session, fn func(s *session.Session)) *http.Cookie {
	t.Helper()
	cookie, err := trySave(t, loop, s, fn)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	return cookie
}

func trySave(t *testing.T, loop *workerman.EventLoop, s *session.Session, fn func(s *session.Session)) (cookie *http.Cookie, err error) {
	t.Helper()
	workermantest.OnLoopAsync(t, loop, func(finish func()) {
		if fn != nil {
			fn(s)
		}
		s.Save(loop, func(c *http.Cookie, e error) {
			cookie, err = c, e
			finish()
		})
	})
	return cookie, err
}

// countingStore counts the calls that reach a real store.
type countingStore struct {
	session.Store
	loads, saves, deletes, gcs atomic.Int32
}

func (s *countingStore) Load(ctx context.Context, id string) ([]byte, error) {
	s.loads.Add(1)
	return s.Store.Load(ctx, id)
}

func (s *countingStore) Save(ctx context.Context, id string, b []byte, d time.Duration) error {
	s.saves.Add(1)
	return s.Store.Save(ctx, id, b, d)
}

func (s *countingStore) Delete(ctx context.Context, id string) error {
	s.deletes.Add(1)
	return s.Store.Delete(ctx, id)
}

func (s *countingStore) GC(ctx context.Context, d time.Duration) error {
	s.gcs.Add(1)
	return s.Store.GC(ctx, d)
}

// startRedis runs a redis-server of the test's own on a free 127.0.0.1
// port, without persistence, and kills it when the test ends. Without
// redis-server the test is skipped, unless WORKERMAND_REQUIRE_REDIS=1 (CI)
// makes that a failure.
func startRedis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("WORKERMAND_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server not found and WORKERMAND_REQUIRE_REDIS=1: %v", err)
		}
		t.Skipf("redis-server not found (%v); install redis-server to run the Redis tests", err)
	}
	// The port is free when picked but could be taken before redis binds
	// it; a few attempts make that race harmless.
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		addr, err := tryRedis(t, bin)
		if err == nil {
			return addr
		}
		last = err
	}
	t.Fatalf("start redis-server: %v", last)
	return ""
}

func tryRedis(t testing.TB, bin string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(),
		"--enable-debug-command", "local")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(waitTimeout)
	for {
		select {
		case <-exited:
			return "", fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("no PING answer within %s: %v; output: %s", waitTimeout, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(stop)
	return addr, nil
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
