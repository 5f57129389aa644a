package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// UnixOptions tune a Unix stream listening socket.
type UnixOptions struct {
	Backlog int
	// Mode is the socket file's permission bits; 0 leaves what the umask
	// gave. Connecting needs write permission on the file.
	Mode fs.FileMode
	// UID and GID own the socket file; -1 keeps the creator's.
	UID, GID int
}

// ErrSocketInUse is returned by ListenUnix when a process accepts on the
// socket path already: another daemon, or one still draining.
var ErrSocketInUse = errors.New("another process is listening on this socket")

// UnixFile identifies the socket file a listener created, so that it is
// removed only while it is still that file: a path unlinked and bound
// again by someone else is not ours to remove.
type UnixFile struct {
	Path     string
	Dev, Ino uint64
}

// ListenUnix creates a non-blocking, close-on-exec Unix stream socket
// listening on path. A socket file left there by a process that died (no
// one accepts on it: connecting is refused) is removed first; a live one
// fails with ErrSocketInUse, and any other file is left alone and fails.
func ListenUnix(path string, opts UnixOptions) (int, UnixFile, error) {
	if opts.Backlog <= 0 {
		opts.Backlog = DefaultBacklog
	}
	if err := removeStale(path); err != nil {
		return -1, UnixFile{}, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, UnixFile{}, os.NewSyscallError("socket", err)
	}
	fail := func(err error) (int, UnixFile, error) {
		unix.Close(fd)
		return -1, UnixFile{}, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	// From here the file is ours: remove it again if we fail.
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		unix.Close(fd)
		return -1, UnixFile{}, os.NewSyscallError("stat", err)
	}
	f := UnixFile{Path: path, Dev: st.Dev, Ino: st.Ino}
	undo := func(err error) (int, UnixFile, error) {
		f.Remove()
		return fail(err)
	}
	// Owner and mode are set before listen, so that no client connects
	// while the file still has the umask's permissions.
	if opts.UID >= 0 || opts.GID >= 0 {
		if err := unix.Lchown(path, opts.UID, opts.GID); err != nil {
			return undo(fmt.Errorf("chown %s to %d:%d: %w", path, opts.UID, opts.GID, err))
		}
	}
	if opts.Mode != 0 {
		if err := unix.Chmod(path, uint32(opts.Mode.Perm())); err != nil {
			return undo(fmt.Errorf("chmod %s %#o: %w", path, opts.Mode.Perm(), err))
		}
	}
	if err := unix.Listen(fd, opts.Backlog); err != nil {
		return undo(os.NewSyscallError("listen", err))
	}
	return fd, f, nil
}

// SetOwnerMode applies opts' owner and mode to the socket file again (a
// reload that changed them keeps the socket). It does nothing when the
// path no longer names f.
func (f UnixFile) SetOwnerMode(opts UnixOptions) error {
	if !f.current() {
		return nil
	}
	if opts.UID >= 0 || opts.GID >= 0 {
		if err := unix.Lchown(f.Path, opts.UID, opts.GID); err != nil {
			return fmt.Errorf("chown %s to %d:%d: %w", f.Path, opts.UID, opts.GID, err)
		}
	}
	if opts.Mode != 0 {
		if err := unix.Chmod(f.Path, uint32(opts.Mode.Perm())); err != nil {
			return fmt.Errorf("chmod %s %#o: %w", f.Path, opts.Mode.Perm(), err)
		}
	}
	return nil
}

// Remove unlinks the socket file if the path still names the file the
// listener created.
func (f UnixFile) Remove() {
	if f.Path != "" && f.current() {
		_ = unix.Unlink(f.Path)
	}
}

func (f UnixFile) current() bool {
	var st unix.Stat_t
	return unix.Lstat(f.Path, &st) == nil && st.Dev == f.Dev && st.Ino == f.Ino
}

// removeStale removes a socket file no process accepts on. Connecting is
// the only test that tells: the file outlives its listener, and a process
// may hold the listener without any lock we could see.
func removeStale(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return os.NewSyscallError("lstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	unix.Close(fd)
	switch {
	case err == nil, errors.Is(err, unix.EAGAIN):
		// EAGAIN: a listener whose backlog is full, busy but alive.
		return ErrSocketInUse
	case errors.Is(err, unix.ECONNREFUSED):
		if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove stale socket %s: %w", path, err)
		}
		return nil
	default:
		return fmt.Errorf("probe existing socket %s: %w", path, os.NewSyscallError("connect", err))
	}
}

// Credentials are a Unix socket peer's process, user and group, as the
// kernel recorded them when it connected (SO_PEERCRED).
type Credentials struct {
	PID, UID, GID int
}

// PeerCredentials reads the credentials of the peer of the Unix socket fd.
func PeerCredentials(fd int) (Credentials, error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Credentials{}, os.NewSyscallError("getsockopt SO_PEERCRED", err)
	}
	return Credentials{PID: int(u.Pid), UID: int(u.Uid), GID: int(u.Gid)}, nil
}
