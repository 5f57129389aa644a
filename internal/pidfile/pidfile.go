package pidfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// LockSuffix is appended to the pid file's path to name the lock file.
const LockSuffix = ".lock"

// Bounds of Acquire's retries while the lock is held only in shared mode (by
// Running probes), see the package documentation.
const (
	probeRetryFirst = 50 * time.Microsecond
	probeRetryMax   = 5 * time.Millisecond
	probeRetryTotal = 2 * time.Second
)

// probeRetries counts Acquire's retries after meeting a shared holder, for
// the tests.
var probeRetries atomic.Int64

// ErrRunning is returned by Acquire when another open lock file description
// (another master, or another Acquire in this process) holds the lock.
type ErrRunning struct {
	// PID is read from the pid file; 0 when that file is missing, unreadable
	// or not yet written by the holder.
	PID int
}

// Error implements error.
func (e ErrRunning) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("already running (pid %d)", e.PID)
	}
	return "already running"
}

// Lock is a held lock on "<pid_file>.lock". Its methods are safe for
// concurrent use.
type Lock struct {
	pidPath  string
	lockPath string

	mu     sync.Mutex
	f      *os.File // nil once closed or released
	pid    int      // the pid last written by WritePID; 0 if none
	closed bool
}

// Acquire takes an exclusive, non-blocking flock on pidPath+".lock", creating
// that file with mode 0644 if needed (its directory must exist). When another
// open file description holds the lock — another process, or an earlier
// Acquire in this process — it returns ErrRunning with the pid read from
// pidPath. Of several concurrent Acquires exactly one succeeds. A refusal
// by an exclusive holder is immediate; while the lock is held only in shared
// mode (Running probes) Acquire retries, and gives up with ErrRunning if that
// lasts 2 seconds. Test for the refusal with errors.As(err, &ErrRunning{}).
//
// Acquire does not write the pid file: call WritePID once the pid is known
// (the launcher of start -d leaves that to the daemon).
func Acquire(pidPath string) (*Lock, error) {
	lockPath := pidPath + LockSuffix
	deadline := time.Now().Add(probeRetryTotal)
	wait := probeRetryFirst
	for {
		f, err := openLockFile(lockPath)
		if err != nil {
			return nil, err
		}
		fd := int(f.Fd())
		err = flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			same, serr := sameFile(f, lockPath)
			if serr != nil {
				f.Close()
				return nil, serr
			}
			if !same {
				// The lock file was unlinked or replaced after we opened
				// it: the lock we hold protects nothing. Start over.
				f.Close()
				continue
			}
			return &Lock{pidPath: pidPath, lockPath: lockPath, f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("pidfile: lock %s: %w", lockPath, err)
		}
		// Held. An exclusive holder also refuses a shared lock; a probe
		// (Running) holds only a shared lock and lets us share it.
		serr := flock(fd, unix.LOCK_SH|unix.LOCK_NB)
		f.Close() // drops the shared lock if we got one
		if serr != nil && !errors.Is(serr, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pidfile: lock %s: %w", lockPath, serr)
		}
		if serr != nil || time.Now().After(deadline) {
			pid, _ := ReadPID(pidPath)
			return nil, ErrRunning{PID: pid}
		}
		probeRetries.Add(1)
		time.Sleep(wait)
		wait = min(2*wait, probeRetryMax)
	}
}

// Adopt takes over a lock that was handed down by the process that Acquired
// it: f is the inherited descriptor (Lock.File in the parent, passed through
// exec.Cmd.ExtraFiles), pidPath the same pid file path. It checks that f is
// the lock file of pidPath and that f's open file description holds the lock
// (a non-blocking exclusive flock on it succeeds: re-locking a description
// that already holds the lock is a no-op, while any other holder makes it
// fail). If nobody held the lock, Adopt now holds it. It marks f close-on-exec
// so the daemon's own children never inherit the lock.
//
// On error f is left open; the caller decides what to do with it.
func Adopt(f *os.File, pidPath string) (*Lock, error) {
	if f == nil {
		return nil, fmt.Errorf("pidfile: adopt %s: no file", pidPath)
	}
	lockPath := pidPath + LockSuffix
	same, err := sameFile(f, lockPath)
	if err != nil {
		return nil, err
	}
	if !same {
		return nil, fmt.Errorf("pidfile: adopt: descriptor %d (%s) is not the lock file %s", f.Fd(), f.Name(), lockPath)
	}
	fd := int(f.Fd())
	if err := flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := ReadPID(pidPath)
			return nil, fmt.Errorf("pidfile: adopt %s: the inherited descriptor does not hold the lock: %w", lockPath, ErrRunning{PID: pid})
		}
		return nil, fmt.Errorf("pidfile: adopt %s: %w", lockPath, err)
	}
	unix.CloseOnExec(fd)
	return &Lock{pidPath: pidPath, lockPath: lockPath, f: f}, nil
}

// PIDPath returns the pid file's path.
func (l *Lock) PIDPath() string { return l.pidPath }

