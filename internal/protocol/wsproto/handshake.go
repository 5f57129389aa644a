package wsproto

import (
	"strings"
	"sync"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/wsdeflate"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpparse"
	"github.com/workermand/workermand/internal/wsframe"
)

// handshake checks the upgrade request (RFC 6455 §4.2.1), lets the
// application accept or refuse it, and answers 101.
func (c *serverConn) handshake(pkt []byte) error {
	hs := c.hs
	hs.raw = append(hs.raw[:0], pkt...)
	h := &hs.head
	if _, err := httpparse.ParseHead(hs.raw, h, c.p.limits); err != nil {
		return c.refuseHandshake(400, err.Error(), nil)
	}
	switch {
	case string(h.Method) != "GET":
		return c.refuseHandshake(400, "the upgrade request must be a GET", nil)
	case h.Minor != 1:
		return c.refuseHandshake(400, "the upgrade needs HTTP/1.1", nil)
	case h.ContentLength > 0 || h.Chunked:
		return c.refuseHandshake(400, "the upgrade request has a body", nil)
	case !hasToken(h, "upgrade", "websocket"):
		return c.refuseHandshake(426, "this is a websocket endpoint", http.Header{{Name: "Upgrade", Value: "websocket"}, {Name: "Sec-WebSocket-Version", Value: "13"}})
	case !hasToken(h, "connection", "upgrade"):
		return c.refuseHandshake(400, "Connection does not list upgrade", nil)
	case string(h.Header("sec-websocket-version")) != "13":
		return c.refuseHandshake(426, "only websocket version 13 is spoken", http.Header{{Name: "Sec-WebSocket-Version", Value: "13"}})
	}
	key := string(h.Header("sec-websocket-key"))
	if !wsframe.ValidKey(key) {
		return c.refuseHandshake(400, "missing or malformed Sec-WebSocket-Key", nil)
	}
	o := &c.p.opts
	if len(o.AllowedOrigins) > 0 {
		origin := string(h.Header("origin"))
		ok := false
		for _, a := range o.AllowedOrigins {
			ok = ok || strings.EqualFold(a, origin)
		}
		if !ok {
			return c.refuseHandshake(403, "origin not allowed", nil)
		}
	}
	protocol := c.selectSubprotocol(h)
	extensions := c.negotiateDeflate(h)

	var extra http.Header
	if c.p.handshake != nil {
		server.ResetRequest(&hs.req, hs.raw[:h.HeadLen], nil, nil, c.c.RemoteAddr(), c.c.LocalAddr(), &c.p.httpOpts)
		if resp := c.p.handshake(c.c, &hs.req); resp != nil {
			if resp.Status != 101 {
				return c.refuseWith(resp)
			}
			extra = resp.Header
		}
	}
	b := append(c.scratch[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, wsframe.AcceptKey(key)...)
	b = append(b, "\r\n"...)
	if protocol != "" {
		b = append(append(append(b, "Sec-WebSocket-Protocol: "...), protocol...), "\r\n"...)
	}
	if extensions != "" {
		b = append(append(append(b, "Sec-WebSocket-Extensions: "...), extensions...), "\r\n"...)
	}
	for _, f := range extra {
		if !http.ValidFieldName(f.Name) || !http.ValidFieldValue(f.Value) {
			continue
		}
		switch strings.ToLower(f.Name) {
		case "upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions", "content-length", "transfer-encoding":
			continue // the handshake's own fields
		}
		b = append(append(append(append(b, f.Name...), ": "...), f.Value...), "\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.c.WriteRaw(b)
	c.state = stOpen
	c.flushEarly()
	// An idle websocket keeps nothing of its handshake: the request, its
	// copy and the answer's buffer go (the issue's ≤ 1 KiB per idle
	// connection).
	c.releaseHandshake()
	c.scratch = nil
	return nil
}

// handshakeStates are reused from one connection's handshake to the next:
// a burst of connections then leaves no garbage behind, and the heap (so the
// RSS an idle connection costs) does not grow with it.
var handshakeStates = sync.Pool{New: func() any { return new(handshakeState) }}

// keptRawCap bounds the request copy a pooled handshakeState keeps.
const keptRawCap = 4 << 10

// releaseHandshake returns the connection's handshake state to the pool.
func (c *serverConn) releaseHandshake() {
	hs := c.hs
	if hs == nil {
		return
	}
	c.hs, c.early = nil, nil
	server.ReleaseRequest(&hs.req)
	hs.early.reset()
	hs.started = time.Time{}
	if cap(hs.raw) > keptRawCap {
		hs.raw = nil
	}
	hs.raw = hs.raw[:0]
	handshakeStates.Put(hs)
}

// handshakeState is what a connection needs until its upgrade is answered.
type handshakeState struct {
	head    httpparse.Request
	req     http.Request // the upgrade request, for the handshake hook
	raw     []byte
	started time.Time // first byte of the request
	// early holds what the application sent before the 101 (a welcome
	// message in OnConnect, as Workerman queues it); it follows the 101.
	// Pooled with the rest, so an open connection carries no field for it.
	early earlyOutput
}

// selectSubprotocol picks the server's most preferred subprotocol that the
// client offers.
func (c *serverConn) selectSubprotocol(h *httpparse.Request) string {
	if len(c.p.opts.Subprotocols) == 0 {
		return ""
	}
	var offered []string
	for _, f := range h.Headers {
		if strings.EqualFold(string(f.Name), "sec-websocket-protocol") {
			for v := range strings.SplitSeq(string(f.Value), ",") {
				offered = append(offered, strings.TrimSpace(v))
			}
		}
	}
	for _, p := range c.p.opts.Subprotocols {
		for _, o := range offered {
			if o == p {
				return p
			}
		}
	}
	return ""
}

// refuseWith sends the application's refusal and closes.
func (c *serverConn) refuseWith(r *http.Response) error {
	status := r.Status
	if status < 200 || status > 599 {
		status = 403
	}
	b := server.AppendStatusLine(c.scratch[:0], 1, 1, status, r.Reason)
	for _, f := range r.Header {
		if !http.ValidFieldName(f.Name) || !http.ValidFieldValue(f.Value) {
			continue
		}
		switch strings.ToLower(f.Name) {
		case "content-length", "transfer-encoding", "connection":
			continue
		}
		b = append(append(append(append(b, f.Name...), ": "...), f.Value...), "\r\n"...)
	}
	b = append(b, "Connection: close\r\nContent-Length: "...)
	b = append(b, itoa(len(r.Body))...)
	b = append(append(b, "\r\n\r\n"...), r.Body...)
	c.scratch = b
	c.state = stClosed
	c.c.Linger()
	c.c.WriteRaw(b)
	return codec.ErrClose // the application's decision, not a malformed request
}

// negotiateDeflate accepts a permessage-deflate offer, if compression is on
// and the client made one, and returns the response's extension value.
func (c *serverConn) negotiateDeflate(h *httpparse.Request) string {
	if c.p.comp == nil {
		return ""
	}
	var offers []string
	for _, f := range h.Headers {
		if strings.EqualFold(string(f.Name), "sec-websocket-extensions") {
			offers = append(offers, string(f.Value))
		}
	}
	if len(offers) == 0 {
		return ""
	}
	params, err := wsdeflate.ParseOffers(strings.Join(offers, ", "))
	if err != nil {
		return "" // a malformed offer: run uncompressed rather than refuse
	}
	resp, header, ok := wsdeflate.Accept(params, wsdeflate.Config{ContextTakeover: c.p.opts.ContextTakeover})
	if !ok {
		return ""
	}
	z := &deflateState{comp: c.p.comp, decomp: c.p.decomp}
	if !resp.ServerNoContextTakeover {
		sc, err := wsdeflate.NewStreamCompressor(compressLevel)
		if err != nil {
			return ""
		}
		z.streamOut = sc
	}
	if !resp.ClientNoContextTakeover {
		z.streamIn = wsdeflate.NewStreamDecompressor(c.p.decomp)
	}
	c.z = z
	return header
}
