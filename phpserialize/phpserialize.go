// Package phpserialize reads and writes PHP's serialize() format, the
// payload of Workerman's GlobalData and Channel protocols, so that Go and
// PHP programs exchange values through them unchanged.
//
// The mapping between PHP and Go values:
//
//	PHP                      Unmarshal gives      Marshal takes
//	null            N;       nil                  nil
//	bool            b:1;     bool                 bool
//	int             i:5;     int64                every Go integer type
//	float           d:0.5;   float64              float32, float64
//	string          s:3:"x"; string               string, []byte
//	array           a:1:{…}  *Array               *Array, slices and arrays
//	                                              (a list), maps with string
//	                                              or integer keys (sorted)
//
// PHP arrays are ordered maps whose keys are integers or strings; *Array
// keeps both the order and the key types, so a value read and written
// again is the same bytes (GlobalData's cas compares md5 digests of
// them). Objects, references and other types are refused: an object would
// need its PHP class to make sense of it.
package phpserialize

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Array is a PHP array: an ordered map from int64 or string keys to
// values. The zero value is an empty array.
type Array struct {
	keys  []any // int64 or string
	vals  []any
	index map[any]int
}

// NewList returns a PHP list (keys 0..n-1) of the values.
func NewList(values ...any) *Array {
	a := &Array{}
	for _, v := range values {
		a.Append(v)
	}
	return a
}

// Len is the number of elements.
func (a *Array) Len() int { return len(a.keys) }

// normalKey turns a key into PHP's form: integers as int64, and a string
// that is a canonical decimal integer ("5", not "05") as that integer, as
// PHP does when it stores it. It panics on another key type.
func normalKey(key any) any {
	switch k := key.(type) {
	case string:
		if n, err := strconv.ParseInt(k, 10, 64); err == nil && strconv.FormatInt(n, 10) == k {
			return n
		}
		return k
	case int:
		return int64(k)
	case int64:
		return k
	case int32:
		return int64(k)
	}
	panic(fmt.Sprintf("phpserialize: an array key must be an integer or a string, not %T", key))
}

// Get returns the value at key (an integer or a string).
func (a *Array) Get(key any) (any, bool) {
	i, ok := a.index[normalKey(key)]
	if !ok {
		return nil, false
	}
	return a.vals[i], true
}

// Set sets the value at key (an integer or a string), keeping the
// position of an existing key and appending a new one, as PHP does.
func (a *Array) Set(key, value any) {
	k := normalKey(key)
	if i, ok := a.index[k]; ok {
		a.vals[i] = value
		return
	}
	if a.index == nil {
		a.index = map[any]int{}
	}
	a.index[k] = len(a.keys)
	a.keys = append(a.keys, k)
	a.vals = append(a.vals, value)
}

// Append adds value under the next integer key, as PHP's $a[] = value.
func (a *Array) Append(value any) {
	next := int64(0)
	for _, k := range a.keys {
		if n, ok := k.(int64); ok && n >= next {
			next = n + 1
		}
	}
	a.Set(next, value)
}

// All yields the keys (int64 or string) and values in order.
func (a *Array) All() iter.Seq2[any, any] {
	return func(yield func(any, any) bool) {
		for i, k := range a.keys {
			if !yield(k, a.vals[i]) {
				return
			}
		}
	}
}

// List returns the values if the array is a list (keys 0, 1, 2… in order).
func (a *Array) List() ([]any, bool) {
	for i, k := range a.keys {
		if n, ok := k.(int64); !ok || n != int64(i) {
			return nil, false
		}
	}
	return slices.Clone(a.vals), true
}

// Map returns the elements by key, integer keys written in decimal.
func (a *Array) Map() map[string]any {
	m := make(map[string]any, len(a.keys))
	for i, k := range a.keys {
		m[fmt.Sprint(k)] = a.vals[i]
	}
	return m
}

// TypeName is the PHP name of the type of v, a value Unmarshal gives
// (null, bool, int, float, string, array, as PHP's get_debug_type() and
// its error messages write them), for messages about wrong types; the Go
// type for anything else.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "string"
	case *Array:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// Marshal returns PHP's serialize() of v (see the package doc for the Go
// types it takes).
func Marshal(v any) ([]byte, error) { return Append(nil, v) }

// Append appends PHP's serialize() of v to dst.
func Append(dst []byte, v any) ([]byte, error) { return appendValue(dst, v, 0) }

// maxDepth bounds nesting, in both directions: deeper data is refused
// rather than exhausting the stack.
const maxDepth = 256

