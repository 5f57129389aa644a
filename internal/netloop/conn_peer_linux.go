package netloop

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/sockets"
)

// ErrNotUnix is PeerCredentials' answer for a connection that is not an
// open Unix socket.
var ErrNotUnix = errors.New("netloop: not an open Unix socket connection")

// IsUnix reports whether c is an open Unix socket connection.
func (c *Conn) IsUnix() bool {
	if c.fd < 0 || c.udp() != nil {
		return false
	}
	sa, err := unix.Getsockname(c.fd)
	_, ok := sa.(*unix.SockaddrUnix)
	return err == nil && ok
}

// PeerCredentials returns the process, user and group of the peer of a
// Unix socket connection, as the kernel recorded them at connect
// (SO_PEERCRED). Loop-only.
func (c *Conn) PeerCredentials() (sockets.Credentials, error) {
	if !c.IsUnix() {
		return sockets.Credentials{}, ErrNotUnix
	}
	return sockets.PeerCredentials(c.fd)
}
