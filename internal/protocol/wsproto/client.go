package wsproto

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
)

// Client is the ws:// protocol. Its options are read when each connection
// opens, not when its codec is made, so an AsyncTcpConnection's settings may
// change between construction and Connect, or between reconnects.
type Client struct{ opts *websocket.ClientOptions }

// NewClient makes a client protocol reading *opts at every connect; nil
// means the defaults.
func NewClient(opts *websocket.ClientOptions) *Client { return &Client{opts: opts} }

func init() { codec.Register("ws", NewClient(nil)) }

// NewCodec makes the codec of one outbound connection.
func (p *Client) NewCodec(c codec.Conn) codec.Codec {
	cc := &clientConn{endpoint: endpoint{c: c, role: roleClient}, p: p}
	cc.side, cc.early = cc, &cc.held
	return &cc.endpoint
}

// maxResponseHead bounds the 101 response head; servers send a few hundred
// bytes.
const maxResponseHead = 16 << 10

// clientConn is the client's side of a ws:// connection: the upgrade
// request and the check of the server's 101.
type clientConn struct {
	endpoint
	p        *Client
	key      string        // our Sec-WebSocket-Key
	offered  []string      // subprotocols offered
	timeout  time.Duration // for the 101
	protocol string        // the subprotocol the server chose
	opened   time.Time
	held     earlyOutput // what was sent before the 101
}

var (
	errHandshakeTooBig = errors.New("websocket client: response head too large")
)

// subprotocol is the subprotocol the server selected.
func (c *clientConn) subprotocol() string { return c.protocol }

// release has nothing to give back.
func (c *clientConn) release() {}

// open sends the upgrade request.
func (c *clientConn) open() error {
	var o websocket.ClientOptions
	if c.p.opts != nil {
		o = *c.p.opts
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("websocket client key: %w", err)
	}
	c.key = base64.StdEncoding.EncodeToString(raw[:])
	c.offered = o.Subprotocols
	c.timeout = o.HandshakeTimeout
	if c.timeout <= 0 {
		c.timeout = websocket.DefaultHandshakeTimeout
	}
	c.opened = time.Now()
	req, err := appendUpgradeRequest(nil, o, c.c.RemoteAddr().String(), c.key)
	if err != nil {
		return err
	}
	c.c.WriteRaw(req)
	return nil
}

