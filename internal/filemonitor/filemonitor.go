// Package filemonitor watches files and directory trees with inotify and
// reports which files changed once a burst of changes has settled: the
// master reloads its workers on that report (the [monitor] section,
// Workerman's FileMonitor).
//
// A file is watched through its directory, not its inode: editors and
// `go build` replace a file (a rename over it, or unlink and create), which
// an inode watch would lose after the first save. Directories are watched
// recursively, subfolders made later included. Only events that writing
// causes count (a write closed, a rename, a creation, a deletion, a touch):
// reading or executing a watched file, as every reload does, does not.
package filemonitor

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Options say what to watch.
type Options struct {
	// Paths are absolute files and directories. A directory is watched with
	// everything below it; a path that does not exist yet is watched for,
	// through its parent directory.
	Paths []string
	// Extensions, without the dot, filter the files found in directories;
	// empty means any. A file named in Paths is always watched.
	Extensions []string
	// Exclude are globs left out of directories: without a slash matched
	// against each name below a watched directory, with one against the
	// path relative to it, starting with one against the absolute path.
	Exclude []string
	// Ignore are absolute paths never reported: the daemon's own pid file,
	// logs and sockets, which it writes itself.
	Ignore []string
	// Programs are executables that must be complete before a change is
	// reported: a reload runs them, and a half-written binary would not
	// start. Their size and modification time must hold still across
	// Settle, and an ELF file must have all its section headers.
	Programs []string
	// Debounce is the quiet period after the last event (default 300 ms).
	Debounce time.Duration
	// Settle is the wait between the two looks at Programs (default
	// 100 ms, or Debounce if shorter).
	Settle time.Duration
	Logger *zap.Logger
}

// Change is one settled burst of changes.
type Change struct {
	// Files are the changed paths in the order they first changed, at most
	// maxListed of them.
	Files []string
	// Count is how many distinct paths changed.
	Count int
	// Overflow reports that the kernel dropped events: something changed,
	// not all of it is listed.
	Overflow bool
}

// maxListed bounds Change.Files: a checkout may touch thousands of files,
// and a log line needs a few.
const maxListed = 10

// dirMask is what a watched directory reports. IN_MODIFY does not start a
// change (a file being written is not done yet, and a log kept open would
// never be) but postpones one already waiting.
const dirMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_MODIFY | unix.IN_DELETE_SELF | unix.IN_ONLYDIR

const triggerMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_DELETE | unix.IN_ATTRIB

// Files of /proc read for the limits; variables for tests.
var (
	procMaxWatches   = "/proc/sys/fs/inotify/max_user_watches"
	procMaxInstances = "/proc/sys/fs/inotify/max_user_instances"
	procMaxQueued    = "/proc/sys/fs/inotify/max_queued_events"
)

// dir is one watched directory.
type dir struct {
	wd   int
	path string
	// tree is the watched directory (a root of Paths) this one lies in,
	// "" when it is watched only for the roots named in it.
	tree string
	// roots are the names in this directory that Paths name.
	roots map[string]bool
}

// Watcher is a running watch; Close stops it.
type Watcher struct {
	opts     Options
	log      *zap.Logger
	onChange func(Change)
	file     *os.File // the inotify descriptor, in the runtime's poller
	fd       int

	dirs    map[int]*dir
	byPath  map[string]*dir
	ignore  map[string]bool
	watched atomic.Int64 // len(dirs), for Dirs from any goroutine

	// The burst being collected, on the loop goroutine.
	changed  []string
	seen     map[string]bool
	overflow bool
	settling map[string]fileState // Programs as first seen after the quiet period
	timer    *time.Timer
	limitHit bool

	events chan []rawEvent
	done   chan struct{}
	wg     sync.WaitGroup

	// addWatch is unix.InotifyAddWatch; tests replace it to reach the
	// watch limit.
	addWatch func(fd int, path string, mask uint32) (int, error)
}

type rawEvent struct {
	wd   int
	mask uint32
	name string
}

