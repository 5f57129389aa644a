package websocket

import "strconv"

// CloseCode is the status code of a close frame (RFC 6455 §7.4): why an
// endpoint ends the connection. Besides the codes below, 3000–3999 are
// registered by libraries and frameworks and 4000–4999 are an
// application's own.
type CloseCode uint16

// The status codes of RFC 6455 §7.4.1 and the IANA registry. 1005, 1006
// and 1015 are never sent: they stand for what a close frame could not say.
const (
	CloseNormal          CloseCode = 1000 // the purpose of the connection is fulfilled
	CloseGoingAway       CloseCode = 1001 // the server goes down, or the page is left
	CloseProtocolError   CloseCode = 1002
	CloseUnsupportedData CloseCode = 1003 // e.g. binary to an endpoint that takes text only
	// CloseNoStatus reports a close frame without a status; never sent.
	CloseNoStatus CloseCode = 1005
	// CloseAbnormal reports a connection that ended without a close
	// frame; never sent.
	CloseAbnormal           CloseCode = 1006
	CloseInvalidPayload     CloseCode = 1007 // e.g. a text message that is not UTF-8
	ClosePolicyViolation    CloseCode = 1008
	CloseTooBig             CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010 // sent by a client: the server declined an extension it needs
	CloseInternalError      CloseCode = 1011
	CloseServiceRestart     CloseCode = 1012
	CloseTryAgainLater      CloseCode = 1013
	CloseBadGateway         CloseCode = 1014
	// CloseTLSHandshake reports a failed TLS handshake; never sent.
	CloseTLSHandshake CloseCode = 1015
)

var closeNames = [...]string{
	CloseNormal - CloseNormal:             "normal closure",
	CloseGoingAway - CloseNormal:          "going away",
	CloseProtocolError - CloseNormal:      "protocol error",
	CloseUnsupportedData - CloseNormal:    "unsupported data",
	CloseNoStatus - CloseNormal:           "no status",
	CloseAbnormal - CloseNormal:           "abnormal closure",
	CloseInvalidPayload - CloseNormal:     "invalid payload",
	ClosePolicyViolation - CloseNormal:    "policy violation",
	CloseTooBig - CloseNormal:             "message too big",
	CloseMandatoryExtension - CloseNormal: "mandatory extension",
	CloseInternalError - CloseNormal:      "internal error",
	CloseServiceRestart - CloseNormal:     "service restart",
	CloseTryAgainLater - CloseNormal:      "try again later",
	CloseBadGateway - CloseNormal:         "bad gateway",
	CloseTLSHandshake - CloseNormal:       "TLS handshake failure",
}

// String gives the code and its meaning, as in "1000 normal closure", for
// logs; codes without a name in the RFC give the number and its range.
func (c CloseCode) String() string {
	n := strconv.Itoa(int(c))
	switch {
	case c >= CloseNormal && int(c-CloseNormal) < len(closeNames) && closeNames[c-CloseNormal] != "":
		return n + " " + closeNames[c-CloseNormal]
	case c >= 3000 && c <= 3999:
		return n + " (registered)"
	case c >= 4000 && c <= 4999:
		return n + " (private)"
	}
	return n
}
