package wsframe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUTF8Valid(t *testing.T) {
	valid := []string{
		"", "hello", strings.Repeat("ascii ", 20), "é", "€", "𝄞", "\u07FF", "\u0800", "\uD7FF", "\uE000",
		"\uFFFF", "\U00010000", "\U0010FFFF", "κόσμε", "mixed é € 𝄞 text that is long enough for the fast path",
	}
	for _, s := range valid {
		b := []byte(s)
		// Every split into two fragments, and byte-at-a-time feeding.
		for k := 0; k <= len(b); k++ {
			var v UTF8Validator
			if !v.Feed(b[:k]) || !v.Feed(b[k:]) || !v.Done() {
				t.Fatalf("%q split at %d refused", s, k)
			}
		}
		var v UTF8Validator
		for i := range b {
			if !v.Feed(b[i : i+1]) {
				t.Fatalf("%q byte %d refused", s, i)
			}
		}
		if !v.Done() {
			t.Fatalf("%q: not done", s)
		}
	}
}

// Each invalid class is refused at the first byte that no continuation
// could make valid, whether fed at once or a byte at a time.
func TestUTF8FailFast(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		at   int // index of the first impossible byte
	}{
		{"lone continuation", []byte("ab\x80"), 2},
		{"overlong C0", []byte{'a', 0xC0, 0x80}, 1},
		{"overlong C1", []byte{0xC1, 0xBF}, 0},
		{"F5", []byte{0xF5, 0x80, 0x80, 0x80}, 0},
		{"FF", []byte{'x', 0xFF}, 1},
		{"overlong E0", []byte{0xE0, 0x80, 0x80}, 1},
		{"overlong E0 9F", []byte{0xE0, 0x9F, 0xBF}, 1},
		{"surrogate ED A0", []byte{0xED, 0xA0, 0x80}, 1},
		{"surrogate ED BF", []byte{0xED, 0xBF, 0xBF}, 1},
		{"overlong F0", []byte{0xF0, 0x8F, 0xBF, 0xBF}, 1},
		{"above U+10FFFF", []byte{0xF4, 0x90, 0x80, 0x80}, 1},
		{"missing continuation", []byte{0xE2, 0x82, 'a'}, 2},
		{"new lead in sequence", []byte{0xF0, 0x90, 0xE2}, 2},
		{"after valid text", []byte("κόσμε fine so far........\xC3("), len("κόσμε fine so far........") + 1},
	}
	for _, c := range cases {
		var v UTF8Validator
		for i := range c.b {
			ok := v.Feed(c.b[i : i+1])
			if ok != (i < c.at) {
				t.Fatalf("%s: Feed of byte %d = %v, want failure at %d", c.name, i, ok, c.at)
			}
		}
		if v.Done() || v.Feed([]byte("a")) {
			t.Fatalf("%s: failure not sticky", c.name)
		}
		v.Reset()
		if v.Feed(c.b) {
			t.Fatalf("%s: accepted whole", c.name)
		}
	}
	// An incomplete sequence is fine until the message ends.
	var v UTF8Validator
	if !v.Feed([]byte{0xF0, 0x9F, 0x98}) || v.Done() {
		t.Fatal("pending 4-byte prefix")
	}
	if !v.Feed([]byte{0x80}) || !v.Done() {
		t.Fatal("completed 4-byte sequence")
	}
}

func TestUTF8AgreesExhaustive2(t *testing.T) {
	// All 2- and 3-byte inputs whose bytes come from an interesting set.
	set := []byte{0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
		0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF}
	for _, a := range set {
		for _, b := range set {
			for _, c := range set {
				for _, d := range set {
					in := []byte{a, b, c, d}
					for k := 0; k <= 4; k++ {
						var v UTF8Validator
						got := v.Feed(in[:k]) && v.Feed(in[k:]) && v.Done()
						if got != utf8.Valid(in) {
							t.Fatalf("% x split %d: %v", in, k, got)
						}
					}
				}
			}
		}
	}
}
