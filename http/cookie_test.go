package http

import (
	"errors"
	"testing"
	"time"
)

func TestCookieAppendTo(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		c    Cookie
		want string
	}{
		{Cookie{Name: "a", Value: "b"}, "a=b"},
		{Cookie{Name: "PHPSID", Value: "abc-._~XYZ09"}, "PHPSID=abc-._~XYZ09"},
		{Cookie{Name: "n", Value: "a b;c,d=é+/"}, "n=a%20b%3Bc%2Cd%3D%C3%A9%2B%2F"},
		{Cookie{Name: "n", Value: "\r\nX: y"}, "n=%0D%0AX%3A%20y"},
		{Cookie{Name: "n", Value: ""}, "n="},
		{
			Cookie{Name: "s", Value: "v", MaxAge: 1440, Expires: exp, Path: "/", Domain: "example.com", Secure: true, HTTPOnly: true, SameSite: "Lax"},
			"s=v; Domain=example.com; Max-Age=1440; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/; Secure; HttpOnly; SameSite=Lax",
		},
		{Cookie{Name: "gone", MaxAge: -1}, "gone=; Max-Age=0"},
		{Cookie{Name: "x", Value: "1", SameSite: "None", Secure: true}, "x=1; Secure; SameSite=None"},
	} {
		if err := c.c.Valid(); err != nil {
			t.Errorf("%+v: Valid = %v", c.c, err)
		}
		if got := string(c.c.AppendTo([]byte(">"))); got != ">"+c.want {
			t.Errorf("AppendTo = %q, want %q", got, ">"+c.want)
		}
	}
}

func TestCookieInvalid(t *testing.T) {
	for _, c := range []Cookie{
		{Name: ""},
		{Name: "a b", Value: "x"},
		{Name: "a;b"},
		{Name: "a\r\nSet-Cookie: evil"},
		{Name: "a", Path: "/; Domain=evil.com"},
		{Name: "a", Domain: "x\r\n"},
		{Name: "a", SameSite: "lax; Secure"},
		{Name: "a", SameSite: "Sometimes"},
	} {
		if err := c.Valid(); !errors.Is(err, ErrBadCookie) {
			t.Errorf("%+v: Valid = %v, want ErrBadCookie", c, err)
		}
		if got := string(c.AppendTo([]byte("keep"))); got != "keep" {
			t.Errorf("%+v: AppendTo wrote %q", c, got)
		}
	}
}

func TestCookieAppendToAllocs(t *testing.T) {
	c := Cookie{Name: "s", Value: "a b", MaxAge: 60, Expires: time.Now(), Path: "/", HTTPOnly: true, SameSite: "Strict"}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _ = c.AppendTo(buf[:0]) }); n != 0 {
		t.Errorf("Cookie.AppendTo allocates %v times", n)
	}
}
