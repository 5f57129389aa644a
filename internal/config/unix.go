package config

import (
	"io/fs"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/workermand/workermand/internal/listenaddr"
)

// unixTransport reconciles a listen address with the transport key, the
// way Workerman reads them: unix:///path is a raw stream on a Unix socket
// (the transport is the scheme), and a protocol on a Unix socket is written
// text:///path with transport = "unix". It rewrites a.Scheme to the
// protocol ("tcp" for unix://) and reports false after a problem.
func (ck *checker) unixTransport(w *Worker, a *listenaddr.Addr, t *table) bool {
	explicit := t.has("transport")
	switch {
	case a.Scheme == "unix" && explicit && w.Transport != "unix":
		ck.add(t.key("transport"), "transport %q contradicts the listen address %q: unix:// is a Unix socket (leave transport out)", w.Transport, w.Listen)
		return false
	case a.Scheme == "unix":
		w.Transport = "unix"
		a.Scheme = "tcp" // a raw stream, as tcp:// is over TCP
	case a.IsPath() && w.Transport != "unix":
		ck.add(t.key("listen"), "%q is a socket path: set transport = \"unix\", or write unix://%s for a raw stream", w.Listen, a.Path)
		return false
	case !a.IsPath() && w.Transport == "unix":
		ck.add(t.key("transport"), "transport \"unix\" listens on a socket path, as in %s:///run/app.sock, not on %q", a.Scheme, w.Listen)
		return false
	}
	return true
}

// socketKeys reads the keys that shape the listening socket beyond its
// address: socket_mode, socket_owner and socket_group of a Unix socket,
// ipv6_only of an IPv6 one. Each is refused where it cannot apply, so a
// key that would silently do nothing is reported.
func (ck *checker) socketKeys(w *Worker, t *table) {
	unixOK := w.Transport == "unix" && w.Addr.IsPath()
	notUnix := func(k string) {
		ck.add(t.key(k), "only applies to Unix sockets (transport \"unix\", listen = \"unix:///path\")")
	}
	var mode string
	if t.str("socket_mode", &mode) {
		switch m, err := strconv.ParseUint(mode, 8, 32); {
		case !unixOK:
			notUnix("socket_mode")
		case err != nil || mode == "":
			ck.add(t.key("socket_mode"), "%q is not an octal mode, as in \"0660\"", mode)
		case m > 0o777:
			ck.add(t.key("socket_mode"), "%q has bits beyond 0777 (set-id and sticky bits mean nothing on a socket)", mode)
		case m&0o200 == 0:
			ck.add(t.key("socket_mode"), "%q does not let the owner write: connecting to a Unix socket needs write permission", mode)
		default:
			w.SocketMode = fs.FileMode(m)
		}
	}
	// Workerman gives the socket file to the worker's user and group.
	w.SocketUID, w.SocketGID = w.UID, w.GID
	for _, o := range []struct {
		key, what, leaveOut string
		name                *string
		id                  *int
		lookup              func(string) (int, error)
	}{
		{"socket_owner", "user", "the worker's user", &w.SocketOwner, &w.SocketUID, lookupUID},
		{"socket_group", "group", "the worker's group", &w.SocketGroup, &w.SocketGID, lookupGID},
	} {
		if !t.str(o.key, o.name) {
			continue
		}
		switch id, err := o.lookup(*o.name); {
		case !unixOK:
			notUnix(o.key)
		case *o.name == "":
			ck.add(t.key(o.key), "must not be empty (leave it out for %s)", o.leaveOut)
		case err != nil:
			ck.add(t.key(o.key), "%s", lookupMsg(o.what, *o.name, err))
		default:
			*o.id = id
		}
	}
	if unixOK && w.ReusePort && t.has("reuse_port") {
		ck.add(t.key("reuse_port"), "does not apply to Unix sockets: one socket file is shared by the worker's processes")
	}
	if t.has("ipv6_only") {
		t.boolean("ipv6_only", &w.IPv6Only)
		if !w.Addr.IP.Is6() || w.Addr.IP.Is4In6() {
			ck.add(t.key("ipv6_only"), "only applies to IPv6 listen addresses, such as [::]:8080")
		}
	}
}

// lookupUID and lookupGID resolve a user or group name, or a number that
// names none.
func lookupUID(name string) (int, error) {
	return lookupID(name, user.Lookup, user.LookupId, func(u *user.User) string { return u.Uid })
}

func lookupGID(name string) (int, error) {
	return lookupID(name, user.LookupGroup, user.LookupGroupId, func(g *user.Group) string { return g.Gid })
}

func lookupID[T any](name string, byName, byID func(string) (T, error), id func(T) string) (int, error) {
	v, err := byName(name)
	if err != nil && isDigits(name) {
		v, err = byID(name)
	}
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(id(v))
}

// pathCollides reports whether two workers would bind the same socket file.
func pathCollides(a, b listenaddr.Addr) bool {
	return a.IsPath() && b.IsPath() && a.Path == b.Path
}

// wildcardCovers reports whether a listener on x takes port numbers that a
// listener on y would need too: the same address, or the wildcard covering
// it: 0.0.0.0 covers every IPv4 address, [::] every IPv6 one and, unless
// it is IPv6-only, every IPv4 one as well.
func wildcardCovers(x netip.Addr, xV6Only bool, y netip.Addr) bool {
	switch {
	case x == y:
		return true
	case x == netip.IPv4Unspecified():
		return y.Is4()
	case x == netip.IPv6Unspecified():
		return y.Is6() || !xV6Only
	}
	return false
}

// checkSocketFile warns about a Unix socket the master will not be able to
// bind: its directory is missing, or it is to be given to another owner by
// a master that is not root.
func (w *Worker) checkSocketFile(say func(key, format string, args ...any)) {
	if !w.Addr.IsPath() {
		return
	}
	k := w.Key()
	dir := filepath.Dir(w.Addr.Path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		say(joinKey(k, "listen"), "the directory %s of the socket does not exist: create it before starting", dir)
	}
	if geteuid() != 0 && w.SocketOwner != "" && w.SocketUID != geteuid() {
		say(joinKey(k, "socket_owner"), "the master will not run as root, so it cannot give the socket file to uid %d", w.SocketUID)
	}
}
