package wsproto

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpparse"
	"github.com/workermand/workermand/internal/wsdeflate"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
)

// Connection states.
const (
	stHandshake uint8 = iota
	stOpen
	stClosing // our close frame is sent; waiting for the peer's
	stClosed  // closing handshake done or failed: the connection ends
)

// closeWait bounds how long a close we started waits for the peer's answer.
const closeWait = 2 * time.Second

// conn is the codec of one websocket connection.
type conn struct {
	p *Protocol
	c codec.Conn

	state   uint8
	hdr     wsframe.Header // the frame being framed; survives until Decode
	inMsg   bool           // a fragmented message is being assembled
	msgOp   wsframe.Opcode
	msg     []byte
	utf8    wsframe.UTF8Validator
	pinged  bool      // a ping of ours waits for its pong
	closeAt time.Time // when our close frame went out

	// permessage-deflate, when negotiated; the streams only with context
	// takeover in their direction.
	z          *deflateState // nil unless permessage-deflate was negotiated
	compressed bool          // the message being assembled has RSV1

	hs      *handshakeState // until the handshake is answered; nil after
	scratch []byte
}

const keptMessageCap = 64 << 10

// rsv1 is RSV1 as wsframe.Header.RSV holds it: permessage-deflate's bit.
const rsv1 = 4

func (c *conn) limits() wsframe.Limits {
	lim := wsframe.Limits{MaxFrameSize: int64(c.c.MaxPackageSize()), RequireMask: true}
	if c.z != nil {
		lim.AllowedRSV = rsv1
	}
	return lim
}

// Input frames the upgrade request, then one frame at a time.
func (c *conn) Input(buf []byte) (int, error) {
	switch c.state {
	case stHandshake:
		n, err := httpparse.ParseHead(buf, &c.hs.head, c.p.limits)
		if err != nil {
			return 0, c.refuseHandshake(400, err.Error(), nil)
		}
		if n == 0 && c.hs.started.IsZero() && len(buf) > 0 {
			c.hs.started = time.Now()
		}
		return n, nil
	case stClosed:
		return 0, nil
	}
	n, err := wsframe.ParseHeader(buf, &c.hdr, c.limits())
	if err != nil {
		return 0, c.fail(err)
	}
	if n == 0 {
		return 0, nil
	}
	maxPkg := int64(c.c.MaxPackageSize())
	// A frame is one packet of the loop, header included: above the limit
	// it gets a proper 1009 here instead of the loop's bare close.
	if int64(n)+c.hdr.Length > maxPkg || c.inMsg && !c.hdr.Op.IsControl() && int64(len(c.msg))+c.hdr.Length > maxPkg {
		return 0, c.fail(errTooBig)
	}
	return n + int(c.hdr.Length), nil
}

var (
	errTooBig        = &wsframe.Error{Code: websocket.CloseTooBig, Reason: "message exceeds max_package_size"}
	errUnexpectedOp  = &wsframe.Error{Code: websocket.CloseProtocolError, Reason: "new message before the fragmented one ended"}
	errNoContinuing  = &wsframe.Error{Code: websocket.CloseProtocolError, Reason: "continuation frame without a message"}
	errInvalidUTF8   = &wsframe.Error{Code: websocket.CloseInvalidPayload, Reason: "text message is not UTF-8"}
	errBadDeflate    = &wsframe.Error{Code: websocket.CloseInvalidPayload, Reason: "compressed message does not inflate"}
	errRSVPlacement  = &wsframe.Error{Code: websocket.CloseProtocolError, Reason: "RSV1 on a control or continuation frame"}
	errNotOpen       = errors.New("websocket: the connection is not open")
	errUnknownValue  = errors.New("websocket: cannot send this value (want websocket.Text, Binary, Ping, Close, []byte or string)")
	errControlTooBig = errors.New("websocket: control frame payloads are at most 125 bytes")
)

