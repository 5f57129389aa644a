package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header: version/command byte vc, family/transport
// byte ft, then body (addresses and TLVs).
func v2(vc, ft byte, body []byte) []byte {
	b := append([]byte(nil), v2Sig...)
	b = append(b, vc, ft)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func v2inet(src, dst string, sport, dport uint16, tlvs []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	var body []byte
	ft := byte(0x11)
	if s.Is4() {
		a, b := s.As4(), d.As4()
		body = append(append(body, a[:]...), b[:]...)
	} else {
		ft = 0x21
		a, b := s.As16(), d.As16()
		body = append(append(body, a[:]...), b[:]...)
	}
	body = binary.BigEndian.AppendUint16(body, sport)
	body = binary.BigEndian.AppendUint16(body, dport)
	return v2(0x21, ft, append(body, tlvs...))
}

type okCase struct {
	name   string
	header []byte
	src    string // "" when the header carries no address
}

func okCases() []okCase {
	long := "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
	return []okCase{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 4567 80\r\n"), "203.0.113.7:4567"},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 4567 443\r\n"), "[2001:db8::7]:4567"},
		{"v1 port 0", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"), "1.2.3.4:0"},
		{"v1 longest", []byte(long), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), ""},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), ""},
		{"v2 tcp4", v2inet("203.0.113.7", "10.0.0.1", 4567, 80, nil), "203.0.113.7:4567"},
		{"v2 tcp6", v2inet("2001:db8::7", "2001:db8::1", 4567, 443, nil), "[2001:db8::7]:4567"},
		{"v2 tcp6 mapped v4", v2inet("::ffff:198.51.100.9", "::1", 1, 2, nil), "198.51.100.9:1"},
		{"v2 tcp4 with tlvs", v2inet("203.0.113.7", "10.0.0.1", 4567, 80, []byte{0x04, 0x00, 0x03, 'a', 'b', 'c', 0x01, 0x00, 0x02, 'h', '2'}), "203.0.113.7:4567"},
		{"v2 local", v2(0x20, 0x00, nil), ""},
		{"v2 local with addresses", v2(0x20, 0x11, make([]byte, 12)), ""},
		{"v2 unspec", v2(0x21, 0x00, []byte{1, 2, 3}), ""},
		{"v2 udp4", v2(0x21, 0x12, make([]byte, 12)), ""},
		{"v2 unix stream", v2(0x21, 0x31, make([]byte, 216)), ""},
	}
}

