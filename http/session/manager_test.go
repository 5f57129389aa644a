package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/http/session"
	"github.com/workermand/workermand/workerman/workermantest"
)

func newFileManager(t *testing.T) (*session.Manager, *countingStore, string) {
	dir := t.TempDir()
	st := &countingStore{Store: &session.FileStore{Dir: dir}}
	m := session.NewManager(st)
	m.GCProbability = -1
	return m, st, dir
}

func TestNewSessionStoredOnlyWithData(t *testing.T) {
	loop := startLoop(t)
	m, st, dir := newFileManager(t)

	// A visitor without a cookie who stores nothing costs no I/O and gets
	// no cookie.
	s := open(t, loop, m, "")
	if !s.IsNew() || !session.ValidID(s.ID()) {
		t.Fatalf("session without a cookie: new=%v id=%q", s.IsNew(), s.ID())
	}
	if c := save(t, loop, s, nil); c != nil {
		t.Fatalf("an empty new session sent cookie %+v", *c)
	}
	if n := st.loads.Load() + st.saves.Load(); n != 0 {
		t.Fatalf("an empty new session made %d storage calls", n)
	}

	// Once it holds data it is stored and the client gets the cookie with
	// Workerman's attributes.
	c := save(t, loop, s, func(s *session.Session) { s.Set("user", "ann") })
	if c == nil {
		t.Fatal("no cookie for a new session with data")
	}
	if c.Name != "PHPSID" || c.Value != s.ID() || c.MaxAge != 1440 || c.Path != "/" || !c.HTTPOnly || c.Secure {
		t.Fatalf("cookie %+v, want PHPSID=<id>; Max-Age=1440; Path=/; HttpOnly", *c)
	}
	if _, err := os.Stat(filepath.Join(dir, "session_"+s.ID())); err != nil {
		t.Fatalf("no session file after the save: %v", err)
	}

	// Loaded again, unchanged, it is sent without I/O and without cookie.
	s2 := open(t, loop, m, c.Value)
	if s2.IsNew() || s2.ID() != c.Value || s2.Get("user") != "ann" {
		t.Fatalf("reloaded session: new=%v id=%q user=%v", s2.IsNew(), s2.ID(), s2.Get("user"))
	}
	saves := st.saves.Load()
	if c := save(t, loop, s2, func(s *session.Session) { _ = s.Get("user"); _ = s.Has("x"); s.Delete("absent") }); c != nil {
		t.Fatalf("an unchanged session sent cookie %+v", *c)
	}
	if st.saves.Load() != saves {
		t.Fatal("an unchanged session was saved")
	}

	// A change is saved, still without a cookie (the id is the same).
	if c := save(t, loop, s2, func(s *session.Session) { s.Set("n", 2) }); c != nil {
		t.Fatalf("a changed session with its id unchanged sent cookie %+v", *c)
	}
	if st.saves.Load() != saves+1 {
		t.Fatal("a changed session was not saved")
	}
	if n, ok := open(t, loop, m, c.Value).Int("n"); !ok || n != 2 {
		t.Fatalf("n after the save = %v, %v; want 2", n, ok)
	}
}

func TestUnknownIDIsNotAdopted(t *testing.T) {
	loop := startLoop(t)
	m, _, dir := newFileManager(t)

	// An attacker's well-formed id that the store does not hold.
	planted := strings.Repeat("a", 40)
	s := open(t, loop, m, planted)
	if s.ID() == planted || !s.IsNew() {
		t.Fatalf("Open adopted the unknown id %q", planted)
	}
	c := save(t, loop, s, func(s *session.Session) { s.Set("user", "victim") })
	if c == nil || c.Value == planted {
		t.Fatalf("cookie after login = %+v; want a fresh id", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "session_"+planted)); err == nil {
		t.Fatal("the planted id was stored")
	}

	// An invalid cookie gets a new id too; with nothing to store, the
	// stale cookie is expired so the client stops sending it.
	for _, bad := range []string{"short", "../../etc/passwd/x/y/z", planted} {
		s := open(t, loop, m, bad)
		if s.ID() == bad {
			t.Fatalf("Open kept the invalid id %q", bad)
		}
		c := save(t, loop, s, nil)
		if c == nil || c.MaxAge >= 0 || c.Name != "PHPSID" {
			t.Fatalf("cookie for an unusable id %q = %+v; want one that expires it", bad, c)
		}
	}
}

