package http

import "testing"

func TestChunkAppendTo(t *testing.T) {
	big := make([]byte, 0x1a2b)
	for _, c := range []struct {
		c    Chunk
		want string
	}{
		{Chunk("hello"), "5\r\nhello\r\n"},
		{Chunk(nil), "0\r\n\r\n"},
		{Chunk(""), "0\r\n\r\n"},
		{Chunk("0123456789abcdef!"), "11\r\n0123456789abcdef!\r\n"},
	} {
		if got := string(c.c.AppendTo(nil)); got != c.want {
			t.Errorf("AppendTo(%q) = %q, want %q", c.c, got, c.want)
		}
	}
	if got := string(Chunk(big).AppendTo(nil)[:6]); got != "1a2b\r\n" {
		t.Errorf("size line of a 0x1a2b chunk: %q", got)
	}
}
