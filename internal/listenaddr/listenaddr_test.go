package listenaddr_test

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/listenaddr"
)

type okCase struct {
	in     string
	ipOnly bool
	want   listenaddr.Addr
	str    string // String(); "" means in
}

// okCases are also seeds of FuzzParse.
var okCases = []okCase{
	{in: "text://0.0.0.0:2347", ipOnly: true, want: listenaddr.Addr{Scheme: "text", Host: "0.0.0.0", Port: 2347, IP: netip.MustParseAddr("0.0.0.0")}},
	{in: "frame://[::1]:9000", ipOnly: true, want: listenaddr.Addr{Scheme: "frame", Host: "::1", Port: 9000, IP: netip.IPv6Loopback()}},
	{in: "tcp://[::]:0", ipOnly: true, want: listenaddr.Addr{Scheme: "tcp", Host: "::", Port: 0, IP: netip.IPv6Unspecified()}},
	{in: "tcp://127.0.0.1:65535", ipOnly: true, want: listenaddr.Addr{Scheme: "tcp", Host: "127.0.0.1", Port: 65535, IP: netip.MustParseAddr("127.0.0.1")}},
	{in: "websocket://[::ffff:10.0.0.1]:8080", ipOnly: true, want: listenaddr.Addr{Scheme: "websocket", Host: "::ffff:10.0.0.1", Port: 8080, IP: netip.MustParseAddr("::ffff:10.0.0.1")}},
	{in: "my-proto+v2.1://1.2.3.4:80", ipOnly: true, want: listenaddr.Addr{Scheme: "my-proto+v2.1", Host: "1.2.3.4", Port: 80, IP: netip.MustParseAddr("1.2.3.4")}},
	{in: "tcp://1.2.3.4:080", ipOnly: true, want: listenaddr.Addr{Scheme: "tcp", Host: "1.2.3.4", Port: 80, IP: netip.MustParseAddr("1.2.3.4")}, str: "tcp://1.2.3.4:80"},
	// Names only for outbound connections; the IP stays invalid.
	{in: "tcp://example.com:80", want: listenaddr.Addr{Scheme: "tcp", Host: "example.com", Port: 80}},
	{in: "ws://localhost:8080", want: listenaddr.Addr{Scheme: "ws", Host: "localhost", Port: 8080}},
	{in: "tcp://my_host.EXAMPLE.org.:1", want: listenaddr.Addr{Scheme: "tcp", Host: "my_host.EXAMPLE.org.", Port: 1}},
	{in: "text://10.1.2.3:7", want: listenaddr.Addr{Scheme: "text", Host: "10.1.2.3", Port: 7, IP: netip.MustParseAddr("10.1.2.3")}},
}

func TestParseOK(t *testing.T) {
	for _, tc := range okCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := listenaddr.Parse(tc.in, tc.ipOnly)
			if err != nil {
				t.Fatalf("Parse(%q, %v): %v", tc.in, tc.ipOnly, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q, %v) = %+v, want %+v", tc.in, tc.ipOnly, got, tc.want)
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			if tc.want.IP.IsValid() {
				if ap := got.AddrPort(); ap != netip.AddrPortFrom(tc.want.IP, tc.want.Port) {
					t.Errorf("AddrPort() = %v", ap)
				}
			}
			// Anything accepted as a listen address is accepted for connecting.
			if tc.ipOnly {
				if again, err := listenaddr.Parse(tc.in, false); err != nil || again != got {
					t.Errorf("Parse(%q, false) = %+v, %v; want the same as with ipOnly", tc.in, again, err)
				}
			}
		})
	}
}

func TestParseHostnameNeedsIPOnlyFalse(t *testing.T) {
	for _, in := range []string{"tcp://example.com:80", "text://localhost:2347", "frame://a-b.c_d:1"} {
		if _, err := listenaddr.Parse(in, false); err != nil {
			t.Errorf("Parse(%q, false): %v; want a host name accepted", in, err)
		}
		_, err := listenaddr.Parse(in, true)
		if err == nil || !strings.Contains(err.Error(), "must be an IP address") {
			t.Errorf("Parse(%q, true) = %v; want a host name refused for listening", in, err)
		}
	}
}

type errCase struct {
	in      string
	ipOnly  bool
	mention string // besides the input itself, the error must say this
}