func TestRegenerate(t *testing.T) {
	loop := startLoop(t)
	m, _, _ := newFileManager(t)

	s := open(t, loop, m, "")
	first := save(t, loop, s, func(s *session.Session) { s.Set("role", "guest") }).Value

	// deleteOld: the old id no longer loads, the data moves to the new one.
	s = open(t, loop, m, first)
	c := save(t, loop, s, func(s *session.Session) { s.Regenerate(true); s.Set("role", "admin") })
	if c == nil || c.Value == first || c.Value != s.ID() || c.MaxAge != 1440 {
		t.Fatalf("cookie after Regenerate = %+v; want the new id %q", c, s.ID())
	}
	if old := open(t, loop, m, first); !old.IsNew() || old.ID() == first {
		t.Fatal("the old id still loads after Regenerate(true)")
	}
	second := c.Value
	if got := open(t, loop, m, second).Get("role"); got != "admin" {
		t.Fatalf("role under the new id = %v, want admin", got)
	}

	// Without deleteOld, an unchanged session still moves to a new id and
	// the old one keeps working until it expires.
	s = open(t, loop, m, second)
	c = save(t, loop, s, func(s *session.Session) { s.Regenerate(false) })
	if c == nil || c.Value == second {
		t.Fatalf("cookie after Regenerate(false) = %+v; want a new id", c)
	}
	if got := open(t, loop, m, c.Value).Get("role"); got != "admin" {
		t.Fatalf("role under the regenerated id = %v, want admin", got)
	}
	if old := open(t, loop, m, second); old.IsNew() {
		t.Fatal("Regenerate(false) deleted the old id")
	}
}

func TestDestroy(t *testing.T) {
	loop := startLoop(t)
	m, _, dir := newFileManager(t)

	s := open(t, loop, m, "")
	id := save(t, loop, s, func(s *session.Session) { s.Set("user", "ann") }).Value

	s = open(t, loop, m, id)
	c := save(t, loop, s, func(s *session.Session) { s.Destroy() })
	if c == nil || c.MaxAge >= 0 {
		t.Fatalf("cookie after Destroy = %+v; want one that expires it", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "session_"+id)); err == nil {
		t.Fatal("the destroyed session's file is still there")
	}
	if open(t, loop, m, id).Get("user") != nil {
		t.Fatal("the destroyed session still loads")
	}

	// Log out, then in as someone else in the same request: a new session.
	s = open(t, loop, m, "")
	id = save(t, loop, s, func(s *session.Session) { s.Set("user", "ann") }).Value
	s = open(t, loop, m, id)
	c = save(t, loop, s, func(s *session.Session) { s.Destroy(); s.Set("user", "bob") })
	if c == nil || c.MaxAge <= 0 || c.Value == id {
		t.Fatalf("cookie after Destroy+Set = %+v; want a new session's", c)
	}
	if open(t, loop, m, id).Get("user") != nil {
		t.Fatal("the destroyed session still loads")
	}
	if got := open(t, loop, m, c.Value).Get("user"); got != "bob" {
		t.Fatalf("new session's user = %v, want bob", got)
	}
}