// Start watches opts.Paths and calls onChange, from its own goroutine, after
// each settled burst of changes. The error is a failure to set up inotify
// itself; paths it cannot watch are logged and left out.
func Start(opts Options, onChange func(Change)) (*Watcher, error) {
	return start(opts, onChange, unix.InotifyAddWatch)
}

func start(opts Options, onChange func(Change), addWatch func(int, string, uint32) (int, error)) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 300 * time.Millisecond
	}
	if opts.Settle <= 0 {
		opts.Settle = min(100*time.Millisecond, opts.Debounce)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EMFILE) {
			return nil, fmt.Errorf("inotify_init1: %w: this user has as many inotify instances as fs.inotify.max_user_instances allows (%s); raise it with sysctl", err, readProc(procMaxInstances))
		}
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	w := &Watcher{
		opts:     opts,
		log:      opts.Logger,
		onChange: onChange,
		// A non-blocking descriptor in os.NewFile joins the runtime's
		// poller, so Close wakes the blocked Read.
		file:     os.NewFile(uintptr(fd), "inotify"),
		fd:       fd,
		dirs:     map[int]*dir{},
		byPath:   map[string]*dir{},
		ignore:   map[string]bool{},
		seen:     map[string]bool{},
		events:   make(chan []rawEvent, 16),
		done:     make(chan struct{}),
		addWatch: addWatch,
	}
	for _, p := range opts.Ignore {
		w.ignore[filepath.Clean(p)] = true
	}
	for _, p := range opts.Paths {
		w.addRoot(filepath.Clean(p))
	}
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	w.wg.Add(2)
	go w.read()
	go w.loop()
	return w, nil
}

// Close stops the watch and waits for its goroutines; a burst not yet
// reported is dropped.
func (w *Watcher) Close() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	close(w.done)
	err := w.file.Close()
	w.wg.Wait()
	return err
}

// Dirs is the number of directories watched, for logs and tests.
func (w *Watcher) Dirs() int { return int(w.watched.Load()) }

// addRoot watches a path of Paths: its parent for the path itself (created,
// replaced, deleted), and the whole tree below it when it is a directory.
func (w *Watcher) addRoot(p string) {
	parent := filepath.Dir(p)
	if parent != p {
		if d := w.watch(parent, ""); d != nil {
			if d.roots == nil {
				d.roots = map[string]bool{}
			}
			d.roots[filepath.Base(p)] = true
		} else if _, err := os.Stat(p); err != nil {
			w.log.Warn("file monitor: neither the path nor its directory exists; not watched", zap.String("path", p))
		}
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		w.addTree(p, p, nil)
	}
}

// watch adds (or finds) the watch of directory path; tree marks it part of
// a watched tree. nil when it cannot be watched.
func (w *Watcher) watch(path, tree string) *dir {
	if d, ok := w.byPath[path]; ok {
		if d.tree == "" {
			d.tree = tree
		}
		return d
	}
	wd, err := w.addWatch(w.fd, path, dirMask)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOSPC):
			if !w.limitHit {
				w.limitHit = true
				w.log.Warn("file monitor: the inotify watch limit is reached; directories past it are not watched",
					zap.String("path", path), zap.String("sysctl", "fs.inotify.max_user_watches"),
					zap.String("limit", readProc(procMaxWatches)),
					zap.String("fix", "sysctl -w fs.inotify.max_user_watches=524288"))
			}
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
			// Gone already, or a file: nothing to watch.
		default:
			w.log.Warn("file monitor: cannot watch a directory", zap.String("path", path), zap.Error(err))
		}
		return nil
	}
	// The same inode reached by two paths (a symbolic link) has one watch.
	if d, ok := w.dirs[wd]; ok {
		if d.tree == "" {
			d.tree = tree
		}
		return d
	}
	d := &dir{wd: wd, path: path, tree: tree}
	w.dirs[wd] = d
	w.byPath[path] = d
	w.watched.Store(int64(len(w.dirs)))
	return d
}

