package protocol_test

import (
	"bytes"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

// fuzzLimit maps the fuzzer's limit to a max_package_size: 0 is the default,
// anything else is small enough for the limit paths to be reached.
func fuzzLimit(limit uint16) int {
	if limit == 0 {
		return codec.DefaultMaxPackageSize
	}
	return int(limit)
}

// checkSplitInvariance frames stream whole, cut in two at cut, and (for short
// streams) one byte at a time, and fails unless the three agree. With exactErr
// unset, failures need only agree that there is one.
func checkSplitInvariance(t *testing.T, c codec.Codec, stream []byte, cut uint16, maxPkg int, exactErr bool) *framer {
	t.Helper()
	whole := frameChunks(c, maxPkg, stream)
	i := int(cut) % (len(stream) + 1)
	modes := map[string]*framer{"split": frameChunks(c, maxPkg, stream[:i], stream[i:])}
	if len(stream) <= 4096 {
		modes["bytewise"] = frameChunks(c, maxPkg, feedings(stream)["bytewise"]...)
	}
	for mode, f := range modes {
		if (whole.err == nil) != (f.err == nil) || exactErr && !sameErr(whole.err, f.err) {
			t.Fatalf("%s: err = %v, whole stream gave %v", mode, f.err, whole.err)
		}
		if !sameMsgs(whole.msgs, f.msgs) {
			t.Fatalf("%s: messages = %q, whole stream gave %q", mode, f.msgs, whole.msgs)
		}
		if whole.err == nil && whole.consumed != f.consumed {
			t.Fatalf("%s: consumed %d bytes, whole stream consumed %d", mode, f.consumed, whole.consumed)
		}
	}
	return whole
}

// textReference is an independent model of text framing over one read:
// lines up to and including '\n', trailing CR/LF stripped, a line longer than
// maxPkg or an unterminated tail of maxPkg bytes or more is too large.
func textReference(stream []byte, maxPkg int) (msgs [][]byte, tooLarge bool) {
	for {
		i := bytes.IndexByte(stream, '\n')
		if i < 0 {
			return msgs, len(stream) >= maxPkg
		}
		if i+1 > maxPkg {
			return msgs, true
		}
		msgs = append(msgs, bytes.TrimRight(stream[:i], "\r\n"))
		stream = stream[i+1:]
	}
}

func FuzzText(f *testing.F) {
	for _, tc := range textCases {
		f.Add([]byte(tc.stream), uint16(len(tc.stream)/2), uint16(tc.maxPkg))
	}
	f.Add([]byte("a\r\nb"), uint16(2), uint16(0))
	f.Fuzz(func(t *testing.T, stream []byte, cut, limit uint16) {
		c := protocol.Text.NewCodec(nil)
		maxPkg := fuzzLimit(limit)
		whole := checkSplitInvariance(t, c, stream, cut, maxPkg, true)

		want, tooLarge := textReference(bytes.Clone(stream), maxPkg)
		if tooLarge != (whole.err != nil) || (whole.err != nil && whole.err != codec.ErrPackageTooLarge) {
			t.Fatalf("err = %v, want too large: %v", whole.err, tooLarge)
		}
		if !sameMsgs(whole.msgs, want) {
			t.Fatalf("messages = %q, want %q", whole.msgs, want)
		}

		// Encode → frame → Decode gives the payload back, less any trailing
		// CR (a payload cannot hold '\n': it ends the line).
		payload := bytes.ReplaceAll(stream, []byte("\n"), nil)
		wire, err := c.Encode(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := frameAll(c, wire, len(wire))
		if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0], bytes.TrimRight(payload, "\r")) {
			t.Fatalf("round trip of %q = %q, %v", payload, msgs, err)
		}
	})
}

func FuzzFrame(f *testing.F) {
	for _, tc := range frameCases {
		f.Add([]byte(tc.stream), uint16(len(tc.stream)/2), uint16(tc.maxPkg))
	}
	f.Add([]byte(fr("a")+fr("bc")+hdr(100)), uint16(5), uint16(0))
	// A limit below the header size: every frame is refused, as too large
	// or as short depending on how the header arrives.
	f.Add([]byte(hdr(3)), uint16(75), uint16(2))
	f.Fuzz(func(t *testing.T, stream []byte, cut, limit uint16) {
		c := protocol.Frame.NewCodec(nil)
		maxPkg := fuzzLimit(limit)
		// Once a header is complete the frame's fate is decided by it alone;
		// below a 4-byte limit the header itself can be refused unread.
		whole := checkSplitInvariance(t, c, stream, cut, maxPkg, maxPkg >= 4)

		// The framed messages, encoded again, are exactly the bytes consumed.
		var again []byte
		for _, m := range whole.msgs {
			again, _ = c.Encode(again, m)
		}
		if !bytes.Equal(again, stream[:whole.consumed]) {
			t.Fatalf("re-encoded messages % x differ from the %d bytes consumed", again, whole.consumed)
		}
		if whole.err == nil && len(whole.buf) != len(stream)-whole.consumed {
			t.Fatalf("buffered %d bytes, want %d", len(whole.buf), len(stream)-whole.consumed)
		}

		// Encode → frame → Decode round-trips any payload.
		wire, err := c.Encode(nil, stream)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := frameAll(c, wire, len(wire))
		if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0], stream) {
			t.Fatalf("round trip of % x = % x, %v", stream, msgs, err)
		}
		if _, err := frameAll(c, wire, len(wire)-1); err != codec.ErrPackageTooLarge {
			t.Fatalf("frame of %d bytes with a limit of %d: err = %v, want ErrPackageTooLarge", len(wire), len(wire)-1, err)
		}
	})
}
