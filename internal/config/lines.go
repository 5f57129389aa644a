package config

import (
	"bytes"
	"strconv"
	"strings"
)

// lineIndex maps key paths, in the form Problem.Key uses ("pid_file",
// "worker[1]", "worker[1].count", "worker[1].options.greeting"), to the line
// where the key, or the header of the table it names, first appears. The
// decoder reports positions only for syntax errors, and for keys inside
// [[worker]] tables it cannot tell one worker from the next, so the checker
// finds lines here.
type lineIndex map[string]int

// line returns the line of key, or of its nearest ancestor that has one, or
// 0.
func (ix lineIndex) line(key string) int {
	for _, k := range ancestors(key) {
		if l, ok := ix[k]; ok {
			return l
		}
	}
	return 0
}

func (ix lineIndex) set(key string, line int) {
	if _, ok := ix[key]; !ok {
		ix[key] = line
	}
}

// isBareKey reports whether s can be written as a bare TOML key.
func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareChar(s[i]) {
			return false
		}
	}
	return true
}

func isBareChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// joinKey appends the key seg to the path base, quoting seg if it is not a
// bare key.
func joinKey(base, seg string) string {
	if !isBareKey(seg) {
		seg = strconv.Quote(seg)
	}
	if base == "" {
		return seg
	}
	return base + "." + seg
}

// indexKey names element i of the array at path base.
func indexKey(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// ancestors returns key and the paths of its ancestors, longest first:
// "worker[1].options.x", "worker[1].options", "worker[1]", "worker".
func ancestors(key string) []string {
	var cuts []int
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '"':
			for i++; i < len(key) && key[i] != '"'; i++ {
				if key[i] == '\\' {
					i++
				}
			}
		case '.', '[':
			if i > 0 {
				cuts = append(cuts, i)
			}
		}
	}
	out := make([]string, 0, len(cuts)+1)
	out = append(out, key)
	for i := len(cuts) - 1; i >= 0; i-- {
		out = append(out, key[:cuts[i]])
	}
	return out
}

// indexLines scans a TOML document that the decoder accepted and records the
// line of every key, table header and array element. It is a scanner, not a
// parser: on input it does not understand it moves on, and it always ends.
func indexLines(src []byte) lineIndex {
	s := &lineScanner{src: src, line: 1, ix: lineIndex{}, arrays: map[string]int{}}
	table := ""
	for {
		s.skipBlank()
		if s.eof() {
			return s.ix
		}
		start := s.pos
		switch {
		case bytes.HasPrefix(src[s.pos:], []byte("[[")):
			s.pos += 2
			table = s.resolve(s.key(), true)
			s.ix.set(table, s.line)
		case src[s.pos] == '[':
			s.pos++
			table = s.resolve(s.key(), false)
			s.ix.set(table, s.line)
		default:
			s.keyValue(table)
		}
		s.skipSpaces()
		for !s.eof() && src[s.pos] == ']' {
			s.pos++
		}
		if s.pos == start {
			s.pos++
		}
	}
}

