package globaldata

import (
	"bytes"
	"strconv"

	"github.com/workermand/workermand/phpserialize"
)

// scanFlat reads the request every client sends, an array of string keys
// and scalar values, without building a phpserialize.Array: its map and
// boxed keys cost more than the rest of a request's work. Each value is
// still read by phpserialize. ok is false for any other shape (a nested
// value, an integer key, a repeated key, anything malformed), which
// scanArray then reads or refuses; the two agree wherever this one
// answers (FuzzDecodeRequest checks it).
func scanFlat(p []byte) (f fields, ok bool) {
	if !bytes.HasPrefix(p, []byte("a:")) {
		return f, false
	}
	i := 2
	n, i, ok := digits(p, i)
	if !ok || n > 8 || !at(p, i, ":{") {
		return f, false
	}
	i += 2
	var seen [5]bool
	for range n {
		// The key: s:LEN:"name";
		var name []byte
		if name, i, ok = stringAt(p, i); !ok {
			return f, false
		}
		j, ok := scalarEnd(p, i)
		if !ok {
			return f, false
		}
		v, err := phpserialize.Unmarshal(p[i:j])
		if err != nil {
			return f, false
		}
		i = j
		var slot *any
		var k int
		switch string(name) {
		case "cmd":
			slot, k = &f.cmd, 0
		case "key":
			slot, k = &f.key, 1
		case "value":
			slot, k = &f.value, 2
		case "step":
			slot, k = &f.step, 3
		case "md5":
			slot, k = &f.md5, 4
		default:
			if _, err := strconv.ParseInt(string(name), 10, 64); err == nil {
				return f, false // a numeric string key is an integer key
			}
			continue // a field no command reads
		}
		if seen[k] {
			return f, false
		}
		seen[k] = true
		*slot = v
	}
	return f, i == len(p)-1 && p[i] == '}'
}

func at(p []byte, i int, s string) bool { return len(p)-i >= len(s) && string(p[i:i+len(s)]) == s }

// digits reads a decimal count at p[i:] and returns it and the index
// after it.
func digits(p []byte, i int) (n, next int, ok bool) {
	start := i
	for i < len(p) && p[i] >= '0' && p[i] <= '9' && i-start < 9 {
		n = n*10 + int(p[i]-'0')
		i++
	}
	return n, i, i > start && i-start < 9
}

// stringAt reads s:LEN:"…"; at p[i:].
func stringAt(p []byte, i int) (s []byte, next int, ok bool) {
	if !at(p, i, "s:") {
		return nil, i, false
	}
	n, j, ok := digits(p, i+2)
	if !ok || !at(p, j, `:"`) || len(p)-(j+2) < n+2 {
		return nil, i, false
	}
	j += 2
	if !at(p, j+n, `";`) {
		return nil, i, false
	}
	return p[j : j+n], j + n + 2, true
}

// scalarEnd finds the end of the scalar value at p[i:]: a string, or
// N, b, i or d up to its semicolon. Anything else (an array, an object) is
// not flat.
func scalarEnd(p []byte, i int) (int, bool) {
	if i >= len(p) {
		return i, false
	}
	switch p[i] {
	case 's':
		_, j, ok := stringAt(p, i)
		return j, ok
	case 'N', 'b', 'i', 'd':
		j := bytes.IndexByte(p[i:], ';')
		if j < 0 {
			return i, false
		}
		return i + j + 1, true
	}
	return i, false
}
