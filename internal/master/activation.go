package master

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/sockets"
)

// systemd socket activation (sd_listen_fds(3)): systemd binds the sockets
// of a .socket unit and starts the service with them as descriptors 3 and
// up, LISTEN_FDS saying how many, LISTEN_PID for whom, and LISTEN_FDNAMES
// their FileDescriptorName= values. The master takes a worker's socket
// from there instead of binding it: the one named after the worker, or
// else the one bound to the worker's address; a worker none matches binds
// its own, and a socket no worker takes is closed with a warning.

// listenFDsStart is the first descriptor systemd passes.
const listenFDsStart = 3

// SocketActivation takes the sockets systemd passed this process, nil when
// it passed none. It clears LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, so
// that no process started later believes they are its own, and marks the
// descriptors close-on-exec.
func SocketActivation() (*Inheritance, error) {
	pidStr, fdsStr, namesStr := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if fdsStr == "" {
		return nil, nil
	}
	if pid, err := strconv.Atoi(pidStr); err != nil || pid != os.Getpid() {
		return nil, nil // meant for another process (the one that started us)
	}
	n, err := strconv.Atoi(fdsStr)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: not a count", fdsStr)
	}
	var names []string
	if namesStr != "" {
		names = strings.Split(namesStr, ":")
	}
	in := &Inheritance{activate: true}
	for i := range n {
		fd := listenFDsStart + i
		unix.CloseOnExec(fd)
		s := &inheritedSocket{fd: fd}
		if i < len(names) {
			s.name = names[i]
		}
		in.sockets = append(in.sockets, s)
	}
	return in, nil
}

// inheritAddr is where a worker listens, to match an inherited socket.
type inheritAddr struct {
	ap   netip.AddrPort
	path string // a Unix socket's
}

func inheritAddrOf(w *config.Worker, ap netip.AddrPort) inheritAddr {
	if w.Addr.IsPath() {
		return inheritAddr{path: w.Addr.Path}
	}
	return inheritAddr{ap: ap}
}

// matches reports whether socket fd is of kind and bound to a.
func (a inheritAddr) matches(fd int, kind string) bool {
	if socketKindOf(fd) != kind {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	if a.path != "" {
		su, ok := sa.(*unix.SockaddrUnix)
		return ok && su.Name == a.path
	}
	got := sockets.SockaddrToAddrPort(sa)
	return a.ap.Port() != 0 && got.IsValid() &&
		netip.AddrPortFrom(got.Addr().Unmap(), got.Port()) == netip.AddrPortFrom(a.ap.Addr().Unmap(), a.ap.Port())
}

// socketKindOf is the socketKind of an open socket: tcp, udp or unix; ""
// for anything else.
func socketKindOf(fd int) string {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return ""
	}
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return ""
	}
	switch {
	case domain == unix.AF_UNIX && typ == unix.SOCK_STREAM:
		return "unix"
	case (domain == unix.AF_INET || domain == unix.AF_INET6) && typ == unix.SOCK_STREAM:
		return "tcp"
	case (domain == unix.AF_INET || domain == unix.AF_INET6) && typ == unix.SOCK_DGRAM:
		return "udp"
	}
	return ""
}

// socketName is the address socket fd is bound to, for logs.
func socketName(fd int) string {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "?"
	}
	if su, ok := sa.(*unix.SockaddrUnix); ok {
		return su.Name
	}
	if ap := sockets.SockaddrToAddrPort(sa); ap.IsValid() {
		return ap.String()
	}
	return "?"
}
