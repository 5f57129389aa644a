package http

import "github.com/workermand/workermand/internal/httpparse"

// Header methods compare names ASCII case-insensitively without allocating:
// Get is on the path of every response the encoder writes.

// Get returns the value of the first field named name, or "".
func (h Header) Get(name string) string {
	for i := range h {
		if equalFold(h[i].Name, name) {
			return h[i].Value
		}
	}
	return ""
}

// Has reports whether a field named name is present.
func (h Header) Has(name string) bool {
	for i := range h {
		if equalFold(h[i].Name, name) {
			return true
		}
	}
	return false
}

// Values returns the values of every field named name, in order, or nil.
func (h Header) Values(name string) []string {
	var vs []string
	for i := range h {
		if equalFold(h[i].Name, name) {
			vs = append(vs, h[i].Value)
		}
	}
	return vs
}

// Set replaces every field named name with one field: the first such field
// keeps its position (and takes name's spelling), or the field is appended.
// Set does not validate; the encoder skips invalid fields.
func (h *Header) Set(name, value string) {
	s := *h
	at := -1
	n := 0
	for i := range s {
		if equalFold(s[i].Name, name) {
			if at >= 0 {
				continue
			}
			at = n
		}
		s[n] = s[i]
		n++
	}
	clear(s[n:])
	s = s[:n]
	if at >= 0 {
		s[at] = Field{Name: name, Value: value}
	} else {
		s = append(s, Field{Name: name, Value: value})
	}
	*h = s
}

// Add appends a field, keeping any others of the same name.
func (h *Header) Add(name, value string) {
	*h = append(*h, Field{Name: name, Value: value})
}

// Del removes every field named name.
func (h *Header) Del(name string) {
	s := *h
	n := 0
	for i := range s {
		if !equalFold(s[i].Name, name) {
			s[n] = s[i]
			n++
		}
	}
	clear(s[n:])
	*h = s[:n]
}

// equalFold is strings.EqualFold restricted to ASCII, which is all a field
// name may hold; it never allocates and skips Unicode case folding. a may be
// the bytes of a request head.
func equalFold[T string | []byte](a T, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ValidFieldName reports whether s is a token (RFC 9110 §5.1), which is
// what a field name, a cookie name or a method must be.
func ValidFieldName(s string) bool { return httpparse.IsToken(s) }

// ValidFieldValue reports whether s may be sent as a field value: no CR, LF
// or NUL (which would let a value start a new field or end the head) and no
// other control character but HTAB. Bytes ≥ 0x80 are allowed (obs-text), as
// RFC 9110 §5.5 does. An empty value is valid.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
