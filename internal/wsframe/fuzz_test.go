package wsframe

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func limitsFrom(sel byte) Limits {
	return Limits{
		AllowedRSV:   sel & 7,
		RequireMask:  sel&8 != 0,
		ForbidMask:   sel&16 != 0,
		MaxFrameSize: [4]int64{0, 125, 65536, 1 << 40}[sel>>5&3],
	}
}

// FuzzParseHeader checks that ParseHeader never panics, that every prefix of
// the input agrees with the whole, and that an accepted header is exactly
// what AppendFrame writes for the same fields (minimal encoding).
func FuzzParseHeader(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	f.Add(AppendFrame(nil, true, 0, Text, []byte("hi"), &key), byte(8))
	f.Add(AppendFrame(nil, false, RSV1, Binary, make([]byte, 200), nil), byte(1))
	f.Add(AppendFrame(nil, true, 0, Binary, make([]byte, 70000), &key)[:14], byte(0))
	f.Add(AppendClose(nil, 1000, "bye", &key), byte(8))
	f.Add([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, byte(0))
	f.Add([]byte{0x82, 0x7E, 0, 5}, byte(16))
	f.Add([]byte{0x09, 0x80}, byte(8))
	f.Fuzz(func(t *testing.T, data []byte, sel byte) {
		if len(data) > 64 {
			data = data[:64]
		}
		lim := limitsFrom(sel)
		var whole Header
		wn, werr := ParseHeader(data, &whole, lim)
		if werr == nil && wn != 0 && (wn != whole.HeaderLen || wn > MaxHeaderLen || wn > len(data)) {
			t.Fatalf("n %d, header %+v", wn, whole)
		}
		for k := 0; k < len(data); k++ {
			var h Header
			n, err := ParseHeader(data[:k], &h, lim)
			if n == 0 && err == nil {
				if k >= wn && wn != 0 {
					t.Fatalf("prefix %d of a %d-byte header incomplete", k, wn)
				}
				continue
			}
			if n != wn || err != werr || (err == nil && h != whole) {
				t.Fatalf("prefix %d: (%d, %v), whole (%d, %v)", k, n, err, wn, werr)
			}
		}
		if werr != nil || wn == 0 {
			return
		}
		if whole.Length > 1<<17 {
			whole.Length = 0 // header round trip below needs a payload of that size
			return
		}
		var m *[4]byte
		if whole.Masked {
			m = &whole.Mask
		}
		enc := AppendFrame(nil, whole.Fin, whole.RSV, whole.Op, make([]byte, whole.Length), m)
		if !bytes.Equal(enc[:wn], data[:wn]) {
			t.Fatalf("re-encoded header % x, parsed % x", enc[:wn], data[:wn])
		}
	})
}

// FuzzUTF8 checks the validator against utf8.Valid, whole and split at any
// point into two fragments, and that byte-at-a-time feeding fails at the
// same byte as feeding at once (i.e. at the first impossible byte).
func FuzzUTF8(f *testing.F) {
	for _, s := range []string{"", "hello", "κόσμε", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\x80", "a\xE2\x82",
		"\U0010FFFF\U00010000", "0123456789abcdef€0123456789abcdef"} {
		f.Add([]byte(s), uint16(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		// UTF-8 errors are local: longer inputs add nothing but make the
		// engine's minimisation of new inputs slow.
		if len(data) > 256 {
			data = data[:256]
		}
		want := utf8.Valid(data)
		var v UTF8Validator
		if got := v.Feed(data) && v.Done(); got != want {
			t.Fatalf("whole: %v, utf8.Valid %v", got, want)
		}
		k := int(split) % (len(data) + 1)
		v.Reset()
		if got := v.Feed(data[:k]) && v.Feed(data[k:]) && v.Done(); got != want {
			t.Fatalf("split at %d: %v, utf8.Valid %v", k, got, want)
		}
		// Byte-at-a-time: the failing byte is the first one after which
		// no completion exists, so the prefix before it must be completable.
		v.Reset()
		for i := range data {
			if !v.Feed(data[i : i+1]) {
				if !completable(data[:i]) {
					t.Fatalf("failed at byte %d although % x was already hopeless", i, data[:i])
				}
				if completable(data[:i+1]) {
					t.Fatalf("failed at byte %d although % x can still be completed", i, data[:i+1])
				}
				return
			}
		}
	})
}

// completable reports whether some suffix makes p valid UTF-8, trying every
// continuation of at most 3 bytes of the incomplete tail.
func completable(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	start := max(0, len(p)-3)
	for i := len(p) - 1; i >= start; i-- {
		if utf8.RuneStart(p[i]) {
			start = i
			break
		}
	}
	if !utf8.Valid(p[:start]) {
		return false
	}
	tail := p[start:]
	// Only the first continuation byte has a lead-dependent range; the
	// later ones accept 0x80, so trying every first byte is exhaustive.
	for c := 0x80; c <= 0xBF; c++ {
		fill := []byte{byte(c), 0x80, 0x80}
		for n := 1; n <= 3; n++ {
			if utf8.Valid(append(append([]byte(nil), tail...), fill[:n]...)) {
				return true
			}
		}
	}
	return false
}
