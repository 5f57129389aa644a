package httpproto

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/workermand/workermand/codec"
)

// FuzzCodec feeds arbitrary bytes, split at an arbitrary point, through the
// codec as the loop would: it must never panic, and the answers for the
// split input must be the answers for the whole input (framing does not
// depend on how bytes arrive, nor on how much of a body the codec took
// before the rest came).
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
		"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + strings.Repeat("b", 3000) + "GET / HTTP/1.2\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("c", 2048) + "\r\n800\r\n" + strings.Repeat("d", 2048) + "\r\n0\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\n",
		"HEAD / HTTP/2.0\r\nHost: x\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		f.Add([]byte(s), uint16(5))
	}
	answer := func(m codec.Message) []byte { return append([]byte("got:"), m.Data...) }
	f.Fuzz(func(t *testing.T, input []byte, cut uint16) {
		wholeConn := &fakeConn{maxPkg: 4096}
		whole := Default.NewCodec(wholeConn).(*conn)
		want, wantErr := drive(whole, input, answer)
		answered := len(want) > 0
		want = append(want, wholeConn.raw...) // error answers

		splitConn := &fakeConn{maxPkg: 4096}
		split := Default.NewCodec(splitConn).(*conn)
		at := int(cut) % (len(input) + 1)
		got, gotErr := driveParts(split, [][]byte{input[:at], input[at:]}, answer)
		got = append(got, splitConn.raw...)
		// A body that is not all there yet is asked for with a 100 Continue
		// (when the client expects one): the one difference splitting makes.
		got = bytes.ReplaceAll(got, continueResponse, nil)
		want = bytes.ReplaceAll(want, continueResponse, nil)
		if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(dateless(got), dateless(want)) {
			t.Fatalf("split at %d: got %q (%v), want %q (%v)", at, got, gotErr, want, wantErr)
		}
		// Refused before anything was answered, a HEAD gets no content.
		if bytes.HasPrefix(input, []byte("HEAD ")) && wantErr != nil && !answered {
			refusal := bytes.ReplaceAll(wholeConn.raw, continueResponse, nil)
			if _, text, _ := bytes.Cut(refusal, []byte("\r\n\r\n")); len(text) > 0 {
				t.Fatalf("error answer to a HEAD with content %q", text)
			}
		}
	})
}

var dateLine = regexp.MustCompile(`Date: [^\r]*\r\n`)

// dateless drops the Date fields, which may tick between two runs.
func dateless(b []byte) []byte { return dateLine.ReplaceAll(b, nil) }