func TestValuesAfterReload(t *testing.T) {
	loop := startLoop(t)
	m, _, _ := newFileManager(t)
	type profile struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	const big = int64(1)<<62 + 1 // not exact as a float64
	s := open(t, loop, m, "")
	id := save(t, loop, s, func(s *session.Session) {
		s.Set("big", big)
		s.Set("pi", 3.25)
		s.Set("ok", true)
		s.Set("name", "ann")
		s.Set("profile", profile{"ann", []string{"a", "b"}})
		s.Set("flash", "saved!")
		s.Set("gone", 1)
		s.Delete("gone")
		// Before a save, values are what was Set.
		if n, ok := s.Int("big"); !ok || n != big {
			t.Errorf("Int(big) before the save = %d, %v", n, ok)
		}
	}).Value

	s = open(t, loop, m, id)
	if v, ok := s.Get("big").(json.Number); !ok || v.String() != "4611686018427387905" {
		t.Fatalf("Get(big) after a load = %#v; want json.Number 4611686018427387905", s.Get("big"))
	}
	if n, ok := s.Int("big"); !ok || n != big {
		t.Fatalf("Int(big) = %d, %v; want %d", n, ok, big)
	}
	if f, ok := s.Float("pi"); !ok || f != 3.25 {
		t.Fatalf("Float(pi) = %v, %v", f, ok)
	}
	if _, ok := s.Int("pi"); ok {
		t.Fatal("Int(pi) accepted 3.25")
	}
	if b, ok := s.Bool("ok"); !ok || !b {
		t.Fatalf("Bool(ok) = %v, %v", b, ok)
	}
	if v, ok := s.String("name"); !ok || v != "ann" {
		t.Fatalf("String(name) = %q, %v", v, ok)
	}
	var p profile
	if err := s.Decode("profile", &p); err != nil || p.Name != "ann" || len(p.Roles) != 2 {
		t.Fatalf("Decode(profile) = %+v, %v", p, err)
	}
	if s.Has("gone") {
		t.Fatal("a deleted key came back")
	}
	if got := len(s.All()); got != 6 {
		t.Fatalf("All() has %d keys, want 6: %v", got, s.All())
	}
	// Pull is a flash message: read once.
	save(t, loop, s, func(s *session.Session) {
		if got := s.Pull("flash"); got != "saved!" {
			t.Errorf("Pull(flash) = %v", got)
		}
	})
	s = open(t, loop, m, id)
	if s.Has("flash") {
		t.Fatal("a pulled key is still stored")
	}
	// Flush keeps the session and its id, without data.
	if c := save(t, loop, s, func(s *session.Session) { s.Flush() }); c != nil {
		t.Fatalf("Flush sent cookie %+v", *c)
	}
	if s = open(t, loop, m, id); s.IsNew() || len(s.All()) != 0 {
		t.Fatalf("after Flush: new=%v data=%v; want the same, empty session", s.IsNew(), s.All())
	}

	// A value JSON cannot encode fails the save, not the process.
	if _, err := trySave(t, loop, s, func(s *session.Session) { s.Set("ch", make(chan int)) }); err == nil {
		t.Fatal("Save of a channel value succeeded")
	}
}

func TestRefresh(t *testing.T) {
	loop := startLoop(t)
	m, st, _ := newFileManager(t)
	m.Lifetime = time.Hour
	m.Secure, m.SameSite, m.Domain, m.Name = true, "Lax", "example.com", "SID"
	s := open(t, loop, m, "")
	id := save(t, loop, s, func(s *session.Session) { s.Set("a", 1) }).Value
	saves := st.saves.Load()
	c := save(t, loop, open(t, loop, m, id), func(s *session.Session) { s.Refresh() })
	if c == nil || c.Value != id || c.MaxAge != 3600 || !c.Secure || c.SameSite != "Lax" || c.Domain != "example.com" || c.Name != "SID" {
		t.Fatalf("cookie after Refresh = %+v", c)
	}
	if st.saves.Load() != saves+1 {
		t.Fatal("Refresh did not rewrite the session")
	}
}

func TestStorageErrors(t *testing.T) {
	loop := startLoop(t)
	// A Dir that is a regular file: every storage call fails for real.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(&session.FileStore{Dir: notDir})

	var err error
	workermantest.OnLoopAsync(t, loop, func(finish func()) {
		m.Open(loop, session.NewID(), func(s *session.Session, e error) {
			if s != nil {
				t.Errorf("Open returned a session along with error %v", e)
			}
			err = e
			finish()
		})
	})
	if err == nil {
		t.Fatal("Open through a broken store succeeded")
	}

	s := open(t, loop, m, "")
	if _, err := trySave(t, loop, s, func(s *session.Session) { s.Set("a", 1) }); err == nil {
		t.Fatal("Save through a broken store succeeded")
	}
}

