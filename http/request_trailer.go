package http

import "strings"

// Trailer is the value of the trailer field name of a chunked request
// (case-insensitive; repeated fields joined with ", "; "" when absent).
// Trailer fields are not merged into the header fields: a client cannot
// smuggle a Host or Content-Type in them.
func (r *Request) Trailer(name string) string {
	l := &r.lazy
	if l.done&reqDoneTrailer == 0 {
		l.done |= reqDoneTrailer
		l.trailerFields = reqIndexFields(r.trailer, 0, l.trailerFields[:0])
	}
	if l.done&reqDoneTrailerStr == 0 && len(l.trailerFields) > 0 {
		l.done |= reqDoneTrailerStr
		l.trailerStr = string(r.trailer)
	}
	var b strings.Builder
	found := ""
	n := 0
	for _, f := range l.trailerFields {
		if !reqEqualFold(f.name.of(r.trailer), name) {
			continue
		}
		v := l.trailerStr[f.value.a:f.value.b]
		switch n++; n {
		case 1:
			found = v
		case 2:
			b.WriteString(found)
			fallthrough
		default:
			b.WriteString(", ")
			b.WriteString(v)
		}
	}
	if n > 1 {
		return b.String()
	}
	return found
}
