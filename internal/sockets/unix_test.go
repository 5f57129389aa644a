package sockets

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListenUnixModeAndRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	fd, f, err := ListenUnix(path, UnixOptions{Mode: 0o660, UID: -1, GID: os.Getgid()})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket file mode %v, want a socket with 0660", fi.Mode())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	// The peer's credentials are this process's.
	cfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	cred, err := PeerCredentials(cfd)
	unix.Close(cfd)
	c.Close()
	if err != nil || cred != (Credentials{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid()}) {
		t.Errorf("PeerCredentials = %+v, %v; want this process's", cred, err)
	}
	// A second listener on the path is refused while the first accepts.
	if fd2, _, err := ListenUnix(path, UnixOptions{UID: -1, GID: -1}); !errors.Is(err, ErrSocketInUse) {
		unix.Close(fd2)
		t.Fatalf("second ListenUnix: %v, want ErrSocketInUse", err)
	}
	// A file that replaced ours is not removed.
	os.Remove(path)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.Remove()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Remove removed a file it did not create: %v", err)
	}
	os.Remove(path)
}

func TestListenUnixStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	fd, _, err := ListenUnix(path, UnixOptions{UID: -1, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Closing without removing is what a crash leaves.
	unix.Close(fd)
	fd, f2, err := ListenUnix(path, UnixOptions{UID: -1, GID: -1})
	if err != nil {
		t.Fatalf("ListenUnix over a stale socket: %v", err)
	}
	defer unix.Close(fd)
	// (The inode may be the stale file's number again: tmpfs reuses them.)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the new listener: %v", err)
	}
	c.Close()
	f2.Remove()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("after Remove: %v", err)
	}
}

func TestListenUnixRefusesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ListenUnix(path, UnixOptions{UID: -1, GID: -1}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("ListenUnix on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("the file was changed: %q", b)
	}
}

func TestListenTCPV6Only(t *testing.T) {
	for _, v6only := range []bool{false, true} {
		fd, err := ListenTCP(netip.MustParseAddrPort("[::]:0"), ListenOptions{V6Only: v6only})
		if err != nil {
			t.Skipf("no IPv6 here: %v", err)
		}
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		unix.Close(fd)
		if err != nil || (v == 1) != v6only {
			t.Errorf("V6Only %v: IPV6_V6ONLY = %d, %v", v6only, v, err)
		}
	}
}
