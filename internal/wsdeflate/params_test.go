package wsdeflate

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseOffers(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   []Params
		bad    bool
	}{
		{"chrome", "permessage-deflate; client_max_window_bits", []Params{{ClientMaxWindowBitsNoValue: true}}, false},
		{"firefox", "permessage-deflate", []Params{{}}, false},
		{"empty", "", nil, false},
		{"empty elements", " , ,permessage-deflate,", []Params{{}}, false},
		{"case and spaces", "Permessage-Deflate ;\tServer_No_Context_Takeover ; client_max_window_bits = 10",
			[]Params{{ServerNoContextTakeover: true, ClientMaxWindowBits: 10}}, false},
		{"two offers", "permessage-deflate; server_max_window_bits=10, permessage-deflate",
			[]Params{{ServerMaxWindowBits: 10}, {}}, false},
		{"quoted values", `permessage-deflate; server_max_window_bits="15"; client_max_window_bits="9"`,
			[]Params{{ServerMaxWindowBits: 15, ClientMaxWindowBits: 9}}, false},
		{"quoted escape", `permessage-deflate; server_max_window_bits="1\5"`, []Params{{ServerMaxWindowBits: 15}}, false},
		{"unknown extension ignored", "x-webkit-deflate-frame, foo; bar=\"baz\"; q, permessage-deflate; client_no_context_takeover",
			[]Params{{ClientNoContextTakeover: true}}, false},
		{"duplicate param skips offer", "permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate",
			[]Params{{}}, false},
		{"duplicate window bits skips offer", "permessage-deflate; client_max_window_bits; client_max_window_bits=10", nil, false},
		{"unknown param skips offer", "permessage-deflate; foo", nil, false},
		{"window out of range", "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=7", nil, false},
		{"leading zero", "permessage-deflate; server_max_window_bits=015", nil, false},
		{"server window needs value", "permessage-deflate; server_max_window_bits", nil, false},
		{"takeover with value", "permessage-deflate; server_no_context_takeover=1", nil, false},
		{"missing name", "; server_no_context_takeover", nil, true},
		{"missing param", "permessage-deflate;", nil, true},
		{"missing value", "permessage-deflate; server_max_window_bits=", nil, true},
		{"unterminated quote", `permessage-deflate; server_max_window_bits="15`, nil, true},
		{"quoted non-token", `permessage-deflate; server_max_window_bits="1 5"`, nil, true},
		{"junk after name", "permessage-deflate foo", nil, true},
		{"separator in name", "permessage/deflate", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOffers(tt.header)
			if tt.bad {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("ParseOffers(%q) = %+v, %v; want ErrSyntax", tt.header, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOffers(%q): %v", tt.header, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseOffers(%q) = %+v, want %+v", tt.header, got, tt.want)
			}
		})
	}
}

func TestAccept(t *testing.T) {
	const both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	tests := []struct {
		name   string
		header string
		cfg    Config
		want   string
		ok     bool
	}{
		{"chrome", "permessage-deflate; client_max_window_bits", Config{}, both, true},
		{"firefox", "permessage-deflate", Config{}, both, true},
		{"node ws", "permessage-deflate; client_max_window_bits", Config{}, both, true},
		{"small server window declined, fallback accepted",
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits",
			Config{}, both, true},
		{"only small window", "permessage-deflate; server_max_window_bits=14", Config{}, "", false},
		{"window 15 echoed", "permessage-deflate; server_max_window_bits=15", Config{},
			both + "; server_max_window_bits=15", true},
		{"takeover allowed, none asked", "permessage-deflate; client_max_window_bits", Config{ContextTakeover: true},
			"permessage-deflate", true},
		{"takeover allowed, client asks server not to", "permessage-deflate; server_no_context_takeover",
			Config{ContextTakeover: true}, "permessage-deflate; server_no_context_takeover", true},
		{"no offers", "foo", Config{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := ParseOffers(tt.header)
			if err != nil {
				t.Fatal(err)
			}
			resp, h, ok := Accept(offers, tt.cfg)
			if ok != tt.ok || h != tt.want {
				t.Fatalf("Accept(%q) = %q, %v; want %q, %v", tt.header, h, ok, tt.want, tt.ok)
			}
			if ok {
				// What the server sends must be something a client parses back
				// to the same parameters.
				back, err := ParseOffers(h)
				if err != nil || len(back) != 1 || back[0] != resp {
					t.Fatalf("response %q parses to %+v, %v; want %+v", h, back, err, resp)
				}
			}
		})
	}
}

