package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
)

// handshakeGUID is the fixed string RFC 6455 §1.3 appends to the client's key.
const handshakeGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a client's
// Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(handshakeGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// ValidKey reports whether key is a valid Sec-WebSocket-Key: the base64
// encoding of exactly 16 bytes (RFC 6455 §4.1), hence 24 characters.
func ValidKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var buf [18]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(key))
	return err == nil && n == 16
}
