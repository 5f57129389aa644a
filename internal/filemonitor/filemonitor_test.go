package filemonitor

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// testDebounce leaves room for a loaded machine: a writer stalled longer
// than the quiet period splits its writes into two changes.
const testDebounce = 150 * time.Millisecond

// quietFor is how long a test waits to be sure no change comes: several
// debounce periods.
const quietFor = 700 * time.Millisecond

type harness struct {
	t       *testing.T
	w       *Watcher
	changes chan Change
	logs    *observer.ObservedLogs
}

func watch(t *testing.T, opts Options) *harness {
	t.Helper()
	return watchWith(t, opts, unix.InotifyAddWatch)
}

func watchWith(t *testing.T, opts Options, add func(int, string, uint32) (int, error)) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	if opts.Debounce == 0 {
		opts.Debounce = testDebounce
	}
	opts.Logger = zap.New(core)
	h := &harness{t: t, changes: make(chan Change, 16), logs: logs}
	w, err := start(opts, func(c Change) { h.changes <- c }, add)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// next waits for one change.
func (h *harness) next(what string) Change {
	h.t.Helper()
	select {
	case c := <-h.changes:
		return c
	case <-time.After(3 * time.Second):
		h.t.Fatalf("%s: no change reported within 3s", what)
		return Change{}
	}
}

// none asserts that no change comes for quietFor.
func (h *harness) none(what string) {
	h.t.Helper()
	select {
	case c := <-h.changes:
		h.t.Fatalf("%s: unexpected change %+v", what, c)
	case <-time.After(quietFor):
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A burst of writes to many files gives one change listing them.
func TestDebounceBurst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := watch(t, Options{Paths: []string{dir}, Debounce: 300 * time.Millisecond})
	for i := range 20 {
		write(t, filepath.Join(dir, "f"+string(rune('a'+i))+".txt"), "x")
		time.Sleep(5 * time.Millisecond)
	}
	c := h.next("burst")
	if c.Count != 20 || len(c.Files) != maxListed {
		t.Errorf("change %d files, %d listed; want 20, %d", c.Count, len(c.Files), maxListed)
	}
	if c.Files[0] != filepath.Join(dir, "fa.txt") {
		t.Errorf("first file %q, want fa.txt", c.Files[0])
	}
	h.none("after the burst")
}

// Writing a file keeps postponing the report: a slow copy is one change,
// reported after its last write.
func TestDebounceSlowWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const debounce = 300 * time.Millisecond
	h := watch(t, Options{Paths: []string{dir}, Debounce: debounce})
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 10 {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(debounce / 10)
	}
	f.Close()
	c := h.next("slow write")
	if took := time.Since(start); took < debounce {
		t.Errorf("reported after %s, before the writes ended", took)
	}
	if c.Count != 1 {
		t.Errorf("change %+v, want the one file", c)
	}
	h.none("after the slow write")
}

// Files deep in a tree count; so do files in a subfolder made after the
// watch started, including those written before its watch was added.
func TestRecursiveAndNewSubfolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a/b/c/old.go"), "x")
	h := watch(t, Options{Paths: []string{dir}})
	if h.w.Dirs() < 4 {
		t.Errorf("watching %d directories, want at least 4", h.w.Dirs())
	}
	write(t, filepath.Join(dir, "a/b/c/old.go"), "y")
	if c := h.next("deep file"); !slices.Contains(c.Files, filepath.Join(dir, "a/b/c/old.go")) {
		t.Errorf("change %+v", c)
	}

	// mkdir -p and a file at once: the file may be written before the
	// watch of the new folder exists.
	write(t, filepath.Join(dir, "new/sub/file.go"), "x")
	if c := h.next("new subfolder"); !slices.Contains(c.Files, filepath.Join(dir, "new/sub/file.go")) {
		t.Errorf("change %+v, want new/sub/file.go", c)
	}
	// Later writes in the new folder are seen through its own watch.
	write(t, filepath.Join(dir, "new/sub/later.go"), "x")
	if c := h.next("file in the new subfolder"); !slices.Equal(c.Files, []string{filepath.Join(dir, "new/sub/later.go")}) {
		t.Errorf("change %+v, want new/sub/later.go", c)
	}

	// A folder moved away is no longer watched under its old path.
	if err := os.Rename(filepath.Join(dir, "new"), filepath.Join(t.TempDir(), "away")); err != nil {
		t.Fatal(err)
	}
	h.next("folder moved away")
	if h.w.Dirs() != 5 {
		t.Errorf("watching %d directories after the move, want 5 (parent, dir, a, a/b, a/b/c)", h.w.Dirs())
	}
}