// errCases are also seeds of FuzzParse.
var errCases = []errCase{
	{in: "", mention: "want scheme://host:port"},
	{in: "0.0.0.0:2347", ipOnly: true, mention: "want scheme://host:port"},
	{in: "text:/0.0.0.0:2347", ipOnly: true, mention: "want scheme://host:port"},
	{in: "://0.0.0.0:2347", ipOnly: true, mention: "bad scheme"},
	{in: "Text://0.0.0.0:2347", ipOnly: true, mention: `bad scheme "Text"`},
	{in: "te_xt://0.0.0.0:2347", ipOnly: true, mention: `bad scheme "te_xt"`},
	{in: "te xt://0.0.0.0:2347", ipOnly: true, mention: `bad scheme "te xt"`},
	{in: "tèxt://0.0.0.0:2347", ipOnly: true, mention: "bad scheme"},
	{in: "text://0.0.0.0", ipOnly: true, mention: "missing port"},
	{in: "text://example.com", mention: "missing port"},
	{in: "frame://[::1]", ipOnly: true, mention: "missing port"},
	{in: "text://0.0.0.0:", ipOnly: true, mention: `port ""`},
	{in: "text://0.0.0.0:65536", ipOnly: true, mention: `port "65536"`},
	{in: "text://0.0.0.0:99999999999999999999", ipOnly: true, mention: `port "99999999999999999999"`},
	{in: "text://0.0.0.0:+1", ipOnly: true, mention: `port "+1"`},
	{in: "text://0.0.0.0:-1", ipOnly: true, mention: `port "-1"`},
	{in: "text://0.0.0.0:0x50", ipOnly: true, mention: `port "0x50"`},
	{in: "text://0.0.0.0:8_0", ipOnly: true, mention: `port "8_0"`},
	{in: "text://0.0.0.0: 80", ipOnly: true, mention: `port " 80"`},
	{in: "text://0.0.0.0:http", ipOnly: true, mention: `port "http"`},
	{in: "tcp://::1:80", ipOnly: true, mention: "need brackets"},
	{in: "tcp://::1:80", mention: "need brackets"},
	{in: "tcp://fe80::1%eth0:80", mention: "need brackets"},
	{in: "tcp://[fe80::1%eth0]:80", ipOnly: true, mention: "zoned"},
	{in: "tcp://[fe80::1%25eth0]:80", mention: "zoned"},
	{in: "tcp://[::1:80", ipOnly: true, mention: "unclosed '['"},
	{in: "tcp://[1.2.3.4]:80", ipOnly: true, mention: `"1.2.3.4" is not an IPv6 address`},
	{in: "tcp://[example.com]:80", mention: `"example.com" is not an IPv6 address`},
	{in: "tcp://[]:80", mention: `"" is not an IPv6 address`},
	{in: "text://0.0.0.0:2347/", ipOnly: true, mention: `"/" after the port`},
	{in: "text://0.0.0.0:2347/path", ipOnly: true, mention: `"/path" after the port`},
	{in: "http://0.0.0.0:80?x=1", ipOnly: true, mention: `"?x=1" after the port`},
	{in: "http://0.0.0.0:80#frag", ipOnly: true, mention: `"#frag" after the port`},
	{in: "text://:2347", ipOnly: true, mention: "missing host"},
	{in: "text://:2347", mention: "missing host"},
	{in: "text://256.0.0.1:80", ipOnly: true, mention: "must be an IP address"},
	{in: "tcp://256.0.0.1:80", ipOnly: false, mention: "not a valid host name"},
	{in: "tcp://example.123:80", ipOnly: false, mention: "not a valid host name"},
	{in: "+x://127.0.0.1:80", ipOnly: true, mention: `bad scheme "+x"`},
	{in: "1text://127.0.0.1:80", ipOnly: true, mention: `bad scheme "1text"`},
	{in: "tcp://user@example.com:80", mention: "not a valid host name"},
	{in: "tcp://-bad.example:80", mention: "not a valid host name"},
	{in: "tcp://bad-.example:80", mention: "not a valid host name"},
	{in: "tcp://a..b:80", mention: "not a valid host name"},
	{in: "tcp://.:80", mention: "not a valid host name"},
	{in: "tcp://exa mple.com:80", mention: "not a valid host name"},
	{in: "tcp://bücher.de:80", mention: "not a valid host name"},
	{in: "tcp://" + strings.Repeat("a", 64) + ".com:80", mention: "not a valid host name"},
	{in: "tcp://" + strings.Repeat("abcdefg.", 32) + "com:80", mention: "not a valid host name"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errCases {
		t.Run(tc.in, func(t *testing.T) {
			a, err := listenaddr.Parse(tc.in, tc.ipOnly)
			if err == nil {
				t.Fatalf("Parse(%q, %v) = %+v, want an error", tc.in, tc.ipOnly, a)
			}
			if !errors.Is(err, listenaddr.ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			if a != (listenaddr.Addr{}) {
				t.Errorf("failed Parse returned %+v, want the zero Addr", a)
			}
			msg := err.Error()
			if !strings.Contains(msg, strconv.Quote(tc.in)) {
				t.Errorf("error %q does not quote the input %q", msg, tc.in)
			}
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("error %q does not say %q", msg, tc.mention)
			}
		})
	}
}

// The longest host name (253 bytes, 63-byte labels) is accepted.
func TestParseHostnameLimits(t *testing.T) {
	label := strings.Repeat("a", 63)
	host := label + "." + label + "." + label + "." + strings.Repeat("b", 61)
	if len(host) != 253 {
		t.Fatalf("test host is %d bytes", len(host))
	}
	if _, err := listenaddr.Parse("tcp://"+host+":1", false); err != nil {
		t.Errorf("253-byte host: %v", err)
	}
	if _, err := listenaddr.Parse("tcp://"+host+"b:1", false); err == nil {
		t.Errorf("254-byte host accepted")
	}
}
