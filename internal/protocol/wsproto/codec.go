package wsproto

import (
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpparse"
)

// serverConn is the server's side of a websocket:// connection: the
// upgrade handshake, then the pings.
type serverConn struct {
	endpoint
	p  *Protocol
	hs *handshakeState // until the handshake is answered; nil after
}

// inputHandshake frames the upgrade request.
func (c *serverConn) inputHandshake(buf []byte) (int, error) {
	n, err := httpparse.ParseHead(buf, &c.hs.head, c.p.limits)
	if err != nil {
		return 0, c.refuseHandshake(400, err.Error(), nil)
	}
	if n == 0 && c.hs.started.IsZero() && len(buf) > 0 {
		c.hs.started = time.Now()
	}
	return n, nil
}

// decodeHandshake answers the upgrade request.
func (c *serverConn) decodeHandshake(pkt []byte) (codec.Message, error) {
	return codec.Message{}, c.handshake(pkt)
}

// expired runs the handshake timeout, the server's pings, the ping timeout
// and the wait for a close answer.
func (c *serverConn) expired(now time.Time, idle time.Duration) bool {
	o := &c.p.opts
	if c.state == stHandshake {
		return idle >= o.HandshakeTimeout || !c.hs.started.IsZero() && now.Sub(c.hs.started) >= o.HandshakeTimeout
	}
	return c.expiredOpen(now, idle, o.PingInterval, o.PingTimeout)
}

// open does nothing: the client speaks first.
func (c *serverConn) open() error { return nil }

// subprotocol is not kept on the server, whose application reads the
// offer from the upgrade request in its handshake hook.
func (c *serverConn) subprotocol() string { return "" }

// release returns the handshake's state if the connection ends before
// the handshake does.
func (c *serverConn) release() { c.releaseHandshake() }

// hasToken reports whether any field named name lists token.
func hasToken(h *httpparse.Request, name, token string) bool {
	for _, f := range h.Headers {
		if !strings.EqualFold(string(f.Name), name) {
			continue
		}
		for v := range strings.SplitSeq(string(f.Value), ",") {
			if strings.EqualFold(strings.TrimSpace(v), token) {
				return true
			}
		}
	}
	return false
}

// refuseHandshake answers a failed upgrade with status and closes.
func (c *serverConn) refuseHandshake(status int, reason string, extra http.Header) error {
	body := strconv.Itoa(status) + " " + http.StatusText(status) + ": " + reason + "\n"
	b := server.AppendStatusLine(nil, 1, 1, status, "")
	for _, f := range extra {
		if http.ValidFieldName(f.Name) && http.ValidFieldValue(f.Value) {
			b = append(append(append(append(b, f.Name...), ": "...), f.Value...), "\r\n"...)
		}
	}
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(append(b, "\r\n\r\n"...), body...)
	c.state = stClosed
	c.c.Linger()
	c.c.WriteRaw(b)
	return &httpparse.Error{Status: status, Reason: reason}
}

func itoa(n int) string { return strconv.Itoa(n) }