// A file named in Paths is watched through its directory: replaced by a
// rename (editors, go build), then written again, it is still seen. Other
// files in its directory are not.
func TestFileRenamedOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "app.toml")
	write(t, file, "a")
	h := watch(t, Options{Paths: []string{file}})
	for i := range 3 {
		tmp := filepath.Join(dir, ".app.toml.tmp")
		write(t, tmp, "b")
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
		if c := h.next("rename over"); !slices.Equal(c.Files, []string{file}) {
			t.Errorf("round %d: change %+v, want only %s", i, c, file)
		}
	}
	write(t, file, "in place")
	h.next("write in place")
	write(t, filepath.Join(dir, "other.toml"), "x")
	h.none("another file in the same directory")

	// Deleted, then created again.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	write(t, file, "again")
	if c := h.next("delete and create"); c.Count != 1 {
		t.Errorf("change %+v", c)
	}
	// touch counts, as Workerman's mtime check does.
	now := time.Now().Add(time.Second)
	if err := os.Chtimes(file, now, now); err != nil {
		t.Fatal(err)
	}
	h.next("touch")
	// Reading it does not.
	if _, err := os.ReadFile(file); err != nil {
		t.Fatal(err)
	}
	h.none("a read")
}

// A path that does not exist yet is reported when it appears; a watched
// directory deleted and made again is watched again.
func TestPathAppearsAndDirRecreated(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	tree := filepath.Join(parent, "tree")
	h := watch(t, Options{Paths: []string{tree}})
	write(t, filepath.Join(tree, "x.go"), "x")
	h.next("directory created")
	write(t, filepath.Join(tree, "y.go"), "x")
	h.next("file in the created directory")
	if err := os.RemoveAll(tree); err != nil {
		t.Fatal(err)
	}
	h.next("directory removed")
	write(t, filepath.Join(tree, "z.go"), "x")
	h.next("directory made again")
	write(t, filepath.Join(tree, "sub/w.go"), "x")
	if c := h.next("subfolder of the new directory"); !slices.Contains(c.Files, filepath.Join(tree, "sub/w.go")) {
		t.Errorf("change %+v", c)
	}
}

// A path that is a symbolic link to a directory follows the link when it
// is switched to another directory, as a deploy does.
func TestSymlinkedTreeSwitched(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	write(t, filepath.Join(base, "v1/a.go"), "x")
	write(t, filepath.Join(base, "v2/a.go"), "x")
	current := filepath.Join(base, "current")
	if err := os.Symlink("v1", current); err != nil {
		t.Fatal(err)
	}
	h := watch(t, Options{Paths: []string{current}})
	write(t, filepath.Join(base, "v1/a.go"), "y")
	if c := h.next("a file through the link"); !slices.Equal(c.Files, []string{filepath.Join(current, "a.go")}) {
		t.Errorf("change %+v", c)
	}
	tmp := filepath.Join(base, ".current.tmp")
	if err := os.Symlink("v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, current); err != nil {
		t.Fatal(err)
	}
	if c := h.next("the link switched"); !slices.Equal(c.Files, []string{current}) {
		t.Errorf("change %+v", c)
	}
	write(t, filepath.Join(base, "v2/a.go"), "y")
	if c := h.next("a file in the new target"); !slices.Equal(c.Files, []string{filepath.Join(current, "a.go")}) {
		t.Errorf("change %+v", c)
	}
	write(t, filepath.Join(base, "v1/a.go"), "z")
	h.none("a file in the old target")
}

func TestExtensions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	named := filepath.Join(t.TempDir(), "binary")
	write(t, named, "x")
	h := watch(t, Options{Paths: []string{dir, named}, Extensions: []string{"go", "tmpl"}})
	write(t, filepath.Join(dir, "notes.txt"), "x")
	write(t, filepath.Join(dir, "Makefile"), "x")
	write(t, filepath.Join(dir, "sub/data.json"), "x")
	h.none("other extensions")
	write(t, filepath.Join(dir, "sub/page.tmpl"), "x")
	if c := h.next("listed extension"); !slices.Equal(c.Files, []string{filepath.Join(dir, "sub/page.tmpl")}) {
		t.Errorf("change %+v", c)
	}
	write(t, named, "y")
	if c := h.next("a named file without the extension"); !slices.Equal(c.Files, []string{named}) {
		t.Errorf("change %+v", c)
	}
}

