package listenaddr_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/listenaddr"
)

func FuzzParse(f *testing.F) {
	for _, tc := range okCases {
		f.Add(tc.in, tc.ipOnly)
	}
	for _, tc := range errCases {
		f.Add(tc.in, tc.ipOnly)
	}
	f.Fuzz(func(t *testing.T, s string, ipOnly bool) {
		a, err := listenaddr.Parse(s, ipOnly)
		if err != nil {
			if !errors.Is(err, listenaddr.ErrSyntax) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrSyntax", s, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("Parse(%q): error %q does not quote the input", s, err)
			}
			if a != (listenaddr.Addr{}) {
				t.Fatalf("Parse(%q) failed but returned %+v", s, a)
			}
			return
		}
		if ipOnly && !a.IP.IsValid() {
			t.Fatalf("Parse(%q, true) = %+v without an IP", s, a)
		}
		if a.IP.IsValid() && a.IP.Zone() != "" {
			t.Fatalf("Parse(%q) = %+v with a zone", s, a)
		}
		if a.Scheme == "" || a.Host == "" {
			t.Fatalf("Parse(%q) = %+v with an empty part", s, a)
		}
		str := a.String()
		b, err := listenaddr.Parse(str, ipOnly)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its String() %q does not parse: %v", s, a, str, err)
		}
		if b != a {
			t.Fatalf("Parse(%q) = %+v, but its String() %q parses to %+v", s, a, str, b)
		}
		if b.String() != str {
			t.Fatalf("String() is not stable: %q then %q", str, b.String())
		}
	})
}
