package session_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/http/session"
	"github.com/workermand/workermand/internal/testserver"
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

// startRedis runs a redis-server of the test's own (internal/testserver)
// and returns its address.
func startRedis(t testing.TB) string {
	t.Helper()
	return testserver.Redis(t, "--enable-debug-command", "local").Addr()
}