func TestExclude(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "vendor/lib/x.go"), "x")
	write(t, filepath.Join(dir, ".git/HEAD"), "x")
	h := watch(t, Options{
		Paths:   []string{dir},
		Exclude: []string{".*", "vendor", "cache/*", "*.log", filepath.Join(dir, "abs") + "/*"},
		Ignore:  []string{filepath.Join(dir, "app.pid")},
	})
	if h.w.Dirs() != 2 {
		t.Errorf("watching %d directories, want 2 (the directory and its parent): vendor and .git are excluded", h.w.Dirs())
	}
	write(t, filepath.Join(dir, "vendor/lib/x.go"), "y")
	write(t, filepath.Join(dir, ".git/HEAD"), "y")
	write(t, filepath.Join(dir, ".main.go.swp"), "y")
	write(t, filepath.Join(dir, "cache/entry"), "y")
	write(t, filepath.Join(dir, "app.log"), "y")
	write(t, filepath.Join(dir, "abs/file"), "y")
	write(t, filepath.Join(dir, "app.pid"), "123")
	h.none("excluded and ignored files")
	write(t, filepath.Join(dir, "cache.go"), "x")
	if c := h.next("a file not excluded"); !slices.Equal(c.Files, []string{filepath.Join(dir, "cache.go")}) {
		t.Errorf("change %+v", c)
	}
}

// A program being written is not reported until it is a complete
// executable: a reload would run it.
func TestProgramMustBeComplete(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(prog, whole, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := complete(prog); err != nil {
		t.Fatalf("complete(a whole binary): %v", err)
	}
	h := watch(t, Options{Paths: []string{prog}, Programs: []string{prog}})

	// Half of it, closed (a copy interrupted, or a writer that closes
	// before it is done).
	if err := os.WriteFile(prog, whole[:len(whole)/2], 0o755); err != nil {
		t.Fatal(err)
	}
	h.none("a truncated binary")
	if h.logs.FilterMessageSnippet("not a complete executable").Len() == 0 {
		t.Errorf("no warning about the incomplete program; logs: %v", h.logs.All())
	}
	// The rest arrives.
	f, err := os.OpenFile(prog, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(whole[len(whole)/2:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if c := h.next("the binary completed"); !slices.Equal(c.Files, []string{prog}) {
		t.Errorf("change %+v", c)
	}

	// As go build writes it: another file changing waits for the program
	// too.
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	h.none("the program removed")
	if err := os.WriteFile(prog, whole, 0o755); err != nil {
		t.Fatal(err)
	}
	h.next("the program written back")
}

// Reaching the watch limit is logged once, naming the sysctl.
func TestWatchLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"a", "b", "c"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	limited := func(fd int, path string, mask uint32) (int, error) {
		if n++; n > 2 {
			return -1, unix.ENOSPC
		}
		return unix.InotifyAddWatch(fd, path, mask)
	}
	h := watchWith(t, Options{Paths: []string{dir}}, limited)
	warns := h.logs.FilterMessageSnippet("watch limit").All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings about the limit, want 1: %v", len(warns), h.logs.All())
	}
	if got := warns[0].ContextMap()["sysctl"]; got != "fs.inotify.max_user_watches" {
		t.Errorf("sysctl field %v", got)
	}
	if h.w.Dirs() != 2 {
		t.Errorf("watching %d directories, want 2", h.w.Dirs())
	}
}

func TestParseEvents(t *testing.T) {
	t.Parallel()
	// Two records, the first with a NUL-padded name.
	rec := func(wd int32, mask uint32, name string, pad int) []byte {
		b := make([]byte, unix.SizeofInotifyEvent+len(name)+pad)
		ev := unix.InotifyEvent{Wd: wd, Mask: mask, Len: uint32(len(name) + pad)}
		copy(b, unsafeBytes(&ev))
		copy(b[unix.SizeofInotifyEvent:], name)
		return b
	}
	buf := append(rec(1, unix.IN_CLOSE_WRITE, "a.go", 4), rec(2, unix.IN_IGNORED, "", 0)...)
	got := parseEvents(buf)
	want := []rawEvent{{1, unix.IN_CLOSE_WRITE, "a.go"}, {2, unix.IN_IGNORED, ""}}
	if !slices.Equal(got, want) {
		t.Errorf("parseEvents = %+v, want %+v", got, want)
	}
	if got := parseEvents(buf[:unix.SizeofInotifyEvent+2]); len(got) != 0 {
		t.Errorf("a cut record gave %+v", got)
	}
}

func unsafeBytes(ev *unix.InotifyEvent) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(ev)), unix.SizeofInotifyEvent)
}
