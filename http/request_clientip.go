package http

import (
	"net/netip"
	"strings"
)

// ClientIP is the address of the client. It is RemoteAddr's address unless
// that peer is one of Options.TrustedProxies: then X-Forwarded-For is walked
// from the right (the entries proxies appended last), skipping trusted
// proxies, and the first address that is not one is the client. When every
// entry is a trusted proxy, the left-most is the answer. Without
// X-Forwarded-For, or when the walk meets an entry that is not an address
// (so the chain cannot be trusted past it), X-Real-IP is used if it holds an
// address, else the peer.
//
// A client that is not a trusted proxy cannot choose the answer: its
// X-Forwarded-For and X-Real-IP fields are ignored, and the entries it put
// at the left of a chain are never reached while a proxy's own entry is
// untrusted.
func (r *Request) ClientIP() netip.Addr {
	peer := r.src.Remote.Addr().Unmap()
	o := r.options()
	if !peer.IsValid() || !o.Trusted(peer) {
		return peer
	}
	if a, ok := r.forwardedFor(o); ok {
		return a
	}
	if v, ok := r.firstHeader("x-real-ip"); ok {
		if a, ok := reqParseForwardedAddr(v); ok {
			return a
		}
	}
	return peer
}

// forwardedFor walks X-Forwarded-For, all its fields taken as one list in
// order. ok is false without the field or when the walk meets a
// non-address.
func (r *Request) forwardedFor(o *Options) (netip.Addr, bool) {
	fs := r.indexFields()
	s := r.headStr()
	var leftmost netip.Addr
	for i := len(fs) - 1; i >= 0; i-- {
		if !reqEqualFold(fs[i].name.of(r.head), "x-forwarded-for") {
			continue
		}
		list := s[fs[i].value.a:fs[i].value.b]
		for list != "" {
			var e string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				e, list = list[j+1:], list[:j]
			} else {
				e, list = list, ""
			}
			e = strings.Trim(e, " \t")
			if e == "" {
				continue
			}
			a, ok := reqParseForwardedAddr(e)
			if !ok {
				return netip.Addr{}, false
			}
			if !o.Trusted(a) {
				return a, true
			}
			leftmost = a
		}
	}
	return leftmost, leftmost.IsValid()
}

// reqParseForwardedAddr reads an address as proxies write it: "1.2.3.4",
// "2001:db8::1", with a port ("1.2.3.4:5678", "[2001:db8::1]:5678") or in
// brackets.
func reqParseForwardedAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
