package wsframe

import "encoding/binary"

// UTF8Validator checks a text message for UTF-8 validity as its fragments
// arrive, without buffering them: a sequence may be split across Feed calls.
// It fails fast, at the first byte that no continuation could make valid
// (RFC 6455 §8.1 asks for failing as soon as invalid data is seen): a byte
// that never starts a sequence (0x80–0xC1, 0xF5–0xFF), an overlong or
// surrogate or beyond-U+10FFFF prefix (E0 80–9F, ED A0–BF, F0 80–8F,
// F4 90–BF), a missing continuation byte. The zero value is ready.
type UTF8Validator struct {
	need   uint8 // continuation bytes still expected
	lo, hi uint8 // range allowed for the next continuation byte
	failed bool
}

// Reset prepares v for a new message.
func (v *UTF8Validator) Reset() { *v = UTF8Validator{} }

// Done reports whether the bytes fed so far are valid UTF-8 with no
// sequence left incomplete: call it on the final fragment.
func (v *UTF8Validator) Done() bool { return !v.failed && v.need == 0 }

// Feed validates the next bytes of the message. It returns false once the
// message is known to be invalid, and keeps returning false until Reset.
func (v *UTF8Validator) Feed(p []byte) bool {
	if v.failed {
		return false
	}
	need, lo, hi := v.need, v.lo, v.hi
	i := 0
	for i < len(p) {
		if need > 0 {
			b := p[i]
			if b < lo || b > hi {
				v.failed = true
				return false
			}
			need, lo, hi = need-1, 0x80, 0xBF
			i++
			continue
		}
		// Text is mostly ASCII: skip it 8 bytes at a time.
		for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		if i == len(p) {
			break
		}
		b := p[i]
		i++
		switch {
		case b < 0x80:
		case b < 0xC2: // continuation byte, or overlong 2-byte lead
			v.failed = true
			return false
		case b < 0xE0:
			need, lo, hi = 1, 0x80, 0xBF
		case b == 0xE0: // exclude overlong 3-byte forms
			need, lo, hi = 2, 0xA0, 0xBF
		case b == 0xED: // exclude UTF-16 surrogates
			need, lo, hi = 2, 0x80, 0x9F
		case b < 0xF0:
			need, lo, hi = 2, 0x80, 0xBF
		case b == 0xF0: // exclude overlong 4-byte forms
			need, lo, hi = 3, 0x90, 0xBF
		case b < 0xF4:
			need, lo, hi = 3, 0x80, 0xBF
		case b == 0xF4: // exclude code points above U+10FFFF
			need, lo, hi = 3, 0x80, 0x8F
		default:
			v.failed = true
			return false
		}
	}
	v.need, v.lo, v.hi = need, lo, hi
	return true
}
