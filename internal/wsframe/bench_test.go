package wsframe

import (
	"strconv"
	"testing"
)

func BenchmarkUnmask(b *testing.B) {
	for _, size := range []int{64, 4096, 65536} {
		b.Run(itoa(size), func(b *testing.B) {
			p := make([]byte, size)
			key := [4]byte{0x11, 0x22, 0x33, 0x44}
			b.SetBytes(int64(size))
			for b.Loop() {
				Unmask(p, key, 1)
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	frame := AppendFrame(nil, true, 0, Text, make([]byte, 64), &key)
	var h Header
	for b.Loop() {
		ParseHeader(frame, &h, serverLim)
	}
}

func BenchmarkUTF8Feed(b *testing.B) {
	p := []byte("The quick brown fox jumps over the lazy dog. Größenwahn – κόσμε – 𝄞 and more ASCII text to follow here.")
	b.SetBytes(int64(len(p)))
	var v UTF8Validator
	for b.Loop() {
		v.Reset()
		v.Feed(p)
	}
}

func itoa(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
