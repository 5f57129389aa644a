package http

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadCookie reports a Cookie that cannot be sent.
var ErrBadCookie = errors.New("invalid cookie")

// cookie problems, found without allocating so that AppendTo stays free.
const (
	cookieOK = iota
	cookieBadName
	cookieBadDomain
	cookieBadPath
	cookieBadSameSite
)

func (c *Cookie) check() int {
	switch {
	case !ValidFieldName(c.Name):
		return cookieBadName
	case !validAttr(c.Domain):
		return cookieBadDomain
	case !validAttr(c.Path):
		return cookieBadPath
	}
	switch c.SameSite {
	case "", "Strict", "Lax", "None":
	default:
		return cookieBadSameSite
	}
	return cookieOK
}

// Valid reports why c cannot be sent, or nil: the name must be a token;
// Domain and Path must not hold ';' or control characters (they would end
// the attribute or the field); SameSite must be "", "Strict", "Lax" or
// "None". The value may be anything: AppendTo percent-encodes it.
func (c *Cookie) Valid() error {
	switch c.check() {
	case cookieBadName:
		return fmt.Errorf("%w: name %q is not a token", ErrBadCookie, c.Name)
	case cookieBadDomain:
		return fmt.Errorf("%w %q: domain %q holds ';' or a control character", ErrBadCookie, c.Name, c.Domain)
	case cookieBadPath:
		return fmt.Errorf("%w %q: path %q holds ';' or a control character", ErrBadCookie, c.Name, c.Path)
	case cookieBadSameSite:
		return fmt.Errorf("%w %q: SameSite %q is not Strict, Lax or None", ErrBadCookie, c.Name, c.SameSite)
	}
	return nil
}

func validAttr(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == ';' || c == 0x7f {
			return false
		}
	}
	return true
}

// AppendTo appends c as a Set-Cookie field value, in Workerman's order:
// name=value with the value percent-encoded as PHP's rawurlencode (only
// A–Z a–z 0–9 - . _ ~ stay as they are), then Domain, Max-Age, Expires (when
// not zero), Path, Secure, HttpOnly and SameSite. A cookie that is not Valid
// appends nothing: dropping only a bad attribute would silently widen the
// cookie's scope.
func (c *Cookie) AppendTo(dst []byte) []byte {
	if c.check() != cookieOK {
		return dst
	}
	dst = append(dst, c.Name...)
	dst = append(dst, '=')
	dst = appendRawURLEncode(dst, c.Value)
	if c.Domain != "" {
		dst = append(dst, "; Domain="...)
		dst = append(dst, c.Domain...)
	}
	if c.MaxAge != 0 {
		dst = append(dst, "; Max-Age="...)
		dst = strconv.AppendInt(dst, int64(max(c.MaxAge, 0)), 10)
	}
	if !c.Expires.IsZero() {
		dst = append(dst, "; Expires="...)
		dst = AppendHTTPDate(dst, c.Expires)
	}
	if c.Path != "" {
		dst = append(dst, "; Path="...)
		dst = append(dst, c.Path...)
	}
	if c.Secure {
		dst = append(dst, "; Secure"...)
	}
	if c.HTTPOnly {
		dst = append(dst, "; HttpOnly"...)
	}
	if c.SameSite != "" {
		dst = append(dst, "; SameSite="...)
		dst = append(dst, c.SameSite...)
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// appendRawURLEncode is PHP's rawurlencode (RFC 3986 unreserved kept).
func appendRawURLEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
