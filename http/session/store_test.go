package session_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/http/session"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"0123456789abcdef":       true,
		"ABCDEF,ghij-klmn":       true,
		"0123456789abcde":        false, // 15
		strings.Repeat("a", 256): true,
		strings.Repeat("a", 257): false,
		"../../../../etc/passwd": false,
		"0123456789abcdef.":      false,
		"0123456789abcdef ":      false,
		"0123456789abcdef\x00":   false,
		"0123456789abcdef/":      false,
		"0123456789abcdefé":      false,
		"":                       false,
	} {
		if got := session.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
	seen := map[string]bool{}
	for range 100 {
		id := session.NewID()
		if !session.ValidID(id) || len(id) != 64 {
			t.Fatalf("NewID() = %q: not a valid 64-character id", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

var workermanIDRule = regexp.MustCompile(`^[a-zA-Z0-9,-]{16,256}$`)

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"0123456789abcdef", "a,b-c", "../x", strings.Repeat("Z", 256), "ab\ncdefghijklmnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := session.ValidID(id), workermanIDRule.MatchString(id); got != want {
			t.Fatalf("ValidID(%q) = %v, Workerman's rule says %v", id, got, want)
		}
	})
}

// testStore checks the Store contract that the Manager relies on.
func testStore(t *testing.T, st session.Store) {
	ctx := context.Background()
	id := session.NewID()

	if b, err := st.Load(ctx, id); b != nil || err != nil {
		t.Fatalf("Load of an unknown id = %q, %v; want nil, nil", b, err)
	}
	data := []byte(`{"user":42}`)
	if err := st.Save(ctx, id, data, time.Minute); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if b, err := st.Load(ctx, id); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Load after Save = %q, %v; want %q", b, err, data)
	}
	// An overwrite replaces the data.
	if err := st.Save(ctx, id, []byte(`{}`), time.Minute); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if b, err := st.Load(ctx, id); err != nil || string(b) != "{}" {
		t.Fatalf("Load after overwrite = %q, %v; want {}", b, err)
	}
	// Other ids are untouched by a delete.
	other := session.NewID()
	if err := st.Save(ctx, other, data, time.Minute); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := st.Delete(ctx, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if b, err := st.Load(ctx, id); b != nil || err != nil {
		t.Fatalf("Load after Delete = %q, %v; want nil, nil", b, err)
	}
	if err := st.Delete(ctx, id); err != nil {
		t.Fatalf("Delete of an absent id: %v", err)
	}
	if b, _ := st.Load(ctx, other); !bytes.Equal(b, data) {
		t.Fatalf("another session's data = %q after a Delete, want %q", b, data)
	}

	// Expiry: a session saved with a short lifetime is there within it and
	// gone after it. A Load that a loaded machine delays past the lifetime
	// proves nothing either way, so it is tried again, a few times.
	const lifetime = 150 * time.Millisecond
	short := session.NewID()
	for try := 1; ; try++ {
		saved := time.Now()
		if err := st.Save(ctx, short, data, lifetime); err != nil {
			t.Fatalf("Save: %v", err)
		}
		b, _ := st.Load(ctx, short)
		if b != nil {
			break
		}
		if took := time.Since(saved); took < lifetime {
			t.Fatalf("a session was gone %s after its Save, before its %s lifetime", took, lifetime)
		}
		if try == 5 {
			t.Fatalf("no Load within %s of its Save in %d tries", lifetime, try)
		}
	}
	time.Sleep(400 * time.Millisecond) // what is tested: the lifetime passing
	if b, err := st.Load(ctx, short); b != nil || err != nil {
		t.Fatalf("Load after the lifetime = %q, %v; want nil, nil", b, err)
	}

	// Ids that could escape a directory or a key space are refused.
	for _, bad := range []string{"../../../../../../tmp/x", "short", ""} {
		if err := st.Save(ctx, bad, data, time.Minute); err == nil {
			t.Errorf("Save(%q) succeeded; want an invalid-id error", bad)
		}
		if _, err := st.Load(ctx, bad); err == nil {
			t.Errorf("Load(%q) succeeded; want an invalid-id error", bad)
		}
	}
	if err := st.GC(ctx, time.Minute); err != nil {
		t.Fatalf("GC: %v", err)
	}
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	st := &session.FileStore{Dir: dir}
	testStore(t, st)

	ctx := context.Background()
	id := session.NewID()
	if err := st.Save(ctx, id, []byte(`{"a":1}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "session_"+id))
	if err != nil {
		t.Fatalf("no file session_<id> after Save: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind by Save", e.Name())
		}
	}
}

func TestFileStoreRecreatesRemovedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sessions")
	st := &session.FileStore{Dir: dir}
	id := session.NewID()
	if err := st.Save(context.Background(), id, []byte(`{}`), time.Minute); err != nil {
		t.Fatalf("Save into a missing directory: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory after Save: %v, %v; want mode 0700", fi, err)
	}
}

func TestFileStoreGC(t *testing.T) {
	dir := t.TempDir()
	st := &session.FileStore{Dir: dir}
	ctx := context.Background()
	live, dead := session.NewID(), session.NewID()
	if err := st.Save(ctx, live, []byte(`{}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, dead, []byte(`{}`), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	write := func(name, content string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	junkOld := write("session_"+session.NewID(), "not a session", old)
	junkNew := write("session_"+session.NewID(), "not a session", time.Now())
	tmpOld := write(".session_"+session.NewID()+".123", "expires 1\n{}", old)
	foreign := write("notes.txt", "keep me", old)
	time.Sleep(10 * time.Millisecond) // past dead's 1 ms lifetime

	if err := st.GC(ctx, time.Hour); err != nil {
		t.Fatalf("GC: %v", err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	for p, want := range map[string]bool{
		filepath.Join(dir, "session_"+live): true,
		filepath.Join(dir, "session_"+dead): false,
		junkOld:                             false,
		junkNew:                             true,
		tmpOld:                              false,
		foreign:                             true,
	} {
		if got := exists(p); got != want {
			t.Errorf("after GC, %s exists = %v, want %v", filepath.Base(p), got, want)
		}
	}
}

func TestFileStoreDefaultDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	st := &session.FileStore{}
	id := session.NewID()
	if err := st.Save(context.Background(), id, []byte(`{}`), time.Minute); err != nil {
		t.Fatalf("Save in the default dir: %v", err)
	}
	dir := filepath.Join(tmp, "workermand-sessions")
	if session.DefaultFileDir() != dir {
		t.Fatalf("DefaultFileDir() = %s, want %s", session.DefaultFileDir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("default dir: %v, %v; want mode 0700", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "session_"+id)); err != nil {
		t.Fatalf("session file not in the default dir: %v", err)
	}

	// Someone else could write there: refuse rather than trust planted
	// sessions.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(context.Background(), id); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Fatalf("Load from a world-writable default dir: %v; want a refusal", err)
	}
}

// FuzzFileStoreLoad feeds arbitrary file contents to Load: whatever a
// session file holds, Load returns data or nothing, without an error.
func FuzzFileStoreLoad(f *testing.F) {
	for _, s := range []string{"", "expires 99999999999999\n{}", "expires -1\n{}", "expires \n", "expires 1", "\n", "expires 9999999999999999999999\n{}"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	st := &session.FileStore{Dir: dir}
	id := session.NewID()
	f.Fuzz(func(t *testing.T, content []byte) {
		if err := os.WriteFile(filepath.Join(dir, "session_"+id), content, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := st.Load(context.Background(), id)
		if err != nil {
			t.Fatalf("Load of %q: %v", content, err)
		}
		if b != nil && !bytes.HasSuffix(content, b) {
			t.Fatalf("Load of %q returned %q, which is not the file's tail", content, b)
		}
	})
}
