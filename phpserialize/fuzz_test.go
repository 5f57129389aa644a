package phpserialize

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal: any input is refused or read; what is read writes back
// to bytes that read as the same value (and, floats' NaN aside, the same
// bytes when the input was already in PHP's canonical form).
func FuzzUnmarshal(f *testing.F) {
	for _, c := range phpValues {
		f.Add([]byte(c.wire))
	}
	f.Add([]byte(`a:2:{i:0;a:1:{s:1:"k";d:1.0E-5;}i:1;s:0:"";}`))
	f.Add([]byte(`O:8:"stdClass":0:{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of what Unmarshal read from %q: %v", data, err)
		}
		v2, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal of our own %q (from %q): %v", out, data, err)
		}
		out2, err := Marshal(v2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %q → %q → %q (%v)", data, out, out2, err)
		}
	})
}
