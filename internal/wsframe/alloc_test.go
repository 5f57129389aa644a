//go:build !race

package wsframe

import "testing"

func TestHotPathAllocs(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	frame := AppendFrame(nil, true, 0, Binary, make([]byte, 70000), &key)
	bad := []byte{0x83, 0x80}
	var h Header
	payload := make([]byte, 4096)
	dst := make([]byte, 0, 8192)
	text := []byte("κόσμε: mostly ASCII text with a few multi-byte runes €𝄞")
	var v UTF8Validator
	for name, f := range map[string]func(){
		"ParseHeader":         func() { ParseHeader(frame, &h, serverLim) },
		"ParseHeader refused": func() { ParseHeader(bad, &h, serverLim) },
		"Unmask":              func() { Unmask(payload, key, 3) },
		"AppendFrame":         func() { AppendFrame(dst[:0], true, 0, Binary, payload, &key) },
		"AppendClose":         func() { AppendClose(dst[:0], 1000, "bye", &key) },
		"UTF8Validator.Feed":  func() { v.Reset(); v.Feed(text) },
		"ValidKey":            func() { ValidKey("dGhlIHNhbXBsZSBub25jZQ==") },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s allocates %v times per call", name, a)
		}
	}
}
