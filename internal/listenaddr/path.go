package listenaddr

import (
	"fmt"
	"path/filepath"
	"strings"
)

// MaxPathLen is the longest Unix socket path: sun_path holds 108 bytes,
// the last of them the terminating NUL.
const MaxPathLen = 107

// IsPath reports whether a is a Unix socket address (Path set).
func (a Addr) IsPath() bool { return a.Path != "" }

// ParseListen parses a listen address: scheme://ip:port, or
// scheme:///absolute/path for a Unix socket (Workerman writes the raw
// stream unix:///run/app.sock, and a protocol over a Unix socket as
// text:///run/app.sock with the transport set to unix). Host names are
// refused: listeners are bound before any resolver could be trusted.
func ParseListen(s string) (Addr, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.HasPrefix(rest, "/") {
		if ok && scheme == "unix" {
			return Addr{}, fmt.Errorf("%w %q: a unix address is a path, as in unix:///run/app.sock", ErrSyntax, s)
		}
		return Parse(s, true)
	}
	if !validScheme(scheme) {
		return Addr{}, fmt.Errorf("%w %q: bad scheme %q", ErrSyntax, s, scheme)
	}
	switch {
	case strings.IndexByte(rest, 0) >= 0:
		return Addr{}, fmt.Errorf("%w %q: the socket path must not contain NUL bytes", ErrSyntax, s)
	case len(rest) > MaxPathLen:
		return Addr{}, fmt.Errorf("%w %q: the socket path is %d bytes, longer than the %d a Unix socket address holds", ErrSyntax, s, len(rest), MaxPathLen)
	case rest == "/" || strings.HasSuffix(rest, "/"):
		return Addr{}, fmt.Errorf("%w %q: the socket path names a directory", ErrSyntax, s)
	case filepath.Clean(rest) != rest:
		// Two spellings of one file would escape the check for workers
		// sharing a path, and the status would show either.
		return Addr{}, fmt.Errorf("%w %q: write the socket path as %q", ErrSyntax, s, filepath.Clean(rest))
	}
	return Addr{Scheme: scheme, Path: rest}, nil
}