type lineScanner struct {
	src    []byte
	pos    int
	line   int
	ix     lineIndex
	arrays map[string]int // arrays of tables ([[x]]) → number of elements so far
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

func (s *lineScanner) skipSpaces() {
	for !s.eof() && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

// skipBlank skips spaces, newlines and comments.
func (s *lineScanner) skipBlank() {
	for !s.eof() {
		switch s.src[s.pos] {
		case ' ', '\t', '\r':
			s.pos++
		case '\n':
			s.pos++
			s.line++
		case '#':
			for !s.eof() && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

// resolve turns a header's keys into a path, giving each array of tables on
// the way the index of its last element; for a [[header]] the last key
// gets a new element.
func (s *lineScanner) resolve(segs []string, newElement bool) string {
	cur := ""
	for i, seg := range segs {
		cur = joinKey(cur, seg)
		n, isArray := s.arrays[cur]
		switch {
		case newElement && i == len(segs)-1:
			s.arrays[cur] = n + 1
			cur = indexKey(cur, n)
		case isArray:
			cur = indexKey(cur, n-1)
		}
	}
	return cur
}

// key reads a dotted key.
func (s *lineScanner) key() []string {
	var segs []string
	for {
		s.skipSpaces()
		if s.eof() {
			return segs
		}
		var seg string
		switch c := s.src[s.pos]; {
		case c == '"' || c == '\'':
			seg = s.str()
		case isBareChar(c):
			start := s.pos
			for !s.eof() && isBareChar(s.src[s.pos]) {
				s.pos++
			}
			seg = string(s.src[start:s.pos])
		default:
			return segs
		}
		segs = append(segs, seg)
		s.skipSpaces()
		if s.eof() || s.src[s.pos] != '.' {
			return segs
		}
		s.pos++
	}
}

// keyValue reads "key = value" inside the table at path base.
func (s *lineScanner) keyValue(base string) {
	line := s.line
	segs := s.key()
	s.skipSpaces()
	if len(segs) == 0 || s.eof() || s.src[s.pos] != '=' {
		return
	}
	s.pos++
	path := base
	for _, seg := range segs {
		path = joinKey(path, seg)
		s.ix.set(path, line)
	}
	s.skipSpaces()
	s.value(path)
}

// value reads one value at path, recording the keys of inline tables and
// the elements of arrays.
func (s *lineScanner) value(path string) {
	if s.eof() {
		return
	}
	switch s.src[s.pos] {
	case '"', '\'':
		s.str()
	case '[':
		s.pos++
		for i := 0; ; {
			s.skipBlank()
			if s.eof() {
				return
			}
			switch s.src[s.pos] {
			case ']':
				s.pos++
				return
			case ',':
				s.pos++
				continue
			}
			elem := indexKey(path, i)
			s.ix.set(elem, s.line)
			start := s.pos
			s.value(elem)
			if s.pos == start {
				s.pos++
			}
			i++
		}
	case '{':
		s.pos++
		for {
			s.skipBlank()
			if s.eof() {
				return
			}
			switch s.src[s.pos] {
			case '}':
				s.pos++
				return
			case ',':
				s.pos++
				continue
			}
			start := s.pos
			s.keyValue(path)
			if s.pos == start {
				s.pos++
			}
		}
	default: // number, boolean, date: up to a delimiter
		start := s.pos
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.pos])) {
			s.pos++
		}
		if s.pos == start {
			s.pos++
		}
	}
}

// str reads a string of any of the four kinds and returns its value (exact
// for keys, which are single-line).
func (s *lineScanner) str() string {
	q := s.src[s.pos]
	if s.pos+2 < len(s.src) && s.src[s.pos+1] == q && s.src[s.pos+2] == q {
		s.pos += 3
		for !s.eof() {
			c := s.src[s.pos]
			switch {
			case c == '\n':
				s.line++
			case c == '\\' && q == '"':
				s.pos++
				if !s.eof() && s.src[s.pos] == '\n' {
					s.line++
				}
			case c == q && s.pos+2 < len(s.src) && s.src[s.pos+1] == q && s.src[s.pos+2] == q:
				s.pos += 3
				for n := 0; n < 2 && !s.eof() && s.src[s.pos] == q; n++ { // up to two quotes may end the content
					s.pos++
				}
				return ""
			}
			s.pos++
		}
		return ""
	}
	s.pos++
	start := s.pos
	for !s.eof() && s.src[s.pos] != q && s.src[s.pos] != '\n' {
		if q == '"' && s.src[s.pos] == '\\' {
			s.pos++
		}
		s.pos++
	}
	raw := string(s.src[start:min(s.pos, len(s.src))])
	if !s.eof() && s.src[s.pos] == q {
		s.pos++
	}
	if q == '\'' {
		return raw
	}
	if v, err := strconv.Unquote(`"` + raw + `"`); err == nil {
		return v
	}
	return raw
}
