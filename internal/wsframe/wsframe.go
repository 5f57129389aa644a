// Package wsframe is a pure, incremental codec for RFC 6455 WebSocket
// frames: header parsing with every protocol check a server or client must
// make, in-place (un)masking, frame and close-frame encoding, incremental
// UTF-8 validation of text messages across fragments, and the handshake key
// derivation. It does no I/O and keeps no connection state, so the event
// loop owns the buffers; the hot paths do not allocate.
package wsframe

import (
	"encoding/binary"
	"strconv"

	"github.com/workermand/workermand/websocket"
)

// Opcode is a frame's 4-bit opcode (RFC 6455 §5.2).
type Opcode uint8

// The opcodes defined by RFC 6455; the others are reserved.
const (
	Continuation Opcode = 0
	Text         Opcode = 1
	Binary       Opcode = 2
	Close        Opcode = 8
	Ping         Opcode = 9
	Pong         Opcode = 10
)

// IsControl reports whether op is a control opcode (0x8–0xF), which may not
// be fragmented and carries at most 125 payload bytes.
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) reserved() bool {
	return (op > Binary && op < Close) || op > Pong
}

// The reserved bits as they appear in Header.RSV and Limits.AllowedRSV:
// RSV1 is the one permessage-deflate (RFC 7692) uses.
const (
	RSV1 uint8 = 4
	RSV2 uint8 = 2
	RSV3 uint8 = 1
)

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// MaxHeaderLen is the longest possible frame header: 2 bytes, a 64-bit
// extended length and a masking key.
const MaxHeaderLen = 14

// Header is a parsed frame header.
type Header struct {
	Fin       bool
	RSV       uint8 // RSV1|RSV2|RSV3 bits, 0–7
	Op        Opcode
	Masked    bool
	Mask      [4]byte // valid when Masked
	Length    int64   // payload length, 0 to 2^63-1
	HeaderLen int     // bytes the header occupies, 2 to 14
}

// Limits are the checks ParseHeader makes beyond the fixed protocol rules.
type Limits struct {
	// MaxFrameSize bounds a frame's payload length (1009 beyond it); 0
	// leaves frames unbounded here, so the caller's message limit applies.
	MaxFrameSize int64
	// AllowedRSV holds the reserved bits a negotiated extension gave a
	// meaning to; any other set bit is refused with 1002.
	AllowedRSV uint8
	// RequireMask is the server side: clients must mask every frame.
	RequireMask bool
	// ForbidMask is the client side: servers must not mask.
	ForbidMask bool
}

// Error is a protocol violation: the close code to send (1002, 1007, 1009)
// and a short reason for logs and for the close frame. Errors returned by
// this package are shared values: do not modify them.
type Error struct {
	Code   websocket.CloseCode
	Reason string
}

