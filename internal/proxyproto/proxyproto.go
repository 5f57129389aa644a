// Package proxyproto parses the PROXY protocol header (versions 1 and 2) that
// load balancers such as HAProxy, nginx and cloud balancers put in front of a
// proxied TCP stream to tell the server the client's address.
//
// See https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt.
package proxyproto

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// MaxV1Len is the longest version 1 header, CRLF included.
const MaxV1Len = 107

// v1Prefix starts every version 1 header.
var v1Prefix = []byte("PROXY ")

// v2Sig starts every version 2 header.
var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v2HeaderLen is the fixed part of a version 2 header: signature,
// version/command, family/transport and length.
const v2HeaderLen = 16

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("proxyproto: malformed PROXY header")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse reads a PROXY header at the start of buf. It returns:
//
//   - n = 0, err = nil: buf is a valid beginning of a header; more bytes are
//     needed.
//   - n > 0: the header is the first n bytes of buf. ok reports whether it
//     carries a client address, src; it is false for "PROXY UNKNOWN" and for
//     a version 2 LOCAL command or an unsupported address family, where the
//     connection's real peer is to be kept.
//   - err != nil (wrapping ErrMalformed): buf does not start with a valid
//     header.
func Parse(buf []byte) (n int, src netip.AddrPort, ok bool, err error) {
	if len(buf) == 0 {
		return 0, src, false, nil
	}
	switch buf[0] {
	case 'P':
		return parseV1(buf)
	case '\r':
		return parseV2(buf)
	}
	return 0, src, false, malformed("no PROXY signature")
}

// hasPrefixSoFar reports whether buf and want agree on their common length.
func hasPrefixSoFar(buf, want []byte) bool {
	m := min(len(buf), len(want))
	return bytes.Equal(buf[:m], want[:m])
}

func parseV1(buf []byte) (int, netip.AddrPort, bool, error) {
	var zero netip.AddrPort
	if !hasPrefixSoFar(buf, v1Prefix) {
		return 0, zero, false, malformed("no PROXY signature")
	}
	limit := min(len(buf), MaxV1Len)
	end := bytes.IndexByte(buf[:limit], '\n')
	if end < 0 {
		if len(buf) >= MaxV1Len {
			return 0, zero, false, malformed("version 1 header longer than %d bytes", MaxV1Len)
		}
		if i := bytes.IndexByte(buf, '\r'); i >= 0 && i+1 < len(buf) {
			return 0, zero, false, malformed("CR not followed by LF")
		}
		return 0, zero, false, nil
	}
	if end < len(v1Prefix)+1 || buf[end-1] != '\r' {
		return 0, zero, false, malformed("version 1 header does not end with CRLF")
	}
	line := buf[len(v1Prefix) : end-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		// The same answer as when the bytes after that CR had not arrived.
		return 0, zero, false, malformed("CR not followed by LF")
	}
	n := end + 1
	fields := bytes.Split(line, []byte(" "))
	switch string(fields[0]) {
	case "UNKNOWN":
		// Anything may follow UNKNOWN; the receiver ignores it.
		return n, zero, false, nil
	case "TCP4", "TCP6":
	default:
		return 0, zero, false, malformed("unknown version 1 protocol %q", fields[0])
	}
	if len(fields) != 5 {
		return 0, zero, false, malformed("version 1 header has %d fields, want 5", len(fields)+1)
	}
	src, err := netip.ParseAddr(string(fields[1]))
	if err != nil {
		return 0, zero, false, malformed("bad source address %q", fields[1])
	}
	dst, err := netip.ParseAddr(string(fields[2]))
	if err != nil {
		return 0, zero, false, malformed("bad destination address %q", fields[2])
	}
	want4 := string(fields[0]) == "TCP4"
	for _, a := range []netip.Addr{src, dst} {
		if a.Zone() != "" || a.Is4() != want4 {
			return 0, zero, false, malformed("address %s does not match %s", a, fields[0])
		}
	}
	sport, err := parsePort(fields[3])
	if err != nil {
		return 0, zero, false, err
	}
	if _, err := parsePort(fields[4]); err != nil {
		return 0, zero, false, err
	}
	return n, netip.AddrPortFrom(src, sport), true, nil
}

// parsePort parses a decimal port without sign or leading zeros.
func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, malformed("bad port %q", b)
	}
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, malformed("bad port %q", b)
		}
	}
	p, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, malformed("bad port %q", b)
	}
	return uint16(p), nil
}

const (
	cmdLocal = 0x0
	cmdProxy = 0x1

	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3

	transUnspec = 0x0
	transStream = 0x1
	transDgram  = 0x2
)

func parseV2(buf []byte) (int, netip.AddrPort, bool, error) {
	var zero netip.AddrPort
	if !hasPrefixSoFar(buf, v2Sig) {
		return 0, zero, false, malformed("no PROXY signature")
	}
	if len(buf) > len(v2Sig) {
		vc := buf[12]
		if vc>>4 != 2 {
			return 0, zero, false, malformed("version 2 header with version %d", vc>>4)
		}
		if cmd := vc & 0xf; cmd != cmdLocal && cmd != cmdProxy {
			return 0, zero, false, malformed("unknown version 2 command %#x", cmd)
		}
	}
	if len(buf) > 13 {
		ft := buf[13]
		if fam, tr := ft>>4, ft&0xf; fam > famUnix || tr > transDgram {
			return 0, zero, false, malformed("unknown version 2 family/transport %#02x", ft)
		}
	}
	if len(buf) < v2HeaderLen {
		return 0, zero, false, nil
	}
	body := int(buf[14])<<8 | int(buf[15])
	n := v2HeaderLen + body
	fam, tr := buf[13]>>4, buf[13]&0xf
	// Check the address block's size before waiting for it, so a short
	// length is reported at once.
	var addrLen int
	switch fam {
	case famInet:
		addrLen = 12
	case famInet6:
		addrLen = 36
	case famUnix:
		addrLen = 216
	}
	if body < addrLen {
		return 0, zero, false, malformed("version 2 length %d too short for its address family", body)
	}
	if len(buf) < n {
		return 0, zero, false, nil
	}
	if buf[12]&0xf == cmdLocal {
		// Health checks from the proxy itself: keep the real peer.
		return n, zero, false, nil
	}
	if tr != transStream {
		// UNSPEC, a datagram or unix address: nothing usable for a TCP
		// connection's client address. The spec says to accept it and keep
		// the real peer.
		return n, zero, false, nil
	}
	a := buf[v2HeaderLen:]
	switch fam {
	case famInet:
		src := netip.AddrFrom4([4]byte(a[0:4]))
		port := uint16(a[8])<<8 | uint16(a[9])
		return n, netip.AddrPortFrom(src, port), true, nil
	case famInet6:
		src := netip.AddrFrom16([16]byte(a[0:16])).Unmap()
		port := uint16(a[32])<<8 | uint16(a[33])
		return n, netip.AddrPortFrom(src, port), true, nil
	}
	return n, zero, false, nil
}
