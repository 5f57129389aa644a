// Package wsdeflate implements the permessage-deflate WebSocket extension
// (RFC 7692): negotiation of its parameters in Sec-WebSocket-Extensions, and
// per-message compression on top of compress/flate.
//
// Go's compress/flate always compresses with a 32 KiB window (window bits 15)
// and can inflate data made with any smaller window, which decides how the
// window parameters are negotiated: we decline to compress with a smaller
// window, and never need to ask a peer for one.
package wsdeflate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ExtensionName is the extension token registered by RFC 7692.
const ExtensionName = "permessage-deflate"

// Params holds the parameters of one permessage-deflate offer or response
// (RFC 7692 §7.1). A zero window-bits field means the parameter is absent.
type Params struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	// ServerMaxWindowBits is 8..15 when present.
	ServerMaxWindowBits int
	// ClientMaxWindowBits is 8..15 when present with a value.
	ClientMaxWindowBits int
	// ClientMaxWindowBitsNoValue reports a bare client_max_window_bits in an
	// offer: the client can limit its window if the server asks for it.
	ClientMaxWindowBitsNoValue bool
}

// String formats p as one Sec-WebSocket-Extensions element, e.g.
// "permessage-deflate; server_no_context_takeover".
func (p Params) String() string {
	var b strings.Builder
	b.WriteString(ExtensionName)
	if p.ServerNoContextTakeover {
		b.WriteString("; server_no_context_takeover")
	}
	if p.ClientNoContextTakeover {
		b.WriteString("; client_no_context_takeover")
	}
	if p.ServerMaxWindowBits != 0 {
		b.WriteString("; server_max_window_bits=")
		b.WriteString(strconv.Itoa(p.ServerMaxWindowBits))
	}
	if p.ClientMaxWindowBits != 0 {
		b.WriteString("; client_max_window_bits=")
		b.WriteString(strconv.Itoa(p.ClientMaxWindowBits))
	} else if p.ClientMaxWindowBitsNoValue {
		b.WriteString("; client_max_window_bits")
	}
	return b.String()
}

// Config chooses how this endpoint negotiates.
type Config struct {
	// ContextTakeover lets both directions keep the LZ77 window across
	// messages when the peer agrees. It compresses chatty streams better but
	// costs a flate.Writer (hundreds of KiB, see the package tests) plus a
	// 32 KiB inflate window per connection for its whole life. The default,
	// false, negotiates no context takeover both ways, so compressors are
	// pooled and an idle connection holds no compression state.
	ContextTakeover bool
}

// ErrSyntax is wrapped by the errors of ParseOffers and ParseResponse when a
// header value does not follow the RFC 6455 §9.1 grammar.
var ErrSyntax = errors.New("wsdeflate: malformed Sec-WebSocket-Extensions")

// extension is one element of an extension list with its parameters in order.
type extension struct {
	name   string
	params []param
}

type param struct {
	name     string
	value    string
	hasValue bool
}

// parseExtensions splits a Sec-WebSocket-Extensions value following RFC 6455
// §9.1: extensions separated by commas, parameters by semicolons, values being
// tokens or quoted strings. Empty list elements are skipped as the HTTP #rule
// requires of recipients.
func parseExtensions(h string) ([]extension, error) {
	var exts []extension
	i := 0
	for {
		i = skipOWS(h, i)
		if i == len(h) {
			return exts, nil
		}
		if h[i] == ',' {
			i++
			continue
		}
		var ext extension
		var err error
		ext.name, i, err = parseToken(h, i)
		if err != nil {
			return nil, fmt.Errorf("%w: extension name: %w", ErrSyntax, err)
		}
		for {
			i = skipOWS(h, i)
			if i == len(h) || h[i] == ',' {
				break
			}
			if h[i] != ';' {
				return nil, fmt.Errorf("%w: unexpected %q at %d", ErrSyntax, h[i], i)
			}
			i = skipOWS(h, i+1)
			var p param
			p.name, i, err = parseToken(h, i)
			if err != nil {
				return nil, fmt.Errorf("%w: parameter name of %s: %w", ErrSyntax, ext.name, err)
			}
			i = skipOWS(h, i)
			if i < len(h) && h[i] == '=' {
				p.hasValue = true
				i = skipOWS(h, i+1)
				if i < len(h) && h[i] == '"' {
					p.value, i, err = parseQuoted(h, i)
					if err == nil && !isToken(p.value) {
						// RFC 6455 §9.1: a quoted value must be a token once unquoted.
						err = fmt.Errorf("quoted value %q is not a token", p.value)
					}
				} else {
					p.value, i, err = parseToken(h, i)
				}
				if err != nil {
					return nil, fmt.Errorf("%w: value of %s: %w", ErrSyntax, p.name, err)
				}
			}
			ext.params = append(ext.params, p)
		}
		exts = append(exts, ext)
	}
}

func skipOWS(h string, i int) int {
	for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
		i++
	}
	return i
}

func parseToken(h string, i int) (string, int, error) {
	start := i
	for i < len(h) && isTokenChar(h[i]) {
		i++
	}
	if i == start {
		if i == len(h) {
			return "", i, errors.New("missing token at end")
		}
		return "", i, fmt.Errorf("expected token at %d, found %q", i, h[i])
	}
	return h[start:i], i, nil
}

