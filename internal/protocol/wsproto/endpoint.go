package wsproto

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/wsdeflate"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
)

// role is the end of the connection an endpoint plays. After the handshake
// both ends follow the same rules (RFC 6455 §5–7) but for masking, so the
// server and the client are one endpoint type and differ only in their
// handshakes (their side) and in what the role decides.
type role uint8

const (
	// roleServer requires every frame masked, sends its own unmasked, and
	// may have negotiated permessage-deflate.
	roleServer role = iota
	// roleClient masks every frame with a fresh key from crypto/rand
	// (RFC 6455 §5.3: an unpredictable key keeps script-controlled
	// payloads from choosing the bytes on the wire) and refuses masked
	// frames.
	roleClient
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

// keptMessageCap bounds the reassembly and (de)compression buffers a
// connection keeps between messages, so one large message does not pin its
// memory for the connection's life.
const keptMessageCap = 64 << 10

var (
	errTooBig        = &wsframe.Error{Code: websocket.CloseTooBig, Reason: "message exceeds max_package_size"}
	errUnexpectedOp  = &wsframe.Error{Code: websocket.CloseProtocolError, Reason: "new message before the fragmented one ended"}
	errNoContinuing  = &wsframe.Error{Code: websocket.CloseProtocolError, Reason: "continuation frame without a message"}
	errInvalidUTF8   = &wsframe.Error{Code: websocket.CloseInvalidPayload, Reason: "text message is not UTF-8"}
	errBadDeflate    = &wsframe.Error{Code: websocket.CloseInvalidPayload, Reason: "compressed message does not inflate"}
	errRSVPlacement  = &wsframe.Error{Code: websocket.CloseProtocolError, Reason: "RSV1 on a control or continuation frame"}
	errNotOpen       = errors.New("websocket: the connection is not open")
	errEarlyFull     = errors.New("websocket: output held for the handshake exceeds the send buffer limit")
	errUnknownValue  = errors.New("websocket: cannot send this value (want websocket.Text, Binary, Ping, Close, []byte or string)")
	errControlTooBig = fmt.Errorf("websocket: control frame payloads are at most %d bytes", wsframe.MaxControlPayload)
	errBadClose      = fmt.Errorf("websocket: invalid close code or a reason over %d bytes", wsframe.MaxCloseReason)
)

// endpoint is the codec of one websocket connection, whichever end:
// framing, control frames, reassembly of fragments, UTF-8 checks, failing
// with a close code, encoding of messages and the closing handshake. What
// only one end does it leaves to its side.
type endpoint struct {
	c    codec.Conn
	side side

	role       role
	state      uint8
	inMsg      bool // a fragmented message is being assembled
	compressed bool // the message being assembled has RSV1
	pinged     bool // a ping of ours waits for its pong
	msgOp      wsframe.Opcode
	utf8       wsframe.UTF8Validator
	hdr        wsframe.Header // the frame being framed; survives until Decode
	msg        []byte
	closeAt    time.Time // when our close frame went out

	// early, set by a role that accepts output before its handshake is
	// done, holds that output; nil: output before then is refused.
	early *earlyOutput
	// z is permessage-deflate's state, nil unless it was negotiated.
	z       *deflateState
	scratch []byte
}

// side is what one end does that the other does not, besides masking: the
// opening handshake (the server's upgrade and 101, the client's request and
// check of the 101), which ends by setting the state to stOpen or stClosed,
// and the timers. serverConn and clientConn each embed their endpoint, so
// a connection is one allocation, and hand the loop the endpoint as the
// codec, so that frames reach it without a forwarding call.
type side interface {
	inputHandshake(buf []byte) (int, error)
	decodeHandshake(pkt []byte) (codec.Message, error)
	expired(now time.Time, idle time.Duration) bool
	open() error
	release()
	subprotocol() string
}

// The loop finds what a codec does beyond framing by type assertion: the
// endpoint does all of it for either side.
var _ interface {
	codec.Codec
	codec.ValueEncoder
	codec.Opener
	codec.Expirer
	codec.Farewell
	io.Closer
} = (*endpoint)(nil)

// Open starts the side's handshake once connected (codec.Opener).
func (e *endpoint) Open() error { return e.side.open() }

// Expired runs the side's timers (codec.Expirer).
func (e *endpoint) Expired(now time.Time, idle time.Duration) bool { return e.side.expired(now, idle) }

// Close releases what the connection still holds.
func (e *endpoint) Close() error {
	e.side.release()
	return nil
}

// Farewell is the close frame of a process going down (1001, going
// away), the start of a closing handshake the loop will not wait for
// (codec.Farewell).
func (e *endpoint) Farewell() []byte {
	if e.state != stOpen {
		return nil
	}
	e.state, e.closeAt = stClosing, time.Now()
	return e.appendClose(nil, websocket.CloseGoingAway, "")
}

// Subprotocol is the subprotocol the handshake selected ("" for none).
func (e *endpoint) Subprotocol() string { return e.side.subprotocol() }

// earlyOutput is what the application sends before the handshake is done
// (a client's before the server's 101, a server's in OnConnect): held back,
// since the loop would otherwise write it ahead of (or without) the
// handshake, and written once the handshake succeeds. It is bounded by the
// connection's send buffer limit, as the output it stands for would be.
type earlyOutput struct {
	frames  []byte
	closing bool // a close is among them; nothing more may be sent
}

// keptEarlyCap bounds the buffer a pooled server handshake keeps.
const keptEarlyCap = 4 << 10

func (o *earlyOutput) reset() {
	if cap(o.frames) > keptEarlyCap {
		o.frames = nil
	}
	o.frames, o.closing = o.frames[:0], false
}

// flushEarly writes what was held back for the handshake, which has just
// succeeded; a close among it starts the closing handshake.
func (e *endpoint) flushEarly() {
	o := e.early
	if o == nil {
		return
	}
	if o.closing {
		e.state, e.closeAt = stClosing, time.Now()
	}
	if len(o.frames) > 0 {
		e.c.WriteRaw(o.frames) // copied: the buffer is ours again
	}
	o.frames, o.closing = nil, false
}

// earlyFull reports whether holding n more bytes would pass the send
// buffer limit (the loop's Conn has one; another codec.Conn, none).
func (e *endpoint) earlyFull(n int) bool {
	limit := 0
	if l, ok := e.c.(interface{ MaxSendBuffer() int }); ok {
		limit = l.MaxSendBuffer()
	}
	return limit > 0 && len(e.early.frames)+n > limit
}

// deflateState is what permessage-deflate adds to a connection: streams
// only with context takeover in their direction (otherwise the protocol's
// pooled compressors), buffers while a message is being processed.
type deflateState struct {
	comp               *wsdeflate.Compressor
	decomp             *wsdeflate.Decompressor
	streamOut          *wsdeflate.StreamCompressor
	streamIn           *wsdeflate.StreamDecompressor
	inflated, deflated []byte
}

func (z *deflateState) compress(dst, msg []byte) []byte {
	if z.streamOut != nil {
		return z.streamOut.Compress(dst, msg)
	}
	return z.comp.Compress(dst, msg)
}

func (z *deflateState) decompress(dst, msg []byte, limit int) ([]byte, error) {
	if z.streamIn != nil {
		return z.streamIn.Decompress(dst, msg, limit)
	}
	return z.decomp.Decompress(dst, msg, limit)
}

// Input frames the handshake, then one frame at a time: header and payload
// are one packet of the loop.
func (e *endpoint) Input(buf []byte) (int, error) {
	switch e.state {
	case stHandshake:
		return e.side.inputHandshake(buf)
	case stClosed:
		return 0, nil
	}
	maxPkg := int64(e.c.MaxPackageSize())
	lim := wsframe.Limits{MaxFrameSize: maxPkg, RequireMask: e.role == roleServer, ForbidMask: e.role == roleClient}
	if e.z != nil {
		lim.AllowedRSV = wsframe.RSV1
	}
	n, err := wsframe.ParseHeader(buf, &e.hdr, lim)
	if err != nil {
		return 0, e.fail(err)
	}
	if n == 0 {
		return 0, nil
	}
	// Above the loop's packet limit a frame gets a proper 1009 here instead
	// of the loop's bare close, and so does a message its fragments would
	// grow beyond it.
	if int64(n)+e.hdr.Length > maxPkg || e.inMsg && !e.hdr.Op.IsControl() && int64(len(e.msg))+e.hdr.Length > maxPkg {
		return 0, e.fail(errTooBig)
	}
	return n + int(e.hdr.Length), nil
}

// Decode hands the handshake to the side, then handles one frame: control
// frames here, data frames delivered as messages once complete.
func (e *endpoint) Decode(pkt []byte) (codec.Message, error) {
	if e.state == stHandshake {
		return e.side.decodeHandshake(pkt)
	}
	h := &e.hdr
	payload := pkt[h.HeaderLen:]
	if h.Masked {
		wsframe.Unmask(payload, h.Mask, 0)
	}
	switch h.Op {
	case wsframe.Ping:
		if e.state == stOpen {
			e.scratch = e.appendFrame(e.scratch[:0], 0, wsframe.Pong, payload)
			e.c.WriteRaw(e.scratch)
		}
		return codec.Message{}, nil
	case wsframe.Pong:
		e.pinged = false
		return codec.Message{}, nil
	case wsframe.Close:
		code, _, perr := wsframe.ParseClosePayload(payload)
		if perr != nil {
			return codec.Message{}, e.fail(perr)
		}
		if e.state == stOpen {
			// Echo the status, as RFC 6455 §5.5.1 asks. An empty close is
			// reported as 1005, which never goes on the wire: it is
			// answered with an empty one.
			if code == websocket.CloseNoStatus {
				code = 0
			}
			e.scratch = e.appendClose(e.scratch[:0], code, "")
			e.c.WriteRaw(e.scratch)
		}
		e.state = stClosed
		return codec.Message{}, codec.ErrClose
	}
	// Data after the peer's close is discarded. Data after our own close
	// was sent before the peer saw it: a client still delivers it, since
	// those are answers its application asked for; a server's handler
	// ended the conversation, and could not answer anyway.
	if e.state == stClosed || e.state == stClosing && e.role == roleServer {
		return codec.Message{}, nil
	}
	if h.RSV != 0 && (h.Op.IsControl() || h.Op == wsframe.Continuation) {
		// RFC 7692 §6: only the first frame of a message carries RSV1.
		return codec.Message{}, e.fail(errRSVPlacement)
	}
	switch {
	case h.Op == wsframe.Continuation && !e.inMsg:
		return codec.Message{}, e.fail(errNoContinuing)
	case h.Op != wsframe.Continuation && e.inMsg:
		return codec.Message{}, e.fail(errUnexpectedOp)
	case h.Op != wsframe.Continuation:
		e.msgOp = h.Op
		e.compressed = h.RSV&wsframe.RSV1 != 0
		e.utf8.Reset()
	}
	if e.compressed {
		return e.decodeCompressed(payload, h.Fin)
	}
	if e.msgOp == wsframe.Text && !e.utf8.Feed(payload) {
		return codec.Message{}, e.fail(errInvalidUTF8)
	}
	if !h.Fin {
		if !e.inMsg {
			e.inMsg = true
			e.msg = e.msg[:0]
		}
		e.msg = append(e.msg, payload...)
		return codec.Message{}, nil
	}
	if e.msgOp == wsframe.Text && !e.utf8.Done() {
		return codec.Message{}, e.fail(errInvalidUTF8)
	}
	if !e.inMsg {
		return codec.Message{Kind: e.kind(), Data: payload}, nil // one frame: no copy
	}
	e.inMsg = false
	e.msg = append(e.msg, payload...)
	data := e.msg
	if cap(e.msg) > keptMessageCap {
		e.msg = nil // delivered from the old array; a large one is not kept
	}
	return codec.Message{Kind: e.kind(), Data: data}, nil
}

// kind is the kind of the message being assembled.
func (e *endpoint) kind() codec.Kind {
	if e.msgOp == wsframe.Text {
		return codec.KindText
	}
	return codec.KindBinary
}

// decodeCompressed gathers a compressed message and inflates it once
// complete, bounded by max_package_size (a zip bomb gets 1009).
func (e *endpoint) decodeCompressed(payload []byte, fin bool) (codec.Message, error) {
	if !e.inMsg {
		e.msg = e.msg[:0]
	}
	e.msg = append(e.msg, payload...)
	e.inMsg = !fin
	if !fin {
		return codec.Message{}, nil
	}
	z := e.z
	var err error
	z.inflated, err = z.decompress(z.inflated[:0], e.msg, e.c.MaxPackageSize())
	switch {
	case errors.Is(err, wsdeflate.ErrTooLarge):
		return codec.Message{}, e.fail(errTooBig)
	case err != nil:
		return codec.Message{}, e.fail(errBadDeflate)
	}
	if e.msgOp == wsframe.Text {
		e.utf8.Reset()
		if !e.utf8.Feed(z.inflated) || !e.utf8.Done() {
			return codec.Message{}, e.fail(errInvalidUTF8)
		}
	}
	data := z.inflated
	if cap(z.inflated) > keptMessageCap {
		z.inflated = nil
	}
	if cap(e.msg) > keptMessageCap {
		e.msg = nil
	}
	return codec.Message{Kind: e.kind(), Data: data}, nil
}

// fail closes the connection for a protocol violation: a close frame with
// the violation's status, then a lingering close.
func (e *endpoint) fail(err error) error {
	code := websocket.CloseProtocolError
	var we *wsframe.Error
	if errors.As(err, &we) {
		code = we.Code
	}
	if e.state == stOpen || e.state == stClosing {
		e.scratch = e.appendClose(e.scratch[:0], code, "")
		e.c.WriteRaw(e.scratch)
	}
	e.state = stClosed
	e.c.Linger()
	return err
}

// maskKey draws a fresh masking key.
func maskKey() [4]byte {
	var k [4]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails on Linux
	return k
}

// appendFrame appends one unfragmented frame, masked as the role wants.
func (e *endpoint) appendFrame(dst []byte, rsv uint8, op wsframe.Opcode, payload []byte) []byte {
	if e.role == roleServer {
		return wsframe.AppendFrame(dst, true, rsv, op, payload, nil)
	}
	key := maskKey()
	return wsframe.AppendFrame(dst, true, rsv, op, payload, &key)
}

// appendClose appends a close frame, masked as the role wants; code 0
// sends none.
func (e *endpoint) appendClose(dst []byte, code websocket.CloseCode, reason string) []byte {
	if e.role == roleServer {
		return wsframe.AppendClose(dst, code, reason, nil)
	}
	key := maskKey()
	return wsframe.AppendClose(dst, code, reason, &key)
}

// appendMessage appends a message as one frame, compressed when
// permessage-deflate was negotiated and the message is large enough to
// gain from it.
func (e *endpoint) appendMessage(dst []byte, op wsframe.Opcode, payload []byte) []byte {
	z := e.z
	if z == nil || op.IsControl() || len(payload) < minCompress {
		return e.appendFrame(dst, 0, op, payload)
	}
	z.deflated = z.compress(z.deflated[:0], payload)
	dst = e.appendFrame(dst, wsframe.RSV1, op, z.deflated)
	if cap(z.deflated) > keptMessageCap {
		z.deflated = nil
	}
	return dst
}

// holdsEarly reports whether output sent now, before the handshake is
// done, is held for later rather than refused.
func (e *endpoint) holdsEarly() bool {
	return e.state == stHandshake && e.early != nil && !e.early.closing
}

// frame encodes a message (or a ping) as one frame. Every message sent
// takes this path, so an uncompressed one goes straight to wsframe rather
// than through appendMessage and appendFrame: each call less shows in its
// cost.
func (e *endpoint) frame(dst []byte, op wsframe.Opcode, payload []byte) ([]byte, error) {
	switch {
	case e.state != stOpen:
		return dst, e.holdEarly(op, payload)
	case e.z != nil:
		return e.appendMessage(dst, op, payload), nil
	case e.role == roleServer:
		return wsframe.AppendFrame(dst, true, 0, op, payload, nil), nil
	}
	key := maskKey()
	return wsframe.AppendFrame(dst, true, 0, op, payload, &key), nil
}

// holdEarly keeps a frame sent before the handshake is done, if the role
// allows it.
func (e *endpoint) holdEarly(op wsframe.Opcode, payload []byte) error {
	if !e.holdsEarly() {
		return errNotOpen
	}
	if e.earlyFull(len(payload)) {
		return errEarlyFull
	}
	e.early.frames = e.appendMessage(e.early.frames, op, payload)
	return nil
}

// Encode sends a plain payload as a text message, as Workerman does.
func (e *endpoint) Encode(dst, payload []byte) ([]byte, error) {
	return e.frame(dst, wsframe.Text, payload)
}

// EncodeValue sends the websocket package's values.
func (e *endpoint) EncodeValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case websocket.Text:
		return e.frame(dst, wsframe.Text, v)
	case websocket.Binary:
		return e.frame(dst, wsframe.Binary, v)
	case []byte:
		return e.frame(dst, wsframe.Text, v)
	case string:
		return e.frame(dst, wsframe.Text, []byte(v))
	case websocket.Ping:
		if len(v) > wsframe.MaxControlPayload {
			return dst, errControlTooBig
		}
		return e.frame(dst, wsframe.Ping, v)
	case websocket.Close:
		return e.encodeClose(dst, v)
	case *websocket.Close:
		return e.encodeClose(dst, *v)
	}
	return dst, errUnknownValue
}

