package listenaddr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/listenaddr"
)

func TestParseListenPaths(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want listenaddr.Addr
	}{
		{"unix:///run/app.sock", listenaddr.Addr{Scheme: "unix", Path: "/run/app.sock"}},
		{"text:///tmp/x/text.sock", listenaddr.Addr{Scheme: "text", Path: "/tmp/x/text.sock"}},
		{"http:///" + strings.Repeat("a", listenaddr.MaxPathLen-1), listenaddr.Addr{Scheme: "http", Path: "/" + strings.Repeat("a", listenaddr.MaxPathLen-1)}},
	} {
		got, err := listenaddr.ParseListen(tc.in)
		if err != nil {
			t.Errorf("ParseListen(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want || !got.IsPath() || got.String() != tc.in {
			t.Errorf("ParseListen(%q) = %+v (%q), want %+v", tc.in, got, got.String(), tc.want)
		}
	}
	// Host and port addresses parse as Parse with ipOnly parses them.
	for _, in := range []string{"text://0.0.0.0:2347", "tcp://[::1]:80"} {
		got, err := listenaddr.ParseListen(in)
		want, _ := listenaddr.Parse(in, true)
		if err != nil || got != want || got.IsPath() {
			t.Errorf("ParseListen(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestParseListenPathErrors(t *testing.T) {
	for _, tc := range []struct{ in, mention string }{
		{"unix://run/app.sock", "a unix address is a path"},
		{"unix://127.0.0.1:80", "a unix address is a path"},
		{"Unix:///run/app.sock", "bad scheme"},
		{"unix:///", "names a directory"},
		{"unix:///run/", "names a directory"},
		{"unix:///run//app.sock", `write the socket path as "/run/app.sock"`},
		{"unix:///run/../app.sock", `write the socket path as "/app.sock"`},
		{"unix:///run/a\x00b", "NUL"},
		{"unix:///" + strings.Repeat("a", listenaddr.MaxPathLen), "longer than the 107"},
		{"text://example.com:80", "must be an IP address"},
	} {
		a, err := listenaddr.ParseListen(tc.in)
		if err == nil || !errors.Is(err, listenaddr.ErrSyntax) || !strings.Contains(err.Error(), tc.mention) || a != (listenaddr.Addr{}) {
			t.Errorf("ParseListen(%q) = %+v, %v; want an ErrSyntax saying %q", tc.in, a, err, tc.mention)
		}
	}
}

// FuzzParseListen: errors wrap ErrSyntax and leave the zero Addr; an
// accepted address is a path or an IP, and its String parses back to it.
func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"unix:///run/app.sock", "text:///tmp/a.sock", "unix://a", "tcp://[::1]:80", "unix:///a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := listenaddr.ParseListen(s)
		if err != nil {
			if !errors.Is(err, listenaddr.ErrSyntax) || a != (listenaddr.Addr{}) {
				t.Fatalf("ParseListen(%q) = %+v, %v", s, a, err)
			}
			return
		}
		if a.IsPath() == a.IP.IsValid() {
			t.Fatalf("ParseListen(%q) = %+v: want a path or an IP", s, a)
		}
		if b, err := listenaddr.ParseListen(a.String()); err != nil || b != a {
			t.Fatalf("ParseListen(%q) = %+v, but its String %q gives %+v, %v", s, a, a.String(), b, err)
		}
	})
}