// LockPath returns the lock file's path (PIDPath + LockSuffix).
func (l *Lock) LockPath() string { return l.lockPath }

// File returns the locked descriptor, to hand to a re-executed daemon through
// exec.Cmd.ExtraFiles: the child's copy shares the open file description and
// thus the lock. It returns nil once the Lock is closed or released. Do not
// close it; call Close or Release.
func (l *Lock) File() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}

// WritePID writes pid, followed by a newline, to the pid file atomically: a
// temporary file in the same directory, mode 0644, renamed over the pid file.
// Release later removes the pid file only if it still holds this pid.
func (l *Lock) WritePID(pid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("pidfile: write %s: %w", l.pidPath, fs.ErrClosed)
	}
	if pid <= 0 {
		return fmt.Errorf("pidfile: write %s: invalid pid %d", l.pidPath, pid)
	}
	if err := writeAtomic(l.pidPath, []byte(strconv.Itoa(pid)+"\n")); err != nil {
		return err
	}
	l.pid = pid
	return nil
}

// Close closes this process's descriptor of the lock without unlocking it and
// without touching the pid file. The lock stays held as long as a duplicate of
// the descriptor is open elsewhere (the daemon that got File); otherwise the
// kernel releases it. The launcher of start -d calls it after starting the
// daemon. Close on a closed or released Lock returns nil.
func (l *Lock) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("pidfile: close %s: %w", l.lockPath, err)
	}
	return nil
}

// Release ends the master's ownership: it removes the pid file if it still
// holds our pid (the one last given to WritePID, else os.Getpid()), then
// unlocks and closes the lock file. The pid file goes first, while the lock
// still keeps others out, so a master starting right after cannot have its new
// pid file removed. The lock file itself is kept (see the package
// documentation). Unlocking also unlocks every duplicate of the descriptor, so
// only the last owner calls Release. Release on a closed or released Lock
// returns nil.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	want := l.pid
	if want == 0 {
		want = os.Getpid()
	}
	var errs []error
	if got, err := ReadPID(l.pidPath); err != nil {
		errs = append(errs, err)
	} else if got == want {
		if err := os.Remove(l.pidPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("pidfile: remove %s: %w", l.pidPath, err))
		}
	}
	if err := flock(int(l.f.Fd()), unix.LOCK_UN); err != nil {
		errs = append(errs, fmt.Errorf("pidfile: unlock %s: %w", l.lockPath, err))
	}
	if err := l.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pidfile: close %s: %w", l.lockPath, err))
	}
	l.f = nil
	return errors.Join(errs...)
}

// Running reports whether some process holds the lock of pidPath, and the pid
// from the pid file (0 if it is missing or malformed, which also happens
// while a launcher holds the lock and its daemon has not written the pid
// yet). A missing lock file means not running. Running opens the lock file
// read-only and never creates it, so an unprivileged user can ask about a
// root master. It takes a shared lock for an instant, see the package
// documentation.
func Running(pidPath string) (pid int, running bool, err error) {
	lockPath := pidPath + LockSuffix
	f, err := os.OpenFile(lockPath, os.O_RDONLY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		running = false
	case err != nil:
		return 0, false, fmt.Errorf("pidfile: open %s: %w", lockPath, err)
	default:
		lerr := flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		f.Close()
		switch {
		case lerr == nil:
			running = false
		case errors.Is(lerr, unix.EWOULDBLOCK):
			running = true
		default:
			return 0, false, fmt.Errorf("pidfile: probe %s: %w", lockPath, lerr)
		}
	}
	pid, err = ReadPID(pidPath)
	if err != nil {
		return 0, running, err
	}
	return pid, running, nil
}

// ReadPID reads the pid file. A missing file, or one that does not hold a
// positive decimal number, gives 0 and no error; other read errors (such as
// permission denied) are returned.
func ReadPID(pidPath string) (int, error) {
	b, err := os.ReadFile(pidPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pidfile: read %s: %w", pidPath, err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0, nil
	}
	return pid, nil
}

// openLockFile opens (creating if needed) the lock file for writing. A file
// we create gets 0644 whatever the umask, so unprivileged Running can open it.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err == nil {
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			return nil, fmt.Errorf("pidfile: chmod %s: %w", path, err)
		}
		return f, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("pidfile: create %s: %w", path, err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pidfile: open %s: %w", path, err)
	}
	return f, nil
}

// sameFile reports whether path currently names the inode open in f.
func sameFile(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("pidfile: stat %s: %w", f.Name(), err)
	}
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pidfile: stat %s: %w", path, err)
	}
	return os.SameFile(fi, pi), nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename. No fsync: a pid file does not outlive a crash
// usefully, and readers only need the rename's atomicity.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pidfile: write %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("pidfile: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("pidfile: write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("pidfile: write %s: %w", path, err)
	}
	return nil
}

// flock calls flock(2), retrying on EINTR.
func flock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			if err == nil {
				return nil
			}
			return err
		}
	}
}
