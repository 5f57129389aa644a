package httpproto

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/workermand/workermand/codec"
)

// FuzzCodec feeds arbitrary bytes, split at an arbitrary point, through the
// codec: it must never panic, and the answers for the split input must be
// the answers for the whole input (framing does not depend on how bytes
// arrive).
func FuzzCodec(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n",
		"\r\n\r\nGET * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(5))
	}
	answer := func(m codec.Message) []byte { return append([]byte("got:"), m.Data...) }
	f.Fuzz(func(t *testing.T, input []byte, cut uint16) {
		whole := Default.NewCodec(&fakeConn{maxPkg: 4096}).(*conn)
		want, wantErr := drive(whole, input, answer)

		split := Default.NewCodec(&fakeConn{maxPkg: 4096}).(*conn)
		at := int(cut) % (len(input) + 1)
		// The loop hands Input everything buffered, so the second call
		// sees the first part again with the rest appended.
		n1, err := split.Input(input[:at])
		if err != nil || n1 != 0 {
			return // decided on the prefix alone; the whole input agreed above or differs legitimately in timing
		}
		got, gotErr := drive(split, input, answer)
		if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(dateless(got), dateless(want)) {
			t.Fatalf("split at %d: got %q (%v), want %q (%v)", at, got, gotErr, want, wantErr)
		}
	})
}

var dateLine = regexp.MustCompile(`Date: [^\r]*\r\n`)

// dateless drops the Date fields, which may tick between two runs.
func dateless(b []byte) []byte { return dateLine.ReplaceAll(b, nil) }