// Decode answers the handshake, or handles one frame: control frames here,
// data frames delivered as messages once complete.
func (c *conn) Decode(pkt []byte) (codec.Message, error) {
	if c.state == stHandshake {
		return codec.Message{}, c.handshake(pkt)
	}
	h := &c.hdr
	payload := pkt[h.HeaderLen:]
	if h.Masked {
		wsframe.Unmask(payload, h.Mask, 0)
	}
	switch h.Op {
	case wsframe.Ping:
		if c.state == stOpen {
			c.scratch = wsframe.AppendFrame(c.scratch[:0], true, 0, wsframe.Pong, payload, nil)
			c.c.WriteRaw(c.scratch)
		}
		return codec.Message{}, nil
	case wsframe.Pong:
		c.pinged = false
		return codec.Message{}, nil
	case wsframe.Close:
		code, _, perr := wsframe.ParseClosePayload(payload)
		if perr != nil {
			return codec.Message{}, c.fail(perr)
		}
		if c.state == stOpen {
			// Echo the status, as RFC 6455 §5.5.1 asks; no status in,
			// none out.
			c.scratch = c.scratch[:0]
			// 1005 stands for "no status" and never goes on the wire.
			if code != 0 && code != websocket.CloseNoStatus {
				c.scratch = wsframe.AppendClose(c.scratch, code, "", nil)
			} else {
				c.scratch = wsframe.AppendFrame(c.scratch, true, 0, wsframe.Close, nil, nil)
			}
			c.c.WriteRaw(c.scratch)
		}
		c.state = stClosed
		return codec.Message{}, codec.ErrClose
	}
	if c.state != stOpen {
		return codec.Message{}, nil // after our close: data is discarded
	}
	if h.RSV != 0 && (h.Op.IsControl() || h.Op == wsframe.Continuation) {
		// RFC 7692 §6: only the first frame of a message carries RSV1.
		return codec.Message{}, c.fail(errRSVPlacement)
	}
	switch {
	case h.Op == wsframe.Continuation && !c.inMsg:
		return codec.Message{}, c.fail(errNoContinuing)
	case h.Op != wsframe.Continuation && c.inMsg:
		return codec.Message{}, c.fail(errUnexpectedOp)
	case h.Op != wsframe.Continuation:
		c.msgOp = h.Op
		c.compressed = h.RSV&rsv1 != 0
		c.utf8.Reset()
	}
	if c.compressed {
		return c.decodeCompressed(payload, h.Fin)
	}
	if c.msgOp == wsframe.Text && !c.utf8.Feed(payload) {
		return codec.Message{}, c.fail(errInvalidUTF8)
	}
	if !h.Fin {
		if !c.inMsg {
			c.inMsg = true
			c.msg = c.msg[:0]
		}
		c.msg = append(c.msg, payload...)
		return codec.Message{}, nil
	}
	if c.msgOp == wsframe.Text && !c.utf8.Done() {
		return codec.Message{}, c.fail(errInvalidUTF8)
	}
	kind := codec.KindBinary
	if c.msgOp == wsframe.Text {
		kind = codec.KindText
	}
	if !c.inMsg {
		return codec.Message{Kind: kind, Data: payload}, nil // one frame: no copy
	}
	c.inMsg = false
	c.msg = append(c.msg, payload...)
	data := c.msg
	if cap(c.msg) > keptMessageCap {
		c.msg = nil // delivered from the old array; a large one is not kept
	}
	return codec.Message{Kind: kind, Data: data}, nil
}

// decodeCompressed gathers a compressed message and inflates it once
// complete, bounded by max_package_size (a zip bomb gets 1009).
func (c *conn) decodeCompressed(payload []byte, fin bool) (codec.Message, error) {
	if !c.inMsg {
		c.msg = c.msg[:0]
	}
	c.msg = append(c.msg, payload...)
	c.inMsg = !fin
	if !fin {
		return codec.Message{}, nil
	}
	var err error
	limit := c.c.MaxPackageSize()
	z := c.z
	if z.streamIn != nil {
		z.inflated, err = z.streamIn.Decompress(z.inflated[:0], c.msg, limit)
	} else {
		z.inflated, err = c.p.decomp.Decompress(z.inflated[:0], c.msg, limit)
	}
	switch {
	case errors.Is(err, wsdeflate.ErrTooLarge):
		return codec.Message{}, c.fail(errTooBig)
	case err != nil:
		return codec.Message{}, c.fail(errBadDeflate)
	}
	kind := codec.KindBinary
	if c.msgOp == wsframe.Text {
		kind = codec.KindText
		c.utf8.Reset()
		if !c.utf8.Feed(z.inflated) || !c.utf8.Done() {
			return codec.Message{}, c.fail(errInvalidUTF8)
		}
	}
	data := z.inflated
	if cap(z.inflated) > keptMessageCap {
		z.inflated = nil
	}
	if cap(c.msg) > keptMessageCap {
		c.msg = nil
	}
	return codec.Message{Kind: kind, Data: data}, nil
}

