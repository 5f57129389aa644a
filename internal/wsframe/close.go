package wsframe

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/workermand/workermand/websocket"
)

// MaxCloseReason is the longest reason a close frame can carry: the
// control-frame limit less the 2-byte code.
const MaxCloseReason = MaxControlPayload - 2

// AppendClose appends a close frame to dst carrying code and reason, masked
// with mask when it is not nil. Code 0 sends an empty payload (the peer then
// sees 1005). A reason over MaxCloseReason bytes is cut at a UTF-8 boundary,
// since the peer must fail a close frame whose reason is not UTF-8.
func AppendClose(dst []byte, code websocket.CloseCode, reason string, mask *[4]byte) []byte {
	if code == 0 {
		return appendHeader(dst, true, 0, Close, 0, mask)
	}
	if len(reason) > MaxCloseReason {
		cut := MaxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = appendHeader(dst, true, 0, Close, 2+len(reason), mask)
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	dst = append(dst, reason...)
	if mask != nil {
		Unmask(dst[start:], *mask, 0)
	}
	return dst
}

// ValidCloseCode reports whether code may appear in a close frame: the
// codes RFC 6455 §7.4.1 and the IANA registry define for the wire
// (1000–1003, 1007–1014) and the ranges for libraries and applications
// (3000–4999). 1004 is reserved, 1005, 1006 and 1015 must never be sent.
func ValidCloseCode(code websocket.CloseCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ParseClosePayload decodes an (unmasked) close frame payload. An empty
// payload reports websocket.CloseNoStatus. A 1-byte payload or an invalid
// code is a 1002 error, a reason that is not UTF-8 a 1007 error.
func ParseClosePayload(p []byte) (code websocket.CloseCode, reason string, err *Error) {
	switch len(p) {
	case 0:
		return websocket.CloseNoStatus, "", nil
	case 1:
		return 0, "", errClosePayload1
	}
	code = websocket.CloseCode(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return 0, "", errCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", errCloseReasonUTF8
	}
	return code, string(p[2:]), nil
}
