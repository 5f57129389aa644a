package wsframe

import (
	"encoding/binary"
	"math/bits"
)

// Unmask XORs b in place with the masking key, b being the payload bytes
// from offset pos on (pos counts payload bytes already unmasked, so a
// payload arriving in pieces is unmasked piece by piece). It returns the
// position to pass with the next piece, reduced modulo 4. Masking and
// unmasking are the same operation.
func Unmask(b []byte, key [4]byte, pos int) int {
	next := (pos + len(b)) & 3
	// Rotate the key so that its first byte lines up with b[0]; as 8 is a
	// multiple of 4, the 64-bit word then lines up at every 8-byte step.
	k32 := binary.LittleEndian.Uint32(key[:])
	k32 = bits.RotateLeft32(k32, -8*(pos&3))
	i := 0
	if len(b) >= 8 {
		k64 := uint64(k32) | uint64(k32)<<32
		for ; i+32 <= len(b); i += 32 {
			c := b[i : i+32 : i+32]
			binary.LittleEndian.PutUint64(c[0:], binary.LittleEndian.Uint64(c[0:])^k64)
			binary.LittleEndian.PutUint64(c[8:], binary.LittleEndian.Uint64(c[8:])^k64)
			binary.LittleEndian.PutUint64(c[16:], binary.LittleEndian.Uint64(c[16:])^k64)
			binary.LittleEndian.PutUint64(c[24:], binary.LittleEndian.Uint64(c[24:])^k64)
		}
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= byte(k32 >> (8 * (i & 3)))
	}
	return next
}