var errTooDeep = fmt.Errorf("phpserialize: nested deeper than %d arrays", maxDepth)

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errTooDeep
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "N;"...), nil
	case bool:
		if x {
			return append(dst, "b:1;"...), nil
		}
		return append(dst, "b:0;"...), nil
	case string:
		return appendString(dst, x), nil
	case []byte:
		return appendString(dst, string(x)), nil
	case int64:
		return appendInt(dst, x), nil
	case int:
		return appendInt(dst, int64(x)), nil
	case float64:
		return appendFloat(dst, x), nil
	case *Array:
		if x == nil {
			return append(dst, "N;"...), nil
		}
		dst = append(dst, "a:"...)
		dst = strconv.AppendInt(dst, int64(len(x.keys)), 10)
		dst = append(dst, ":{"...)
		var err error
		for i, k := range x.keys {
			if dst, err = appendValue(dst, k, depth+1); err != nil {
				return dst, err
			}
			if dst, err = appendValue(dst, x.vals[i], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return appendReflect(dst, reflect.ValueOf(v), depth)
}

// appendReflect covers the other integer and float types, slices and maps.
func appendReflect(dst []byte, rv reflect.Value, depth int) ([]byte, error) {
	switch rv.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int, reflect.Int64:
		return appendInt(dst, rv.Int()), nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return dst, fmt.Errorf("phpserialize: %d does not fit PHP's 64-bit int", u)
		}
		return appendInt(dst, int64(u)), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(dst, rv.Float()), nil
	case reflect.String:
		return appendString(dst, rv.String()), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(dst, "a:0:{}"...), nil
		}
		a := &Array{}
		for i := range rv.Len() {
			a.Set(int64(i), rv.Index(i).Interface())
		}
		return appendValue(dst, a, depth)
	case reflect.Map:
		kind := rv.Type().Key().Kind()
		if kind != reflect.String && (kind < reflect.Int || kind > reflect.Uint64) {
			return dst, fmt.Errorf("phpserialize: a map key must be a string or an integer, not %s", rv.Type().Key())
		}
		keys := rv.MapKeys()
		// Go maps have no order; sorted keys make the bytes (and so a
		// GlobalData cas digest) the same every time.
		slices.SortFunc(keys, func(x, y reflect.Value) int {
			if kind == reflect.String {
				return strings.Compare(x.String(), y.String())
			}
			return strings.Compare(fmt.Sprintf("%020d", x.Interface()), fmt.Sprintf("%020d", y.Interface()))
		})
		a := &Array{}
		for _, k := range keys {
			var key any = k.Interface()
			if kind == reflect.String {
				key = k.String()
			} else if kind >= reflect.Uint && kind <= reflect.Uint64 {
				key = int64(k.Uint())
			} else {
				key = k.Int()
			}
			a.Set(key, rv.MapIndex(k).Interface())
		}
		return appendValue(dst, a, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return append(dst, "N;"...), nil
		}
		return appendValue(dst, rv.Elem().Interface(), depth)
	}
	return dst, fmt.Errorf("phpserialize: cannot serialize a %s (objects and other types have no PHP form here)", rv.Type())
}

func appendInt(dst []byte, n int64) []byte {
	dst = append(dst, "i:"...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, ';')
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, "s:"...)
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ":\""...)
	dst = append(dst, s...)
	return append(dst, "\";"...)
}

// appendFloat writes f as PHP 7.1+ does with serialize_precision = -1:
// the shortest digits that read back as f, in fixed notation unless the
// decimal point would sit more than 17 digits to the right or 4 to the
// left of the first digit, then as 1.0E+25 (1e16 is 10000000000000000,
// 1e17 is 1.0E+17, 1e-5 is 1.0E-5).
func appendFloat(dst []byte, f float64) []byte {
	dst = append(dst, "d:"...)
	switch {
	case math.IsNaN(f):
		return append(dst, "NAN;"...)
	case math.IsInf(f, 1):
		return append(dst, "INF;"...)
	case math.IsInf(f, -1):
		return append(dst, "-INF;"...)
	}
	// Shortest digits and exponent: "d.ddde±x".
	e := strconv.FormatFloat(f, 'e', -1, 64)
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1 // the value is 0.digits × 10^decpt
	if neg {
		dst = append(dst, '-')
	}
	switch {
	case digits == "0":
		dst = append(dst, '0')
	case decpt < -3 || decpt > 17:
		dst = append(dst, digits[0], '.')
		if len(digits) == 1 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'E')
		if decpt-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(decpt-1), 10)
	case decpt <= 0:
		dst = append(dst, "0."...)
		dst = append(dst, strings.Repeat("0", -decpt)...)
		dst = append(dst, digits...)
	case decpt >= len(digits):
		dst = append(dst, digits...)
		dst = append(dst, strings.Repeat("0", decpt-len(digits))...)
	default:
		dst = append(dst, digits[:decpt]...)
		dst = append(dst, '.')
		dst = append(dst, digits[decpt:]...)
	}
	return append(dst, ';')
}

