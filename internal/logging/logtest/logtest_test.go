package logtest

import "testing"

func TestDuplicateKey(t *testing.T) {
	for _, tc := range []struct {
		line, dup string
		bad       bool
	}{
		{`{"a":1,"b":2}`, "", false},
		{`{"worker":"a","x":1,"worker":"a"}`, "worker", false},
		{`{"a":{"b":1,"b":2}}`, "b", false},
		{`{"a":[{"c":1},{"c":2,"c":3}]}`, "c", false},
		{`{"a":1}{"b":2}`, "", true},
		{`["a"]`, "", true},
		{`{"a":`, "", true},
	} {
		dup, err := DuplicateKey([]byte(tc.line))
		if dup != tc.dup || (err != nil) != tc.bad {
			t.Errorf("%s: %q, %v; want %q, error %v", tc.line, dup, err, tc.dup, tc.bad)
		}
	}
}