func checkOK(t *testing.T, tc okCase, buf []byte) {
	t.Helper()
	n, src, ok, err := Parse(buf)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if n != len(tc.header) {
		t.Fatalf("n = %d, want %d", n, len(tc.header))
	}
	if want := tc.src != ""; ok != want {
		t.Fatalf("ok = %v, want %v", ok, want)
	}
	if ok && src.String() != tc.src {
		t.Fatalf("src = %s, want %s", src, tc.src)
	}
	if !ok && src.IsValid() {
		t.Fatalf("src = %s without ok", src)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range okCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkOK(t, tc, tc.header)
			// Data after the header is left alone.
			checkOK(t, tc, append(bytes.Clone(tc.header), "hello\n"...))
			// Every proper prefix asks for more bytes.
			for i := range len(tc.header) {
				n, _, ok, err := Parse(tc.header[:i])
				if n != 0 || ok || err != nil {
					t.Fatalf("prefix of %d bytes: n=%d ok=%v err=%v, want more needed", i, n, ok, err)
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	cases := []struct {
		name string
		buf  []byte
	}{
		{"plain data", []byte("hello\n")},
		{"lowercase", []byte("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n")},
		{"no space", []byte("PROXYTCP4")},
		{"http", []byte("GET / HTTP/1.1\r\n")},
		{"v1 lf only", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")},
		{"v1 cr without lf", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX")},
		{"v1 empty", []byte("PROXY \r\n")},
		{"v1 unknown protocol", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n")},
		{"v1 unknownx", []byte("PROXY UNKNOWNX\r\n")},
		{"v1 missing port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")},
		{"v1 extra field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n")},
		{"v1 double space", []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n")},
		{"v1 trailing space", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n")},
		{"v1 bad source", []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n")},
		{"v1 bad destination", []byte("PROXY TCP4 1.2.3.4 example 1 2\r\n")},
		{"v1 tcp4 with v6", []byte("PROXY TCP4 ::1 ::2 1 2\r\n")},
		{"v1 tcp6 with v4", []byte("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n")},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n")},
		{"v1 port too big", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n")},
		{"v1 port leading zero", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n")},
		{"v1 port sign", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n")},
		{"v1 bad dport", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 x\r\n")},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("a", 100) + "\r\n")},
		{"v1 too long no end", []byte("PROXY TCP4 " + strings.Repeat("1", 200))},
		{"v2 bad signature", []byte("\r\n\r\n\x00\r\nQUIX\n")},
		{"v2 version 1", v2(0x11, 0x11, make([]byte, 12))},
		{"v2 version 3", v2(0x31, 0x11, make([]byte, 12))},
		{"v2 bad command", v2(0x22, 0x11, make([]byte, 12))},
		{"v2 bad family", v2(0x21, 0x41, make([]byte, 12))},
		{"v2 bad transport", v2(0x21, 0x13, make([]byte, 12))},
		{"v2 tcp4 short", v2(0x21, 0x11, make([]byte, 11))},
		{"v2 tcp6 short", v2(0x21, 0x21, make([]byte, 35))},
		{"v2 unix short", v2(0x21, 0x31, make([]byte, 215))},
		{"v2 local tcp4 short", v2(0x20, 0x11, make([]byte, 4))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, _, ok, err := Parse(tc.buf)
			if err == nil {
				t.Fatalf("Parse(%q) = n=%d ok=%v, want an error", tc.buf, n, ok)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if n != 0 || ok {
				t.Fatalf("error with n=%d ok=%v", n, ok)
			}
			// Fed one byte at a time, the error shows up at the latest
			// once the whole input is there, and no prefix is accepted.
			for i := 1; i <= len(tc.buf); i++ {
				n, _, _, err := Parse(tc.buf[:i])
				if err != nil {
					return
				}
				if n != 0 {
					t.Fatalf("prefix of %d bytes accepted as a %d-byte header", i, n)
				}
			}
			t.Fatal("no error when fed byte by byte")
		})
	}
}

// TestParseEarlyErrors checks that garbage is rejected without waiting for
// more bytes, so a plain client sent to a PROXY-only port is closed at once.
func TestParseEarlyErrors(t *testing.T) {
	for _, s := range []string{"G", "PROXX", "\r\n\r\n\x01", "PROXY TCP4 1.2.3.4\rx"} {
		if _, _, _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q): no error", s)
		}
	}
	// The length of a v2 header is checked as soon as it is known.
	h := v2(0x21, 0x21, make([]byte, 20))[:16]
	if _, _, _, err := Parse(h); err == nil {
		t.Error("short v2 tcp6 length not rejected before its body")
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range okCases() {
		f.Add(tc.header)
		f.Add(append(bytes.Clone(tc.header), "hello\n"...))
	}
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN " + strings.Repeat("a", 100) + "\r\n"))
	f.Add(v2(0x21, 0x21, make([]byte, 35)))
	f.Add([]byte("hello\n"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		n, src, ok, err := Parse(buf)
		switch {
		case err != nil:
			if n != 0 || ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v with n=%d ok=%v", err, n, ok)
			}
			return
		case n == 0:
			if ok {
				t.Fatal("ok without a header")
			}
			return
		}
		if n > len(buf) {
			t.Fatalf("n = %d beyond %d bytes", n, len(buf))
		}
		if ok != src.IsValid() {
			t.Fatalf("ok = %v with src %v", ok, src)
		}
		if buf[0] == 'P' && n > MaxV1Len {
			t.Fatalf("v1 header of %d bytes", n)
		}
		// The header alone parses the same, and extra bytes change nothing.
		n2, src2, ok2, err2 := Parse(buf[:n])
		if n2 != n || src2 != src || ok2 != ok || err2 != nil {
			t.Fatalf("header alone: %d %v %v %v, want %d %v %v", n2, src2, ok2, err2, n, src, ok)
		}
		// Every proper prefix of a header asks for more bytes.
		for i := range n {
			if m, _, _, err := Parse(buf[:i]); m != 0 || err != nil {
				t.Fatalf("prefix of %d bytes: n=%d err=%v", i, m, err)
			}
		}
	})
}