// appendUpgradeRequest builds the GET request, refusing anything that could
// break out of its line (CR, LF, spaces in the target).
func appendUpgradeRequest(b []byte, o websocket.ClientOptions, remote, key string) ([]byte, error) {
	path := o.Path
	if path == "" {
		path = "/"
	}
	if !ValidRequestTarget(path) {
		return nil, fmt.Errorf("websocket client: invalid request target %q", path)
	}
	host := o.Host
	if host == "" {
		host = remote
	}
	if !http.ValidFieldValue(host) || host == "" {
		return nil, fmt.Errorf("websocket client: invalid host %q", host)
	}
	b = append(b, "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if len(o.Subprotocols) > 0 {
		for _, s := range o.Subprotocols {
			if !http.ValidFieldName(s) { // subprotocol names are tokens
				return nil, fmt.Errorf("websocket client: invalid subprotocol %q", s)
			}
		}
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, strings.Join(o.Subprotocols, ", ")...)
		b = append(b, "\r\n"...)
	}
	for _, f := range o.Header {
		if !http.ValidFieldName(f.Name) || !http.ValidFieldValue(f.Value) {
			return nil, fmt.Errorf("websocket client: invalid header field %q", f.Name)
		}
		b = append(append(append(append(b, f.Name...), ": "...), f.Value...), "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// ValidRequestTarget reports whether s is an origin-form request target
// without a fragment: it starts with '/' and holds only visible ASCII.
func ValidRequestTarget(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// inputHandshake frames the 101 response head.
func (c *clientConn) inputHandshake(buf []byte) (int, error) {
	if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
		return i + 4, nil
	}
	if len(buf) > maxResponseHead {
		c.state = stClosed
		return 0, errHandshakeTooBig
	}
	return 0, nil
}

// decodeHandshake checks the 101 and writes what was held back for it.
func (c *clientConn) decodeHandshake(pkt []byte) (codec.Message, error) {
	if err := c.checkResponse(pkt); err != nil {
		c.state = stClosed
		return codec.Message{}, err
	}
	c.state = stOpen
	c.flushEarly()
	return codec.Message{}, nil
}

// checkResponse validates the server's answer to our upgrade request
// (RFC 6455 §4.1, the client's checks).
func (c *clientConn) checkResponse(head []byte) error {
	r, err := ParseResponseHead(head)
	if err != nil {
		return fmt.Errorf("websocket client handshake: %w", err)
	}
	fail := func(msg string) error { return fmt.Errorf("websocket client handshake: %s", msg) }
	switch {
	case r.Status != 101:
		return fail("status " + strconv.Itoa(r.Status) + ", want 101")
	case !r.hasToken("upgrade", "websocket"):
		return fail("Upgrade does not name websocket")
	case !r.hasToken("connection", "upgrade"):
		return fail("Connection does not list upgrade")
	}
	if accept, n := r.get("sec-websocket-accept"); n != 1 || accept != wsframe.AcceptKey(c.key) {
		return fail("wrong Sec-WebSocket-Accept")
	}
	if _, n := r.get("sec-websocket-extensions"); n > 0 {
		return fail("the server chose an extension that was not offered")
	}
	proto, n := r.get("sec-websocket-protocol")
	switch {
	case n > 1:
		return fail("more than one Sec-WebSocket-Protocol")
	case n == 1:
		ok := false
		for _, s := range c.offered {
			ok = ok || s == proto
		}
		if !ok {
			return fail("the server chose subprotocol " + strconv.Quote(proto) + ", which was not offered")
		}
		c.protocol = proto
	}
	return nil
}

// expired bounds the wait for the 101 and for the answer to our close.
func (c *clientConn) expired(now time.Time, idle time.Duration) bool {
	if c.state == stHandshake {
		return !c.opened.IsZero() && now.Sub(c.opened) >= c.timeout
	}
	return c.expiredOpen(now, idle, 0, 0) // the client sends no pings
}

// Response is a parsed HTTP/1.1 response head.
type Response struct {
	Status int
	Reason string
	Fields http.Header
}

func (r *Response) get(name string) (value string, n int) {
	for _, f := range r.Fields {
		if strings.EqualFold(f.Name, name) {
			value, n = f.Value, n+1
		}
	}
	return value, n
}

func (r *Response) hasToken(name, token string) bool {
	for _, f := range r.Fields {
		if !strings.EqualFold(f.Name, name) {
			continue
		}
		for v := range strings.SplitSeq(f.Value, ",") {
			if strings.EqualFold(strings.TrimSpace(v), token) {
				return true
			}
		}
	}
	return false
}

// ErrResponseSyntax wraps every ParseResponseHead error.
var ErrResponseSyntax = errors.New("malformed response head")

// ParseResponseHead parses a complete response head ending in CRLF CRLF,
// strictly: an HTTP/1.1 status line with a three-digit code, fields as
// token ":" OWS value OWS, CRLF line ends only, no folded lines.
func ParseResponseHead(head []byte) (Response, error) {
	s := string(head)
	if !strings.HasSuffix(s, "\r\n\r\n") {
		return Response{}, fmt.Errorf("%w: no CRLF CRLF at the end", ErrResponseSyntax)
	}
	s = s[:len(s)-4]
	line, rest, _ := strings.Cut(s, "\r\n")
	var r Response
	if len(line) < 12 || line[:9] != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return Response{}, fmt.Errorf("%w: bad status line %q", ErrResponseSyntax, line)
	}
	for i := 9; i < 12; i++ {
		if line[i] < '0' || line[i] > '9' {
			return Response{}, fmt.Errorf("%w: bad status code in %q", ErrResponseSyntax, line)
		}
		r.Status = r.Status*10 + int(line[i]-'0')
	}
	if r.Status < 100 {
		return Response{}, fmt.Errorf("%w: bad status code in %q", ErrResponseSyntax, line)
	}
	if len(line) > 12 {
		r.Reason = line[13:]
		if !http.ValidFieldValue(r.Reason) {
			return Response{}, fmt.Errorf("%w: control character in the reason phrase", ErrResponseSyntax)
		}
	}
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(line, ":")
		if !ok || !http.ValidFieldName(name) {
			return Response{}, fmt.Errorf("%w: bad field line %q", ErrResponseSyntax, line)
		}
		value = strings.Trim(value, " \t")
		if !http.ValidFieldValue(value) {
			return Response{}, fmt.Errorf("%w: control character in field %q", ErrResponseSyntax, name)
		}
		r.Fields = append(r.Fields, http.Field{Name: name, Value: value})
	}
	return r, nil
}