func (e *Error) Error() string {
	return "websocket " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

func newErr(code websocket.CloseCode, reason string) *Error {
	return &Error{Code: code, Reason: reason}
}

// The violations, shared so that the error paths do not allocate either.
var (
	errReservedOpcode  = newErr(websocket.CloseProtocolError, "reserved opcode")
	errRSV             = newErr(websocket.CloseProtocolError, "reserved bit set without a negotiated extension")
	errFragmentedCtrl  = newErr(websocket.CloseProtocolError, "fragmented control frame")
	errControlTooLong  = newErr(websocket.CloseProtocolError, "control frame payload over 125 bytes")
	errNonMinimal      = newErr(websocket.CloseProtocolError, "payload length not minimally encoded")
	errLengthTopBit    = newErr(websocket.CloseProtocolError, "64-bit payload length with the most significant bit set")
	errUnmasked        = newErr(websocket.CloseProtocolError, "unmasked frame from client")
	errMasked          = newErr(websocket.CloseProtocolError, "masked frame from server")
	errFrameTooBig     = newErr(websocket.CloseTooBig, "frame too big")
	errClosePayload1   = newErr(websocket.CloseProtocolError, "close payload of 1 byte")
	errCloseCode       = newErr(websocket.CloseProtocolError, "invalid close code")
	errCloseReasonUTF8 = newErr(websocket.CloseInvalidPayload, "close reason is not UTF-8")
)

// ParseHeader parses the frame header at the start of buf into h. It returns
// 0 and a nil error while the header is incomplete (h untouched), the
// header's length once it is complete (the payload starts at buf[n]), or an
// *Error when the frame breaks the protocol or lim.
//
// Violations are reported as soon as the bytes that prove them are present,
// checked in the order they appear on the wire, so a header fed in pieces
// fails with the same error as the whole header, only possibly earlier.
func ParseHeader(buf []byte, h *Header, lim Limits) (n int, err error) {
	if len(buf) == 0 {
		return 0, nil
	}
	b0 := buf[0]
	rsv := b0 >> 4 & 7
	if rsv&^lim.AllowedRSV != 0 {
		return 0, errRSV
	}
	op := Opcode(b0 & 0xF)
	if op.reserved() {
		return 0, errReservedOpcode
	}
	fin := b0&0x80 != 0
	if op.IsControl() && !fin {
		return 0, errFragmentedCtrl
	}
	if len(buf) < 2 {
		return 0, nil
	}
	b1 := buf[1]
	masked := b1&0x80 != 0
	if !masked && lim.RequireMask {
		return 0, errUnmasked
	}
	if masked && lim.ForbidMask {
		return 0, errMasked
	}
	l7 := b1 & 0x7F
	if op.IsControl() && l7 > MaxControlPayload {
		return 0, errControlTooLong
	}
	hl := 2
	var length int64
	switch l7 {
	case 126:
		if len(buf) < 4 {
			return 0, nil
		}
		length = int64(binary.BigEndian.Uint16(buf[2:]))
		if length < 126 {
			return 0, errNonMinimal
		}
		hl = 4
	case 127:
		// The top bit is decided by the first length byte: refuse early.
		if len(buf) > 2 && buf[2]&0x80 != 0 {
			return 0, errLengthTopBit
		}
		if len(buf) < 10 {
			return 0, nil
		}
		u := binary.BigEndian.Uint64(buf[2:])
		if u <= 0xFFFF {
			return 0, errNonMinimal
		}
		length = int64(u)
		hl = 10
	default:
		length = int64(l7)
	}
	if lim.MaxFrameSize > 0 && length > lim.MaxFrameSize {
		return 0, errFrameTooBig
	}
	var key [4]byte
	if masked {
		if len(buf) < hl+4 {
			return 0, nil
		}
		copy(key[:], buf[hl:hl+4])
		hl += 4
	}
	*h = Header{Fin: fin, RSV: rsv, Op: op, Masked: masked, Mask: key, Length: length, HeaderLen: hl}
	return hl, nil
}

// AppendFrame appends a complete frame to dst: the header with the minimal
// length encoding, then the payload. With a mask (the client side, which
// must mask every frame with a fresh random key) the payload is copied and
// masked in dst; payload itself is left untouched. rsv holds RSV1–RSV3 as in
// Header.RSV. It does not check the protocol rules: callers send control
// frames of at most 125 bytes, unfragmented.
func AppendFrame(dst []byte, fin bool, rsv uint8, op Opcode, payload []byte, mask *[4]byte) []byte {
	dst = appendHeader(dst, fin, rsv, op, len(payload), mask)
	start := len(dst)
	dst = append(dst, payload...)
	if mask != nil {
		Unmask(dst[start:], *mask, 0)
	}
	return dst
}

func appendHeader(dst []byte, fin bool, rsv uint8, op Opcode, n int, mask *[4]byte) []byte {
	b0 := rsv&7<<4 | byte(op)&0xF
	if fin {
		b0 |= 0x80
	}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch {
	case n <= 125:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}
