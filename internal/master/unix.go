package master

import (
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/sockets"
)

// listenSocket binds one listening socket of w: a Unix socket file, whose
// identity is kept so that only that file is removed when the socket is
// closed (unixFiles), a UDP socket or a TCP one.
func (m *Master) listenSocket(w *config.Worker, k sockKey, addr netip.AddrPort) (int, error) {
	if w.Transport == "udp" {
		// Bound, not listening; children share it or, with reuse_port, get one each.
		return sockets.ListenUDP(addr, sockets.ListenOptions{ReusePort: w.ReusePort, V6Only: w.IPv6Only})
	}
	if !w.Addr.IsPath() {
		return sockets.ListenTCP(addr, sockets.ListenOptions{Backlog: w.Backlog, ReusePort: w.ReusePort, V6Only: w.IPv6Only})
	}
	fd, f, err := sockets.ListenUnix(w.Addr.Path, unixOptions(w))
	if err != nil {
		return -1, err
	}
	if m.unixFiles == nil {
		m.unixFiles = map[sockKey]sockets.UnixFile{}
	}
	m.unixFiles[k] = f
	m.log.Info("unix socket created", zap.String("worker", w.Name), zap.String("path", f.Path),
		zap.Stringer("mode", w.SocketMode), zap.Int("uid", w.SocketUID), zap.Int("gid", w.SocketGID))
	return fd, nil
}

// refreshSocketFile applies a reloaded config's socket_mode, socket_owner
// and socket_group to the Unix socket a reload keeps: the socket itself,
// and so its file and inode, stay, since the children inherit it.
func (m *Master) refreshSocketFile(w *config.Worker, k sockKey) error {
	f, ok := m.unixFiles[k]
	if !ok {
		return nil
	}
	if err := f.SetOwnerMode(unixOptions(w)); err != nil {
		return fmt.Errorf("worker %q: %w", w.Name, err)
	}
	return nil
}

func unixOptions(w *config.Worker) sockets.UnixOptions {
	return sockets.UnixOptions{Backlog: w.Backlog, Mode: w.SocketMode, UID: w.SocketUID, GID: w.SocketGID}
}

// removeSocketFile removes the file of a Unix socket the master closes: on
// the final stop, or when a reload dropped its worker. A file that another
// process bound at the path since is left alone.
func (m *Master) removeSocketFile(k sockKey) {
	f, ok := m.unixFiles[k]
	if !ok {
		return
	}
	delete(m.unixFiles, k)
	f.Remove()
	m.log.Info("unix socket removed", zap.String("worker", k.worker), zap.String("path", f.Path))
}