// addTree watches path and every directory below it that is not excluded,
// in tree. With found non-nil, it appends the files a new directory
// already holds: they were written before its watch existed.
func (w *Watcher) addTree(path, tree string, found *[]string) {
	if w.watch(path, tree) == nil {
		return
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return
	}
	for _, e := range entries {
		full := filepath.Join(path, e.Name())
		switch {
		case e.IsDir():
			// e.IsDir is false for a symbolic link: links are not followed,
			// so a link to an ancestor cannot loop.
			if !w.excluded(tree, full) {
				w.addTree(full, tree, found)
			}
		case found != nil && w.wanted(tree, full):
			*found = append(*found, full)
		}
	}
}

// removeTree drops the watches of path and below (a directory deleted or
// moved away; a moved one would otherwise report under its old path).
func (w *Watcher) removeTree(path string) {
	for p, d := range w.byPath {
		if p == path || strings.HasPrefix(p, path+"/") {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(d.wd))
			delete(w.byPath, p)
			delete(w.dirs, d.wd)
		}
	}
	w.watched.Store(int64(len(w.dirs)))
}

// excluded reports whether full, below the watched directory tree, matches
// an Exclude glob.
func (w *Watcher) excluded(tree, full string) bool {
	rel, err := filepath.Rel(tree, full)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	for _, g := range w.opts.Exclude {
		switch {
		case strings.HasPrefix(g, "/"):
			if ok, _ := filepath.Match(g, full); ok {
				return true
			}
		case strings.Contains(g, "/"):
			if ok, _ := filepath.Match(g, rel); ok {
				return true
			}
		default:
			for name := range strings.SplitSeq(rel, "/") {
				if ok, _ := filepath.Match(g, name); ok {
					return true
				}
			}
		}
	}
	return false
}

// wanted reports whether a file in tree counts: not excluded, not the
// daemon's own, and of a listed extension.
func (w *Watcher) wanted(tree, full string) bool {
	if w.ignore[full] || w.excluded(tree, full) {
		return false
	}
	if len(w.opts.Extensions) == 0 {
		return true
	}
	ext := strings.TrimPrefix(filepath.Ext(full), ".")
	return ext != "" && slices.Contains(w.opts.Extensions, ext)
}

// read turns what the kernel writes into batches for the loop.
func (w *Watcher) read() {
	defer w.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := w.file.Read(buf)
		if err != nil {
			select {
			case <-w.done:
			default:
				w.log.Error("file monitor: reading inotify events failed; the monitor stops", zap.Error(err))
			}
			return
		}
		batch := parseEvents(buf[:n])
		select {
		case w.events <- batch:
		case <-w.done:
			return
		}
	}
}

// parseEvents decodes struct inotify_event records.
func parseEvents(b []byte) []rawEvent {
	var out []rawEvent
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, rawEvent{wd: int(ev.Wd), mask: ev.Mask, name: string(name)})
		b = b[end:]
	}
	return out
}

// loop owns the watches and the burst: events arm the debounce timer, the
// timer checks the programs and reports.
func (w *Watcher) loop() {
	defer w.wg.Done()
	defer w.timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case batch := <-w.events:
			for _, ev := range batch {
				w.handle(ev)
			}
		case <-w.timer.C:
			w.fire()
		}
	}
}

// pending reports whether a burst is being collected.
func (w *Watcher) pending() bool { return len(w.changed) > 0 || w.overflow }

// touched records a change and restarts the quiet period.
func (w *Watcher) touched(path string) {
	if !w.seen[path] {
		w.seen[path] = true
		w.changed = append(w.changed, path)
	}
	w.quiet()
}

// quiet (re)starts the debounce period; a check of the programs under way
// starts over after it.
func (w *Watcher) quiet() {
	w.settling = nil
	w.timer.Reset(w.opts.Debounce)
}