func parseQuoted(h string, i int) (string, int, error) {
	var b strings.Builder
	for i++; i < len(h); i++ {
		switch c := h[i]; {
		case c == '"':
			return b.String(), i + 1, nil
		case c == '\\':
			i++
			if i == len(h) {
				return "", i, errors.New("unterminated quoted string")
			}
			b.WriteByte(h[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", i, errors.New("unterminated quoted string")
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports the tchar set of RFC 7230 §3.2.6.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// windowBits parses a window-bits value: a decimal 8..15 without leading
// zeros, as RFC 7692 §7.1.2 requires.
func windowBits(v string) (int, bool) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// toParams validates the parameters of one permessage-deflate element. An
// unknown or duplicated parameter or a bad value makes the element invalid
// (RFC 7692 §5, §7.1).
func toParams(ext extension) (Params, error) {
	var p Params
	seen := map[string]bool{}
	for _, q := range ext.params {
		name := strings.ToLower(q.name)
		if seen[name] {
			return Params{}, fmt.Errorf("duplicate parameter %s", name)
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if q.hasValue {
				return Params{}, fmt.Errorf("%s takes no value", name)
			}
			if name[0] == 's' {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
		case "server_max_window_bits":
			n, ok := windowBits(q.value)
			if !q.hasValue || !ok {
				return Params{}, fmt.Errorf("server_max_window_bits needs a value 8..15, got %q", q.value)
			}
			p.ServerMaxWindowBits = n
		case "client_max_window_bits":
			if !q.hasValue {
				p.ClientMaxWindowBitsNoValue = true
				continue
			}
			n, ok := windowBits(q.value)
			if !ok {
				return Params{}, fmt.Errorf("client_max_window_bits value must be 8..15, got %q", q.value)
			}
			p.ClientMaxWindowBits = n
		default:
			return Params{}, fmt.Errorf("unknown parameter %s", q.name)
		}
	}
	return p, nil
}

// ParseOffers parses a client's Sec-WebSocket-Extensions value (several
// header lines joined with ", ") and returns its permessage-deflate offers in
// preference order. Other extensions are ignored. An offer with an unknown or
// duplicated parameter or an out-of-range value is skipped, as RFC 7692 §5
// says it must be declined. A value that breaks the header grammar is an
// error wrapping ErrSyntax; the caller should then negotiate no extensions.
func ParseOffers(header string) ([]Params, error) {
	exts, err := parseExtensions(header)
	if err != nil {
		return nil, err
	}
	var offers []Params
	for _, ext := range exts {
		if !strings.EqualFold(ext.name, ExtensionName) {
			continue
		}
		p, err := toParams(ext)
		if err != nil {
			continue
		}
		offers = append(offers, p)
	}
	return offers, nil
}

// Accept picks the first offer this server can honour and returns the
// response parameters and the Sec-WebSocket-Extensions element to send. ok is
// false when every offer was declined; the connection then runs uncompressed.
//
// An offer limiting server_max_window_bits below 15 is declined, since
// compress/flate cannot shrink its window. A client_max_window_bits offer is
// left unanswered: we inflate any window. Without cfg.ContextTakeover the
// response always carries both no_context_takeover parameters (RFC 7692
// §7.1.1 lets a server add them unasked); with it, only those the client
// asked for.
func Accept(offers []Params, cfg Config) (resp Params, header string, ok bool) {
	for _, o := range offers {
		if o.ServerMaxWindowBits != 0 && o.ServerMaxWindowBits < 15 {
			continue
		}
		resp = Params{
			ServerNoContextTakeover: o.ServerNoContextTakeover || !cfg.ContextTakeover,
			ClientNoContextTakeover: o.ClientNoContextTakeover || !cfg.ContextTakeover,
			// RFC 7692 §7.1.2.1: an accepted server_max_window_bits is echoed.
			ServerMaxWindowBits: o.ServerMaxWindowBits,
		}
		return resp, resp.String(), true
	}
	return Params{}, "", false
}

// Offer returns the Sec-WebSocket-Extensions value a client sends. It never
// offers client_max_window_bits, because a server could then ask for a window
// compress/flate cannot produce.
func Offer(cfg Config) string {
	return Params{
		ServerNoContextTakeover: !cfg.ContextTakeover,
		ClientNoContextTakeover: !cfg.ContextTakeover,
	}.String()
}

// ParseResponse parses the server's Sec-WebSocket-Extensions answer to
// Offer(cfg). ok is false when the server did not accept permessage-deflate.
// An error means the client must fail the connection (RFC 7692 §7.1): an
// extension we did not offer, permessage-deflate twice, an invalid parameter,
// client_max_window_bits (not offered), or no server_no_context_takeover
// although we asked for it.
func ParseResponse(header string, cfg Config) (p Params, ok bool, err error) {
	exts, err := parseExtensions(header)
	if err != nil {
		return Params{}, false, err
	}
	for _, ext := range exts {
		if !strings.EqualFold(ext.name, ExtensionName) {
			return Params{}, false, fmt.Errorf("wsdeflate: server accepted extension %q that was not offered", ext.name)
		}
		if ok {
			return Params{}, false, errors.New("wsdeflate: server answered permessage-deflate twice")
		}
		p, err = toParams(ext)
		if err != nil {
			return Params{}, false, fmt.Errorf("wsdeflate: server response: %w", err)
		}
		if p.ClientMaxWindowBits != 0 || p.ClientMaxWindowBitsNoValue {
			return Params{}, false, errors.New("wsdeflate: server sent client_max_window_bits, which was not offered")
		}
		if !cfg.ContextTakeover && !p.ServerNoContextTakeover {
			return Params{}, false, errors.New("wsdeflate: server ignored server_no_context_takeover")
		}
		ok = true
	}
	return p, ok, nil
}
