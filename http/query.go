package http

import (
	"net/url"
	"strings"
)

// reqParseQuery decodes application/x-www-form-urlencoded text the way PHP's
// parse_str reads it, minus PHP's renaming: pairs are separated by '&' only
// (not ';'), '+' is a space, %XX is decoded and a malformed escape is kept
// as written, a pair without '=' has the empty value, and a pair with an
// empty name is dropped. Names are taken literally: "a[]" stays "a[]", and
// repeated names keep every value in order.
func reqParseQuery(q string) url.Values {
	v := url.Values{}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		if name == "" {
			continue
		}
		name, _ = reqUnescape(name, true, false)
		value, _ = reqUnescape(value, true, false)
		v[name] = append(v[name], value)
	}
	return v
}

func reqUnhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// reqUnescape decodes %XX escapes in s, and '+' as a space when plus is set.
// A '%' not followed by two hex digits is kept as it is, unless strict is
// set, in which case ok is false and s is returned unchanged. It returns s
// itself when there is nothing to decode, so the common case does not
// allocate.
func reqUnescape(s string, plus, strict bool) (out string, ok bool) {
	n := 0 // bytes to change
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			n++
		case '+':
			if plus {
				n++
			}
		}
	}
	if n == 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plus:
			b.WriteByte(' ')
		case c == '%':
			if i+2 < len(s) {
				hi, ok1 := reqUnhex(s[i+1])
				lo, ok2 := reqUnhex(s[i+2])
				if ok1 && ok2 {
					b.WriteByte(hi<<4 | lo)
					i += 2
					continue
				}
			}
			if strict {
				return s, false
			}
			b.WriteByte('%')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
