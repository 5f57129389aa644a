package protocol_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

// textCases are also the seeds of FuzzText.
var textCases = []framingCase{
	{name: "line", stream: "hello\n", want: []string{"hello"}},
	{name: "telnet CRLF", stream: "hello\r\n", want: []string{"hello"}},
	{name: "every trailing CR stripped", stream: "hi\r\r\r\n", want: []string{"hi"}},
	{name: "coalesced", stream: "a\nbb\r\nccc\n", want: []string{"a", "bb", "ccc"}},
	{name: "empty lines", stream: "\n\r\n\r\r\n", want: []string{"", "", ""}},
	{name: "inner CR kept", stream: "a\rb\n", want: []string{"a\rb"}},
	{name: "leading CR and spaces kept", stream: "\r a \n", want: []string{"\r a "}},
	{name: "binary bytes", stream: "\x00\xff\x7f\n", want: []string{"\x00\xff\x7f"}},
	{name: "unterminated tail waits", stream: "a\nbc", want: []string{"a"}, rest: "bc"},
	{name: "CR without LF waits", stream: "abc\r", rest: "abc\r"},
	{name: "no newline yet", stream: "abc", rest: "abc"},
	{name: "line of exactly max_package_size", stream: "abc\n", maxPkg: 4, want: []string{"abc"}},
	{name: "line above max_package_size", stream: "abcd\n", maxPkg: 4, wantErr: codec.ErrPackageTooLarge},
	{name: "unterminated below max_package_size", stream: "abc", maxPkg: 4, rest: "abc"},
	{name: "unterminated reaching max_package_size", stream: "abcd", maxPkg: 4, wantErr: codec.ErrPackageTooLarge},
	{name: "lines before an oversized one delivered", stream: "ab\ncd\nefghij\n", maxPkg: 4,
		want: []string{"ab", "cd"}, wantErr: codec.ErrPackageTooLarge},
	{name: "short lines under a small limit", stream: "a\nb\nc\n", maxPkg: 2, want: []string{"a", "b", "c"}},
}

func TestTextFraming(t *testing.T) {
	runFramingCases(t, protocol.Text, textCases)
}

func TestTextInput(t *testing.T) {
	c := protocol.Text.NewCodec(nil)
	for _, tc := range []struct {
		buf  string
		want int
	}{
		{"", 0},
		{"abc", 0},
		{"abc\r", 0},
		{"\n", 1},
		{"abc\n", 4},
		{"abc\r\n", 5},
		{"a\nb\n", 2}, // only the first packet
	} {
		n, err := c.Input([]byte(tc.buf))
		if n != tc.want || err != nil {
			t.Errorf("Input(%q) = %d, %v; want %d, nil", tc.buf, n, err, tc.want)
		}
	}
}

func TestTextDecodeStripsTrailingCRLF(t *testing.T) {
	c := protocol.Text.NewCodec(nil)
	for _, tc := range []struct{ pkt, want string }{
		{"a\n", "a"},
		{"a\r\n", "a"},
		{"a\r\r\n", "a"},
		{"a\n\r", "a"}, // not something Input frames, but Decode strips any mix
		{"a\r\n\r\n", "a"},
		{"\r\n", ""},
		{"\n", ""},
		{"", ""},
		{"a\rb\n", "a\rb"},
		{"a b \t\n", "a b \t"}, // only CR and LF are stripped
	} {
		msg, err := c.Decode([]byte(tc.pkt))
		if err != nil || string(msg.Data) != tc.want || msg.Kind != codec.KindData {
			t.Errorf("Decode(%q) = {%q, kind %d}, %v; want {%q, KindData}", tc.pkt, msg.Data, msg.Kind, err, tc.want)
		}
	}
}

func TestTextEncode(t *testing.T) {
	c := protocol.Text.NewCodec(nil)
	for _, tc := range []struct{ payload, want string }{
		{"", "\n"},
		{"hello", "hello\n"},
		{"a\r", "a\r\n"},
	} {
		got, err := c.Encode([]byte("prefix|"), []byte(tc.payload))
		if err != nil || string(got) != "prefix|"+tc.want {
			t.Errorf("Encode(%q) = %q, %v; want %q", tc.payload, got, err, "prefix|"+tc.want)
		}
	}
}

func TestTextRoundTrip(t *testing.T) {
	c := protocol.Text.NewCodec(nil)
	payloads := []string{"", "hello", "tab\tand space ", "\x00\xff", "a\rb", strings.Repeat("x", 70000)}
	var stream []byte
	for _, p := range payloads {
		var err error
		if stream, err = c.Encode(stream, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	for mode, chunks := range map[string][][]byte{
		"whole": {stream},
		"split": {stream[:3], stream[3:9], stream[9:]},
	} {
		f := frameChunks(c, 0, chunks...)
		if f.err != nil || !equalMsgs(f.msgs, payloads) || len(f.buf) != 0 {
			t.Errorf("%s: err=%v, got %d messages, want %d (left %d bytes)", mode, f.err, len(f.msgs), len(payloads), len(f.buf))
		}
	}

	// A payload ending in CR does not survive: Decode strips it, as
	// Workerman's does.
	wire, _ := c.Encode(nil, []byte("a\r\r"))
	msgs, err := frameAll(c, wire, 0)
	if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0], []byte("a")) {
		t.Errorf(`"a\r\r" round trip = %q, %v; want ["a"]`, msgs, err)
	}
}
