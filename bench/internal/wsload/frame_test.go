package wsload

import (
	"bufio"
	"bytes"
	"testing"
)

// The example of RFC 6455 section 1.3.
func TestAcceptKeyMatchesRFCExample(t *testing.T) {
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %q", got)
	}
}

// unmask decodes a client frame the way a server does, to check that
// appendFrame masks and sizes correctly at each length encoding.
func TestAppendFrameRoundTrips(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte{0xa5, 'x', 0}, n/3+1)[:n]
		key := [4]byte{0x11, 0x22, 0x33, 0x44}
		f := appendFrame(nil, OpBinary, payload, key)
		if f[0] != 0x82 || f[1]&0x80 == 0 {
			t.Fatalf("n=%d: header % x: want FIN, binary, mask bit", n, f[:2])
		}
		// Strip the mask bit and key so readFrame (a server-frame reader)
		// can parse it, after unmasking by hand.
		hdr := 2
		switch f[1] & 0x7f {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		k := f[hdr : hdr+4]
		plain := append([]byte{}, f[:hdr]...)
		plain[1] &^= 0x80
		for i, b := range f[hdr+4:] {
			plain = append(plain, b^k[i&3])
		}
		op, fin, got, err := readFrame(bufio.NewReader(bytes.NewReader(plain)), nil)
		if err != nil || op != OpBinary || !fin || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: op %d fin %v err %v, payload equal %v", n, op, fin, err, bytes.Equal(got, payload))
		}
	}
}

func TestReadFrameRejectsMaskedServerFrame(t *testing.T) {
	f := appendFrame(nil, OpText, []byte("hi"), [4]byte{1, 2, 3, 4})
	if _, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(f)), nil); err == nil {
		t.Fatal("a masked server frame was accepted")
	}
}