func TestGC(t *testing.T) {
	loop := startLoop(t)
	m, st, dir := newFileManager(t)
	m.GCProbability = 1
	dead := session.NewID()
	if err := st.Store.Save(context.Background(), dead, []byte(`{}`), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past dead's 1 ms lifetime
	s := open(t, loop, m, "")
	save(t, loop, s, func(s *session.Session) { s.Set("a", 1) })
	deadline := time.Now().Add(waitTimeout)
	for {
		_, err := os.Stat(filepath.Join(dir, "session_"+dead))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC with probability 1 did not remove an expired session (gc calls: %d)", st.gcs.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Probability below zero never collects.
	m.GCProbability = -1
	gcs := st.gcs.Load()
	for range 20 {
		save(t, loop, open(t, loop, m, ""), func(s *session.Session) { s.Set("a", 1) })
	}
	if st.gcs.Load() != gcs {
		t.Fatal("GC ran with a negative probability")
	}
}

// TestLoopNotBlockedByRedis pauses Redis's writes and checks that a session
// save waiting on it leaves the loop free: work posted after the save runs
// before the save's callback, which comes once Redis resumes.
func TestLoopNotBlockedByRedis(t *testing.T) {
	addr := startRedis(t)
	st := session.NewRedisStore(session.RedisOptions{Addr: addr})
	t.Cleanup(func() { st.Close() })
	m := session.NewManager(st)
	loop := startLoop(t)

	ctx := context.Background()
	if err := st.Client.Do(ctx, "CLIENT", "PAUSE", "30000", "WRITE").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	unpaused := false
	unpause := func() {
		if !unpaused {
			unpaused = true
			if err := st.Client.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
				t.Errorf("CLIENT UNPAUSE: %v", err)
			}
		}
	}
	defer unpause()

	order := make(chan string, 2)
	s := open(t, loop, m, "")
	loop.Post(func() {
		s.Set("a", 1)
		s.Save(loop, func(_ *http.Cookie, err error) {
			if err != nil {
				order <- "save failed: " + err.Error()
				return
			}
			order <- "saved"
		})
	})
	// Queued behind the save: with a loop that waited on Redis it would
	// run only after the pause.
	loop.Post(func() { order <- "posted" })
	next := func() string {
		select {
		case got := <-order:
			return got
		case <-time.After(waitTimeout):
			t.Fatalf("nothing from the loop within %s: it is blocked", waitTimeout)
			return ""
		}
	}
	if got := next(); got != "posted" {
		t.Fatalf("first from the loop: %q; want the posted function, ahead of the paused save", got)
	}
	select {
	case got := <-order:
		t.Fatalf("the save finished while Redis was paused: %q", got)
	default:
	}
	unpause()
	if got := next(); got != "saved" {
		t.Fatalf("after the unpause: %q; want saved", got)
	}
	if n, ok := open(t, loop, m, s.ID()).Int("a"); !ok || n != 1 {
		t.Fatalf("a after the save = %v, %v", n, ok)
	}

	// Loading: a pause of every client holds the GET; the loop still runs
	// what was posted after Open before Open's callback.
	if err := st.Client.Do(ctx, "CLIENT", "PAUSE", "1000", "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	loop.Post(func() {
		m.Open(loop, s.ID(), func(s *session.Session, err error) {
			if err != nil {
				order <- "load failed: " + err.Error()
				return
			}
			order <- "loaded"
		})
	})
	loop.Post(func() { order <- "posted" })
	if got := next(); got != "posted" {
		t.Fatalf("first from the loop: %q; want the posted function, ahead of the paused load", got)
	}
	if got := next(); got != "loaded" {
		t.Fatalf("after the pause: %q; want loaded", got)
	}
}
