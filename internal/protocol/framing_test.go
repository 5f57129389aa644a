package protocol_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/workermand/workermand/codec"
)

// errNegativeInput is what the framer reports when Input returns n < 0 (the
// event loop closes the connection as a protocol error).
var errNegativeInput = errors.New("test framer: Input returned a negative length")

// framer mimics the event loop's framing contract documented in package
// codec (and implemented by internal/netloop's Conn.process): bytes arrive in
// chunks and are buffered; Input returning 0 waits for more, unless the
// buffered bytes already reach maxPkg; a length above maxPkg is
// codec.ErrPackageTooLarge; a length beyond the buffered bytes is remembered
// and the loop waits for that many bytes without calling Input again.
//
// Delivered payloads are copied out and the consumed packet is then poisoned,
// as the loop does under test, so a codec whose Message outlives the packet
// would be caught.
type framer struct {
	c      codec.Codec
	maxPkg int

	buf      []byte
	pending  int // length of a packet announced by Input but not yet complete
	consumed int // bytes of the stream framed into packets so far
	msgs     [][]byte
	err      error
}

func newFramer(c codec.Codec, maxPkg int) *framer {
	if maxPkg <= 0 {
		maxPkg = codec.DefaultMaxPackageSize
	}
	return &framer{c: c, maxPkg: maxPkg}
}

// feed appends chunk to the buffered input and frames every complete packet.
// After the first error the framer is dead, as the connection would be.
func (f *framer) feed(chunk []byte) error {
	if f.err != nil {
		return f.err
	}
	f.buf = append(f.buf, chunk...)
	off := 0
loop:
	for off < len(f.buf) {
		b := f.buf[off:]
		n := f.pending
		if n == 0 {
			var err error
			n, err = f.c.Input(b)
			switch {
			case err != nil:
				f.err = err
			case n < 0:
				f.err = errNegativeInput
			case n == 0 && len(b) >= f.maxPkg:
				f.err = codec.ErrPackageTooLarge
			case n > f.maxPkg:
				f.err = codec.ErrPackageTooLarge
			}
			if f.err != nil {
				return f.err
			}
			if n == 0 {
				break loop
			}
		}
		if n > len(b) {
			f.pending = n
			break
		}
		f.pending = 0
		pkt := b[:n]
		msg, err := f.c.Decode(pkt)
		if err != nil {
			f.err = err
			return err
		}
		if msg.Kind != codec.KindNone {
			f.msgs = append(f.msgs, append([]byte{}, msg.Data...))
		}
		for i := range pkt {
			pkt[i] = 0xDB
		}
		off += n
		f.consumed += n
	}
	f.buf = f.buf[:copy(f.buf, f.buf[off:])]
	return nil
}

// frameAll frames a whole stream delivered in one read, following the loop's
// contract (see framer). Bytes after the last complete packet are left
// buffered and not reported.
func frameAll(c codec.Codec, stream []byte, maxPkg int) (msgs [][]byte, err error) {
	f := newFramer(c, maxPkg)
	err = f.feed(stream)
	return f.msgs, err
}

// frameChunks feeds chunks one after another and returns the framer's state.
func frameChunks(c codec.Codec, maxPkg int, chunks ...[]byte) *framer {
	f := newFramer(c, maxPkg)
	for _, ch := range chunks {
		if f.feed(ch) != nil {
			break
		}
	}
	return f
}

// framingCase is one stream and what the loop should deliver from it,
// however the stream is cut into reads.
type framingCase struct {
	name    string
	stream  string
	maxPkg  int      // 0 means codec.DefaultMaxPackageSize
	want    []string // payloads delivered to OnMessage, in order
	rest    string   // bytes still buffered afterwards (checked when wantErr is nil)
	wantErr error    // matched with errors.Is
}

// feedings returns the ways a stream is cut into reads: whole (several
// packets coalesced in one read), one byte at a time, and every cut in two.
func feedings(stream []byte) map[string][][]byte {
	m := map[string][][]byte{"whole": {stream}}
	bytewise := make([][]byte, len(stream))
	for i := range stream {
		bytewise[i] = stream[i : i+1]
	}
	m["bytewise"] = bytewise
	for i := 1; i < len(stream); i++ {
		m[fmt.Sprintf("split@%d", i)] = [][]byte{stream[:i], stream[i:]}
	}
	return m
}

func runFramingCases(t *testing.T, p codec.Protocol, cases []framingCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for mode, chunks := range feedings([]byte(tc.stream)) {
				f := frameChunks(p.NewCodec(nil), tc.maxPkg, chunks...)
				if !errors.Is(f.err, tc.wantErr) || (f.err == nil) != (tc.wantErr == nil) {
					t.Fatalf("%s: err = %v, want %v", mode, f.err, tc.wantErr)
				}
				if !equalMsgs(f.msgs, tc.want) {
					t.Fatalf("%s: messages = %q, want %q", mode, f.msgs, tc.want)
				}
				if tc.wantErr == nil && string(f.buf) != tc.rest {
					t.Fatalf("%s: still buffered %q, want %q", mode, f.buf, tc.rest)
				}
			}
		})
	}
}

func equalMsgs(got [][]byte, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if string(got[i]) != want[i] {
			return false
		}
	}
	return true
}

func sameMsgs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameErr reports whether two framing outcomes are the same to a user: both
// nil, or the same error (the same bad stream must fail the same way however
// it was cut into reads).
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// fakeCodec lets the framer's own contract be checked against the loop's.
type fakeCodec struct{ n int }

func (f fakeCodec) Input([]byte) (int, error) { return f.n, nil }
func (fakeCodec) Decode(p []byte) (codec.Message, error) {
	return codec.Message{Data: p, Kind: codec.KindData}, nil
}
func (fakeCodec) Encode(dst, p []byte) ([]byte, error) { return append(dst, p...), nil }

func TestFramerContract(t *testing.T) {
	// The helper must treat a negative length as fatal, like the loop.
	if _, err := frameAll(fakeCodec{n: -1}, []byte("x"), 10); !errors.Is(err, errNegativeInput) {
		t.Fatalf("negative length: err = %v", err)
	}
	// A length above the buffer waits: nothing is delivered and the bytes stay.
	f := frameChunks(fakeCodec{n: 5}, 10, []byte("abc"))
	if f.err != nil || len(f.msgs) != 0 || string(f.buf) != "abc" || f.pending != 5 {
		t.Fatalf("waiting for 5 bytes: err=%v msgs=%q buf=%q pending=%d", f.err, f.msgs, f.buf, f.pending)
	}
	if err := f.feed([]byte("de")); err != nil || !equalMsgs(f.msgs, []string{"abcde"}) {
		t.Fatalf("after 5 bytes: err=%v msgs=%q", err, f.msgs)
	}
}
