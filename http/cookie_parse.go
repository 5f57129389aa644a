package http

import "strings"

// Cookie is the value of the request cookie name ("" when absent). See
// Cookies for how values are read.
func (r *Request) Cookie(name string) string {
	return r.Cookies()[name]
}

// Cookies are the request's cookies, read from every Cookie field as
// RFC 6265 §5.4 sends them ("a=1; b=2"), leniently: pairs are split at ';',
// names and values trimmed of spaces, pairs without '=' or with an empty
// name skipped, and the first of two cookies with the same name wins (the
// browser sends the most specific one first). A value's surrounding double
// quotes are removed, then its %XX escapes are decoded, as PHP's
// rawurldecode does: the inverse of how Response cookies are written, so a
// value set by Workerman-style code reads back unchanged; '+' stays '+'
// (unlike PHP's $_COOKIE), so base64 values survive; a malformed escape is
// kept as written. Names are not decoded.
//
// The map is the request's own, made once.
func (r *Request) Cookies() map[string]string {
	l := &r.lazy
	if l.done&reqDoneCookies == 0 {
		l.done |= reqDoneCookies
		l.cookies = map[string]string{}
		s := r.headStr()
		for _, f := range r.indexFields() {
			if reqEqualFold(f.name.of(r.head), "cookie") {
				reqParseCookies(l.cookies, s[f.value.a:f.value.b])
			}
		}
	}
	return l.cookies
}

// reqParseCookies adds the cookies of one Cookie field value to m.
func reqParseCookies(m map[string]string, v string) {
	for v != "" {
		var pair string
		pair, v, _ = strings.Cut(v, ";")
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		name = strings.Trim(name, " \t")
		if name == "" {
			continue
		}
		if _, dup := m[name]; dup {
			continue
		}
		value = strings.Trim(value, " \t")
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		m[name], _ = reqUnescape(value, false, false)
	}
}