func (w *Watcher) handle(ev rawEvent) {
	if ev.mask&unix.IN_Q_OVERFLOW != 0 {
		w.log.Warn("file monitor: the kernel dropped events (queue overflow); rescanning",
			zap.String("sysctl", "fs.inotify.max_queued_events"), zap.String("limit", readProc(procMaxQueued)))
		for _, p := range w.opts.Paths {
			w.addRoot(filepath.Clean(p))
		}
		w.overflow = true
		w.quiet()
		return
	}
	d, ok := w.dirs[ev.wd]
	if !ok {
		return
	}
	if ev.mask&unix.IN_IGNORED != 0 {
		delete(w.dirs, ev.wd)
		if w.byPath[d.path] == d {
			delete(w.byPath, d.path)
		}
		w.watched.Store(int64(len(w.dirs)))
		return
	}
	if ev.name == "" {
		return // about the directory itself: its parent reports it
	}
	full := filepath.Join(d.path, ev.name)
	isRoot := d.roots[ev.name]
	if ev.mask&unix.IN_ISDIR != 0 {
		w.handleDir(d, ev, full, isRoot)
		return
	}
	if !isRoot && (d.tree == "" || !w.wanted(d.tree, full)) {
		return
	}
	if w.ignore[full] {
		return
	}
	if isRoot && ev.mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
		// A symbolic link to a directory switched to another (a deploy's
		// `ln -sfn release current`): watch the tree it names now.
		if fi, err := os.Stat(full); err == nil && fi.IsDir() {
			w.removeTree(full)
			w.addTree(full, full, nil)
		}
	}
	switch {
	case ev.mask&triggerMask != 0:
		w.touched(full)
	case ev.mask&unix.IN_MODIFY != 0 && w.pending():
		w.quiet()
	}
}

// handleDir follows directories: a new one is watched (with the files it
// already holds reported), one gone or moved away is dropped.
func (w *Watcher) handleDir(d *dir, ev rawEvent, full string, isRoot bool) {
	inTree := d.tree != "" && !w.excluded(d.tree, full)
	if !isRoot && !inTree {
		return
	}
	switch {
	case ev.mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		tree := d.tree
		if isRoot {
			tree = full
		}
		var found []string
		w.addTree(full, tree, &found)
		if isRoot {
			w.touched(full)
		}
		for _, f := range found {
			w.touched(f)
		}
	case ev.mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
		w.removeTree(full)
		w.touched(full)
	}
}

// fileState is what the settle check compares.
type fileState struct {
	size  int64
	mtime time.Time
	ok    bool
}

func stateOf(path string) fileState {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}
	}
	return fileState{size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// fire ends the quiet period: first it notes the programs, then, a Settle
// later, checks they held still and are complete before reporting.
func (w *Watcher) fire() {
	if !w.pending() {
		return
	}
	if len(w.opts.Programs) > 0 && w.settling == nil {
		w.settling = map[string]fileState{}
		for _, p := range w.opts.Programs {
			w.settling[p] = stateOf(p)
		}
		w.timer.Reset(w.opts.Settle)
		return
	}
	for _, p := range w.opts.Programs {
		now := stateOf(p)
		if now != w.settling[p] {
			w.quiet() // still being written
			return
		}
		if err := complete(p); err != nil {
			// The next write to it (the rest of a copy) starts the
			// burst again; until then the change waits.
			w.log.Warn("file monitor: the program is not a complete executable; waiting for it to be written before reloading",
				zap.String("program", p), zap.Error(err))
			w.settling = nil
			return
		}
	}
	c := Change{Files: w.changed, Count: len(w.changed), Overflow: w.overflow}
	if len(c.Files) > maxListed {
		c.Files = c.Files[:maxListed:maxListed]
	}
	w.changed, w.seen, w.overflow, w.settling = nil, map[string]bool{}, false, nil
	w.onChange(c)
}

// complete checks that an executable could be run: it exists, may be
// executed, and an ELF file has the section headers its header points at,
// which the linker writes last.
func complete(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file (mode %s)", path, fi.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := f.ReadAt(magic, 0); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if string(magic) != elf.ELFMAG {
		return nil // a script: the settle check is all there is
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// NewFile reads the section headers but not the sections; the last one
	// ends where the file must.
	var end uint64
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOBITS && s.Offset+s.FileSize > end {
			end = s.Offset + s.FileSize
		}
	}
	if uint64(fi.Size()) < end {
		return fmt.Errorf("%s is %d bytes, its sections end at %d: truncated", path, fi.Size(), end)
	}
	return nil
}

// readProc reads a number from /proc for a message ("unknown" if it
// cannot).
func readProc(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(s); err != nil {
		return "unknown"
	}
	return s
}
