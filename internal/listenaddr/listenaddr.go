// Package listenaddr parses workermand addresses of the form
// scheme://host:port, as used by Worker listen addresses and by outbound
// connections: text://0.0.0.0:2347, frame://[::1]:9000, tcp://example.com:80;
// and, for listeners, Unix socket paths: unix:///run/app.sock.
package listenaddr

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Addr is a parsed address.
type Addr struct {
	// Scheme selects the protocol ("text", "frame", "tcp", …).
	Scheme string
	// Host is the host as written, without IPv6 brackets.
	Host string
	// Port is the port number.
	Port uint16
	// IP is Host parsed as an IP literal; invalid when Host is a name.
	IP netip.Addr
	// Path is the Unix socket path of scheme:///path (ParseListen); Host,
	// Port and IP are then unset.
	Path string
}

// AddrPort is the address as an IP and port; valid only when IP is.
func (a Addr) AddrPort() netip.AddrPort { return netip.AddrPortFrom(a.IP, a.Port) }

func (a Addr) String() string {
	if a.Path != "" {
		return a.Scheme + "://" + a.Path
	}
	host := a.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return a.Scheme + "://" + host + ":" + strconv.Itoa(int(a.Port))
}

// ErrSyntax wraps every parse error.
var ErrSyntax = errors.New("invalid address")

// Parse splits s into scheme, host and port. When ipOnly is set the host must
// be an IP literal (listen addresses are bound before any resolver could be
// trusted); otherwise a name is accepted and left for the caller to resolve.
func Parse(s string, ipOnly bool) (Addr, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Addr{}, fmt.Errorf("%w %q: want scheme://host:port", ErrSyntax, s)
	}
	if !validScheme(scheme) {
		return Addr{}, fmt.Errorf("%w %q: bad scheme %q", ErrSyntax, s, scheme)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return Addr{}, fmt.Errorf("%w %q: unexpected %q after the port", ErrSyntax, s, rest[i:])
	}
	colon := strings.LastIndexByte(rest, ':')
	if colon < 0 || colon < strings.LastIndexByte(rest, ']') { // "[::1]" has no port
		return Addr{}, fmt.Errorf("%w %q: missing port", ErrSyntax, s)
	}
	host, portText := rest[:colon], rest[colon+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return Addr{}, fmt.Errorf("%w %q: unclosed '['", ErrSyntax, s)
		}
		host = host[1 : len(host)-1]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return Addr{}, fmt.Errorf("%w %q: %q is not an IPv6 address", ErrSyntax, s, host)
		}
	} else if strings.Contains(host, ":") {
		return Addr{}, fmt.Errorf("%w %q: IPv6 addresses need brackets, as in [::1]:80", ErrSyntax, s)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || portText == "" || portText[0] == '+' {
		return Addr{}, fmt.Errorf("%w %q: port %q is not a number from 0 to 65535", ErrSyntax, s, portText)
	}
	a := Addr{Scheme: scheme, Host: host, Port: uint16(port)}
	if host == "" {
		return Addr{}, fmt.Errorf("%w %q: missing host (use 0.0.0.0 or [::] for every interface)", ErrSyntax, s)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return Addr{}, fmt.Errorf("%w %q: zoned IPv6 addresses are not supported", ErrSyntax, s)
		}
		a.IP = ip
	} else if ipOnly {
		return Addr{}, fmt.Errorf("%w %q: host %q must be an IP address", ErrSyntax, s, host)
	} else if !validHostname(host) {
		return Addr{}, fmt.Errorf("%w %q: %q is not a valid host name", ErrSyntax, s, host)
	}
	return a, nil
}

// validScheme follows RFC 3986's scheme syntax, lower case only.
func validScheme(scheme string) bool {
	return scheme != "" && scheme[0] >= 'a' && scheme[0] <= 'z' && strings.IndexFunc(scheme, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) < 0
}

// validHostname follows RFC 1123, including its rule that the last label is
// not all digits, so 256.0.0.1 is refused rather than sent to DNS.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	h = strings.TrimSuffix(h, ".")
	if last := h[strings.LastIndexByte(h, '.')+1:]; strings.Trim(last, "0123456789") == "" {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