// encodeClose starts the closing handshake; the peer's close frame (or
// closeWait) ends the connection.
func (e *endpoint) encodeClose(dst []byte, v websocket.Close) ([]byte, error) {
	early := e.holdsEarly()
	if e.state != stOpen && !early {
		return dst, errNotOpen
	}
	code := v.Code
	if code == 0 {
		code = websocket.CloseNormal
	}
	if !wsframe.ValidCloseCode(code) || len(v.Reason) > wsframe.MaxCloseReason {
		return dst, errBadClose
	}
	if early {
		e.early.closing = true
		e.early.frames = e.appendClose(e.early.frames, code, v.Reason)
		return dst, nil
	}
	e.state, e.closeAt = stClosing, time.Now()
	return e.appendClose(dst, code, v.Reason), nil
}

// expiredOpen runs the timeouts of an endpoint past its handshake: the
// wait for the answer to our close, and pings (every pingInterval of
// silence) and the ping timeout where the side sends them (0: none).
func (e *endpoint) expiredOpen(now time.Time, idle, pingInterval, pingTimeout time.Duration) bool {
	switch e.state {
	case stClosing:
		return now.Sub(e.closeAt) >= closeWait
	case stOpen:
		if pingTimeout > 0 && idle >= pingTimeout {
			e.scratch = e.appendClose(e.scratch[:0], websocket.CloseGoingAway, "ping timeout")
			e.c.WriteRaw(e.scratch)
			e.state = stClosed
			return true
		}
		if pingInterval > 0 && idle >= pingInterval && !e.pinged {
			e.pinged = true
			e.scratch = e.appendFrame(e.scratch[:0], 0, wsframe.Ping, nil)
			e.c.WriteRaw(e.scratch)
		}
	}
	return false
}
