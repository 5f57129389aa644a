package globaldata

import (
	"math"
	"strconv"
)

// phpSpace is the whitespace PHP 8 allows around a numeric string.
const phpSpace = " \t\n\r\v\f"

func isSpace(c byte) bool {
	for i := 0; i < len(phpSpace); i++ {
		if phpSpace[i] == c {
			return true
		}
	}
	return false
}

// parseNumeric reads s as PHP 8 reads a numeric string: whitespace, an
// optional sign, digits with an optional fraction, an optional exponent,
// whitespace. n is the number its leading numeric part denotes (int64, or
// float64 when it has a fraction or an exponent or does not fit an int),
// nil when there is none; whole reports that all of s is numeric, which is
// what is_numeric() tests.
func parseNumeric(s string) (n any, whole bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	isFloat := false
	if i < len(s) && s[i] == '.' {
		j := i + 1
		frac := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			frac++
		}
		if digits+frac > 0 {
			i, digits, isFloat = j, digits+frac, true
		}
	}
	if digits == 0 {
		return nil, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			i, isFloat = j, true
		}
	}
	num := s[start:i]
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	whole = i == len(s)
	if !isFloat {
		if v, err := strconv.ParseInt(num, 10, 64); err == nil {
			return v, whole
		}
	}
	// A range error still yields PHP's value: ±Inf, or 0 for underflow.
	f, _ := strconv.ParseFloat(num, 64)
	return f, whole
}

// numericOrZero is the current value increment adds to: a number, a
// numeric string's number, or 0 for anything is_numeric() refuses, as
// Workerman's server resets it.
func numericOrZero(v any) any {
	switch x := v.(type) {
	case int64, float64:
		return x
	case string:
		if n, whole := parseNumeric(x); whole {
			return n
		}
	}
	return int64(0)
}

// stepNumber is the number PHP's + makes of increment's step: nil for
// values it throws on (arrays, strings with no leading number).
func stepNumber(v any) any {
	switch x := v.(type) {
	case nil:
		return int64(0)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int64, float64:
		return x
	case string:
		// A leading number counts (PHP warns "A non-numeric value").
		n, _ := parseNumeric(x)
		return n
	}
	return nil
}

// phpAdd adds two numbers (int64 or float64) as PHP's +: int + int stays
// an int unless it overflows, anything with a float is a float.
func phpAdd(a, b any) any {
	x, xInt := a.(int64)
	y, yInt := b.(int64)
	if xInt && yInt {
		s := x + y
		// Overflow happened when both operands have the sign the sum lacks.
		if (x >= 0) == (y >= 0) && (s >= 0) != (x >= 0) {
			return float64(x) + float64(y)
		}
		return s
	}
	return toFloat(a) + toFloat(b)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}
