package http

import (
	"slices"
	"testing"
)

func TestHeaderGetSetAddDel(t *testing.T) {
	var h Header
	h.Add("Content-Type", "text/plain")
	h.Add("X-A", "1")
	h.Add("x-a", "2")
	h.Add("Vary", "Accept")
	if got := h.Get("CONTENT-type"); got != "text/plain" {
		t.Errorf("Get = %q", got)
	}
	if got := h.Values("X-a"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("Values = %q", got)
	}
	if h.Get("missing") != "" || h.Has("missing") || h.Values("missing") != nil {
		t.Error("a missing field is reported present")
	}
	h.Set("X-A", "3")
	want := Header{{"Content-Type", "text/plain"}, {"X-A", "3"}, {"Vary", "Accept"}}
	if !slices.Equal(h, want) {
		t.Errorf("after Set: %q, want %q (first position kept, duplicates gone)", h, want)
	}
	h.Set("New", "v")
	if h[len(h)-1] != (Field{"New", "v"}) {
		t.Errorf("Set of a new name did not append: %q", h)
	}
	h.Del("content-TYPE")
	h.Del("new")
	want = Header{{"X-A", "3"}, {"Vary", "Accept"}}
	if !slices.Equal(h, want) {
		t.Errorf("after Del: %q, want %q", h, want)
	}
}

func TestEqualFoldASCIIOnly(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"Content-Length", "content-length", true},
		{"ETAG", "etag", true},
		{"a", "b", false},
		{"ab", "a", false},
		{"[", "{", false}, // differ by 0x20 but are not letters
		{"K", "\u212a", false},
	} {
		if got := equalFold(c.a, c.b); got != c.want {
			t.Errorf("equalFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestValidField(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"Content-Type", true}, {"x!#$%&'*+-.^_`|~9", true}, {"", false}, {"a b", false},
		{"a:b", false}, {"a\r\nb", false}, {"é", false}, {"a(b)", false}, {"a\"", false},
	} {
		if got := ValidFieldName(c.s); got != c.want {
			t.Errorf("ValidFieldName(%q) = %v", c.s, got)
		}
	}
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"", true}, {"text/html; charset=utf-8", true}, {"a\tb", true}, {"caf\xc3\xa9", true},
		{"a\rb", false}, {"a\nb", false}, {"a\x00", false}, {"\x01", false}, {"\x7f", false},
		{"x\r\nSet-Cookie: a=b", false},
	} {
		if got := ValidFieldValue(c.s); got != c.want {
			t.Errorf("ValidFieldValue(%q) = %v", c.s, got)
		}
	}
}

func TestHeaderGetAllocs(t *testing.T) {
	h := Header{{"Server", "x"}, {"Content-Type", "text/plain"}, {"Transfer-Encoding", "chunked"}}
	if n := testing.AllocsPerRun(100, func() {
		if h.Get("transfer-encoding") == "" || h.Has("connection") {
			t.Fatal("wrong answer")
		}
	}); n != 0 {
		t.Errorf("Header.Get allocates %v times", n)
	}
}