// Unmarshal reads one serialized PHP value, which must be all of data.
// Objects (O:, C:), enums (E:) and references (r:, R:) are refused.
func Unmarshal(data []byte) (any, error) {
	d := decoder{b: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.i != len(d.b) {
		return nil, d.errorf("%d bytes after the value", len(d.b)-d.i)
	}
	return v, nil
}

// SyntaxError reports malformed input and where.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("phpserialize: at byte %d: %s", e.Offset, e.Msg)
}

// ErrUnsupported is wrapped by the errors for PHP values that have no Go
// form here (objects, enums, references).
var ErrUnsupported = errors.New("unsupported PHP value")

type decoder struct {
	b []byte
	i int
}

func (d *decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.i, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) expect(c byte) error {
	if d.i >= len(d.b) {
		return d.errorf("want %q, found the end", c)
	}
	if d.b[d.i] != c {
		return d.errorf("want %q, found %q", c, d.b[d.i])
	}
	d.i++
	return nil
}

// until returns the bytes up to (not including) c and skips c.
func (d *decoder) until(c byte) ([]byte, error) {
	for j := d.i; j < len(d.b); j++ {
		if d.b[j] == c {
			s := d.b[d.i:j]
			d.i = j + 1
			return s, nil
		}
	}
	return nil, d.errorf("want %q, found the end", c)
}

func (d *decoder) integer(end byte) (int64, error) {
	at := d.i
	s, err := d.until(end)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || len(s) == 0 || s[0] == '+' {
		return 0, &SyntaxError{Offset: at, Msg: fmt.Sprintf("bad integer %q", s)}
	}
	return n, nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if d.i+1 >= len(d.b) {
		return nil, d.errorf("want a value, found the end")
	}
	tag := d.b[d.i]
	if tag == 'N' {
		d.i++
		return nil, d.expect(';')
	}
	d.i++
	if err := d.expect(':'); err != nil {
		return nil, err
	}
	switch tag {
	case 'b':
		n, err := d.integer(';')
		if err != nil || n > 1 || n < 0 {
			return nil, d.errorf("bad boolean")
		}
		return n == 1, nil
	case 'i':
		return d.integer(';')
	case 'd':
		at := d.i
		s, err := d.until(';')
		if err != nil {
			return nil, err
		}
		switch string(s) {
		case "INF":
			return math.Inf(1), nil
		case "-INF":
			return math.Inf(-1), nil
		case "NAN":
			return math.NaN(), nil
		}
		f, err := strconv.ParseFloat(string(s), 64)
		if err != nil || strings.ContainsAny(string(s), "xXpP_niNI") {
			return nil, &SyntaxError{Offset: at, Msg: fmt.Sprintf("bad float %q", s)}
		}
		return f, nil
	case 's':
		n, err := d.integer(':')
		if err != nil {
			return nil, err
		}
		if n < 0 || n > int64(len(d.b)-d.i) {
			return nil, d.errorf("string length %d runs past the end", n)
		}
		if err := d.expect('"'); err != nil {
			return nil, err
		}
		if int64(len(d.b)-d.i) < n+2 {
			return nil, d.errorf("string length %d runs past the end", n)
		}
		s := string(d.b[d.i : d.i+int(n)])
		d.i += int(n)
		if err := d.expect('"'); err != nil {
			return nil, err
		}
		return s, d.expect(';')
	case 'a':
		n, err := d.integer(':')
		if err != nil {
			return nil, err
		}
		// Each element takes at least 4 bytes ("i:0;N;" is 6): a count
		// the input cannot hold is refused before anything is allocated.
		if n < 0 || n > int64(len(d.b)-d.i)/4 {
			return nil, d.errorf("array of %d elements cannot fit the input", n)
		}
		if err := d.expect('{'); err != nil {
			return nil, err
		}
		a := &Array{keys: make([]any, 0, n), vals: make([]any, 0, n)}
		for range n {
			at := d.i
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			switch k.(type) {
			case int64, string:
			default:
				return nil, &SyntaxError{Offset: at, Msg: fmt.Sprintf("an array key must be an integer or a string, not %T", k)}
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a.Set(k, v)
		}
		return a, d.expect('}')
	case 'O', 'C':
		return nil, fmt.Errorf("phpserialize: at byte %d: a PHP object: %w (store arrays instead)", d.i-2, ErrUnsupported)
	case 'E':
		return nil, fmt.Errorf("phpserialize: at byte %d: a PHP enum: %w", d.i-2, ErrUnsupported)
	case 'r', 'R':
		return nil, fmt.Errorf("phpserialize: at byte %d: a PHP reference: %w", d.i-2, ErrUnsupported)
	}
	return nil, &SyntaxError{Offset: d.i - 2, Msg: fmt.Sprintf("unknown type %q", tag)}
}