// fail closes the connection for a protocol violation: a close frame with
// the violation's status, then a lingering close.
func (c *conn) fail(err error) error {
	code := websocket.CloseProtocolError
	var we *wsframe.Error
	if errors.As(err, &we) {
		code = we.Code
	}
	if c.state == stOpen || c.state == stClosing {
		c.scratch = wsframe.AppendClose(c.scratch[:0], code, "", nil)
		c.c.WriteRaw(c.scratch)
	}
	c.state = stClosed
	c.c.Linger()
	return err
}

// Encode sends a plain payload as a text message, as Workerman does.
func (c *conn) Encode(dst, payload []byte) ([]byte, error) {
	return c.frame(dst, wsframe.Text, payload)
}

func (c *conn) frame(dst []byte, op wsframe.Opcode, payload []byte) ([]byte, error) {
	if c.state != stOpen {
		return dst, errNotOpen
	}
	if z := c.z; z != nil && !op.IsControl() && len(payload) >= minCompress {
		if z.streamOut != nil {
			z.deflated = z.streamOut.Compress(z.deflated[:0], payload)
		} else {
			z.deflated = c.p.comp.Compress(z.deflated[:0], payload)
		}
		dst = wsframe.AppendFrame(dst, true, rsv1, op, z.deflated, nil)
		if cap(z.deflated) > keptMessageCap {
			z.deflated = nil
		}
		return dst, nil
	}
	return wsframe.AppendFrame(dst, true, 0, op, payload, nil), nil
}

// EncodeValue sends the websocket package's values.
func (c *conn) EncodeValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case websocket.Text:
		return c.frame(dst, wsframe.Text, v)
	case websocket.Binary:
		return c.frame(dst, wsframe.Binary, v)
	case []byte:
		return c.frame(dst, wsframe.Text, v)
	case string:
		return c.frame(dst, wsframe.Text, []byte(v))
	case websocket.Ping:
		if len(v) > 125 {
			return dst, errControlTooBig
		}
		return c.frame(dst, wsframe.Ping, v)
	case websocket.Close:
		return c.encodeClose(dst, v)
	case *websocket.Close:
		return c.encodeClose(dst, *v)
	}
	return dst, errUnknownValue
}

// encodeClose starts the closing handshake; the peer's close frame (or
// closeWait) ends the connection.
func (c *conn) encodeClose(dst []byte, v websocket.Close) ([]byte, error) {
	if c.state != stOpen {
		return dst, errNotOpen
	}
	code := v.Code
	if code == 0 {
		code = websocket.CloseNormal
	}
	if !wsframe.ValidCloseCode(code) || len(v.Reason) > 123 {
		return dst, errors.New("websocket: invalid close code or a reason over 123 bytes")
	}
	c.state, c.closeAt = stClosing, time.Now()
	return wsframe.AppendClose(dst, code, v.Reason, nil), nil
}

// Expired runs the handshake timeout, the server's pings, the ping timeout
// and the wait for a close answer.
func (c *conn) Expired(now time.Time, idle time.Duration) bool {
	o := &c.p.opts
	switch c.state {
	case stHandshake:
		return idle >= o.HandshakeTimeout || !c.hs.started.IsZero() && now.Sub(c.hs.started) >= o.HandshakeTimeout
	case stClosing:
		return now.Sub(c.closeAt) >= closeWait
	case stClosed:
		return false
	}
	if o.PingTimeout > 0 && idle >= o.PingTimeout {
		c.scratch = wsframe.AppendClose(c.scratch[:0], websocket.CloseGoingAway, "ping timeout", nil)
		c.c.WriteRaw(c.scratch)
		c.state = stClosed
		return true
	}
	if o.PingInterval > 0 && idle >= o.PingInterval && !c.pinged {
		c.pinged = true
		c.scratch = wsframe.AppendFrame(c.scratch[:0], true, 0, wsframe.Ping, nil, nil)
		c.c.WriteRaw(c.scratch)
	}
	return false
}

// deflateState is what permessage-deflate adds to a connection: streams
// only with context takeover, buffers while a message is being processed.
type deflateState struct {
	streamOut          *wsdeflate.StreamCompressor
	streamIn           *wsdeflate.StreamDecompressor
	inflated, deflated []byte
}

// Close releases what the connection still holds.
func (c *conn) Close() error {
	c.releaseHandshake()
	return nil
}

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
func (c *conn) refuseHandshake(status int, reason string, extra http.Header) error {
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
