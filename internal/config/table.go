package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration written in TOML as a Go duration string:
// "2s", "500ms", "1m30s", or "0". Handlers may use it in their options.
type Duration struct{ time.Duration }

// UnmarshalText parses a duration string; a number needs a unit, except 0.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, as in \"2s\", \"500ms\" or \"1m30s\"", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Table is a sub-table of a worker that belongs to someone else: the
// handler's [worker.options], or the protocol tables [worker.http] and
// [worker.websocket]. The config accepts any keys in it; its owner decodes it
// strictly with Decode.
type Table struct {
	key   string         // path, as in "worker[0].options"
	noun  string         // "option" or "key", for messages
	file  string         // for problems
	lines lineIndex      // of the whole file, shared and read-only
	raw   map[string]any // nil when the table is absent
}

// Defined reports whether the file has the table (even empty).
func (t Table) Defined() bool { return t.raw != nil }

// Key is the table's path in the file, like "worker[0].options".
func (t Table) Key() string { return t.key }

// TOML returns the table's contents as a TOML document ("" when it is
// absent or empty).
func (t Table) TOML() (string, error) {
	if len(t.raw) == 0 {
		return "", nil
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(t.raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Decode fills into (a pointer to a struct, usually) from the table,
// strictly: a key with no destination in into is an error that names it, as
// is a value of the wrong type. The error is an *Errors whose problems carry
// the file, line and full key path. An absent or empty table decodes to
// nothing and leaves into as it is.
func (t Table) Decode(into any) error {
	if len(t.raw) == 0 {
		return nil
	}
	// The decoder stops at the first value of the wrong type; to report the
	// unknown keys too, drop that value and decode again.
	var ps []Problem
	raw := t.raw
	var md toml.MetaData
	for {
		var b bytes.Buffer
		if err := toml.NewEncoder(&b).Encode(raw); err != nil {
			return t.problems(append(ps, Problem{Key: t.key, Msg: err.Error()})...)
		}
		var err error
		md, err = toml.Decode(b.String(), into)
		if err == nil {
			break
		}
		key, msg := splitDecodeError(err)
		full := t.key
		if key != "" {
			full += "." + key
		}
		ps = append(ps, Problem{Key: full, Msg: msg})
		var ok bool
		if raw, ok = without(raw, splitTOMLKey(key)); !ok {
			return t.problems(ps...)
		}
	}
	// The decoder meets the values of the wrong type in map order.
	slices.SortFunc(ps, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	undecoded := md.Undecoded()
	if len(undecoded) == 0 && len(ps) == 0 {
		return nil
	}
	skip := map[string]bool{}
	known := fieldNames(into)
	for _, k := range undecoded {
		path := t.key
		for _, seg := range k {
			path = joinKey(path, seg)
		}
		skip[path] = true
		if parentSkipped(path, skip) { // an unknown table: report it, not its keys
			continue
		}
		msg := "unknown " + t.noun
		if len(k) == 1 {
			msg += suggestion(k[0], known)
		}
		ps = append(ps, Problem{Key: path, Msg: msg, unknown: true})
	}
	return t.problems(ps...)
}

// without returns a copy of m without the value at path (copying only the
// tables on the way), and false if there is no such value.
func without(m map[string]any, path []string) (map[string]any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	v, ok := m[path[0]]
	if !ok {
		return nil, false
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if len(path) == 1 {
		delete(out, path[0])
		return out, true
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	if out[path[0]], ok = without(sub, path[1:]); !ok {
		return nil, false
	}
	return out, true
}

// splitTOMLKey splits a dotted key as toml.Key.String writes it.
func splitTOMLKey(s string) []string {
	var segs []string
	for len(s) > 0 {
		if s[0] == '"' {
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			seg, err := strconv.Unquote(s[:min(i+1, len(s))])
			if err != nil {
				seg = s[1:min(i, len(s))]
			}
			segs = append(segs, seg)
			s = s[min(i+1, len(s)):]
		} else {
			i := strings.IndexByte(s, '.')
			if i < 0 {
				i = len(s)
			}
			segs = append(segs, s[:i])
			s = s[i:]
		}
		s = strings.TrimPrefix(s, ".")
	}
	return segs
}

func parentSkipped(path string, skip map[string]bool) bool {
	for _, a := range ancestors(path)[1:] {
		if skip[a] {
			return true
		}
	}
	return false
}

func (t Table) problems(ps ...Problem) *Errors {
	for i := range ps {
		ps[i].File = t.file
		ps[i].Line = t.lines.line(ps[i].Key)
	}
	sortProblems(ps)
	return &Errors{Problems: ps}
}

var (
	lastKeyRE      = regexp.MustCompile(`^toml: (?:line \d+ )?\(last key "((?:[^"\\]|\\.)*)"\): `)
	incompatibleRE = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
)

// splitDecodeError takes the key path and a readable message out of a
// decoding error of BurntSushi/toml. Its line numbers are dropped: they count
// lines of the re-encoded table, not of the file.
func splitDecodeError(err error) (key, msg string) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg = pe.LastKey, pe.Message
	} else {
		msg = err.Error()
		if m := lastKeyRE.FindStringSubmatch(msg); m != nil {
			key, _ = strconv.Unquote(`"` + m[1] + `"`)
			msg = msg[len(m[0]):]
		} else {
			msg = strings.TrimPrefix(msg, "toml: ")
		}
	}
	if m := incompatibleRE.FindStringSubmatch(msg); m != nil {
		msg = "must be " + article(m[2]) + ", not " + article(tomlTypeOfGo(m[1]))
	}
	return key, msg
}

// tomlTypeOfGo names the TOML type behind a Go type name of the decoder.
func tomlTypeOfGo(goType string) string {
	switch goType {
	case "string":
		return "string"
	case "int64":
		return "integer"
	case "float64":
		return "float"
	case "bool":
		return "boolean"
	case "time.Time":
		return "datetime"
	case "map[string]any":
		return "table"
	case "[]map[string]any":
		return "array of tables"
	}
	if strings.HasPrefix(goType, "[]") {
		return "array"
	}
	return goType
}

// typeName names the TOML type of a decoded value, with an article.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// fieldNames lists the keys a struct (behind pointers) accepts at its top
// level, for suggestions.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			names = append(names, name)
		}
	}
	walk(t)
	return names
}

// suggestion returns ` (did you mean "x"?)` when exactly one known name is
// within two edits of key, ignoring case; "" otherwise.
func suggestion(key string, known []string) string {
	best, bestD, ties := "", 3, 0
	for _, k := range known {
		d := editDistance(strings.ToLower(key), strings.ToLower(k))
		switch {
		case d < bestD:
			best, bestD, ties = k, d, 0
		case d == bestD:
			ties++
		}
	}
	if best == "" || ties > 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Damerau–Levenshtein distance (adjacent swaps count
// one), on bytes; keys are short.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