func TestOfferAndParseResponse(t *testing.T) {
	if got := Offer(Config{}); got != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("Offer = %q", got)
	}
	if got := Offer(Config{ContextTakeover: true}); got != "permessage-deflate" {
		t.Fatalf("Offer(takeover) = %q", got)
	}
	// Our own server's answer to our own client's offer is accepted.
	for _, cfg := range []Config{{}, {ContextTakeover: true}} {
		offers, err := ParseOffers(Offer(cfg))
		if err != nil {
			t.Fatal(err)
		}
		want, h, ok := Accept(offers, cfg)
		if !ok {
			t.Fatalf("server declined our offer %q", Offer(cfg))
		}
		got, ok, err := ParseResponse(h, cfg)
		if err != nil || !ok || got != want {
			t.Fatalf("ParseResponse(%q) = %+v, %v, %v; want %+v", h, got, ok, err, want)
		}
	}
	tests := []struct {
		name   string
		header string
		cfg    Config
		want   Params
		ok     bool
		bad    bool
	}{
		{"declined", "", Config{}, Params{}, false, false},
		{"smaller server window is fine", "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
			Config{}, Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 9}, true, false},
		{"takeover, server adds no_context_takeover", "permessage-deflate; client_no_context_takeover",
			Config{ContextTakeover: true}, Params{ClientNoContextTakeover: true}, true, false},
		{"server ignored no_context_takeover", "permessage-deflate", Config{}, Params{}, false, true},
		{"client window not offered", "permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
			Config{}, Params{}, false, true},
		{"unoffered extension", "permessage-deflate; server_no_context_takeover, x-foo", Config{}, Params{}, false, true},
		{"twice", "permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover",
			Config{}, Params{}, false, true},
		{"duplicate", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", Config{}, Params{}, false, true},
		{"unknown param", "permessage-deflate; server_no_context_takeover; foo", Config{}, Params{}, false, true},
		{"malformed", "permessage-deflate;", Config{}, Params{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseResponse(tt.header, tt.cfg)
			if (err != nil) != tt.bad || ok != tt.ok || got != tt.want {
				t.Fatalf("ParseResponse(%q) = %+v, %v, %v; want %+v, %v, error %v", tt.header, got, ok, err, tt.want, tt.ok, tt.bad)
			}
		})
	}
}

func FuzzParseOffers(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate",
		`permessage-deflate; server_max_window_bits="10", permessage-deflate`,
		"x-webkit-deflate-frame, foo; bar=baz",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		`a; b="\"", ,`,
		"permessage-deflate;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		offers, err := ParseOffers(h)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		for _, o := range offers {
			for _, bits := range []int{o.ServerMaxWindowBits, o.ClientMaxWindowBits} {
				if bits != 0 && (bits < 8 || bits > 15) {
					t.Fatalf("offer %+v has window bits out of range", o)
				}
			}
		}
		// Whatever we answer must itself be well-formed and valid.
		resp, hdr, ok := Accept(offers, Config{})
		if !ok {
			return
		}
		back, err := ParseOffers(hdr)
		if err != nil || len(back) != 1 || back[0] != resp {
			t.Fatalf("response %q parses to %+v, %v", hdr, back, err)
		}
		if _, _, err := ParseResponse(hdr, Config{}); err != nil {
			t.Fatalf("our client rejects our server's response %q: %v", hdr, err)
		}
	})
}
