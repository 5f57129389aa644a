package wsproto

import "github.com/workermand/workermand/websocket"

// plainEncoding is the SharedEncoding key of every server connection that
// sends uncompressed frames: a server's data frame is a function of opcode
// and payload only.
var plainEncoding = new(struct{ _ byte })

// SharedEncoding lets a broadcast frame a message once for many
// connections (codec.SharedEncoder). An open server connection without
// permessage-deflate frames a data message like every other; one that
// negotiated it without server context takeover compresses each message
// alone with its protocol's shared compressor, so it frames like every
// connection of that compressor. With context takeover the compressed
// bytes depend on what the connection sent before, a client masks every
// frame with a key of its own, and output before the handshake is held:
// those encode on their own (nil).
func (e *endpoint) SharedEncoding(v any) any {
	if e.state != stOpen || e.role != roleServer {
		return nil
	}
	switch v.(type) {
	case []byte, string, websocket.Text, websocket.Binary:
	default:
		return nil // control frames change state (close) or are rare
	}
	z := e.z
	if z == nil {
		return plainEncoding
	}
	if z.streamOut != nil {
		return nil
	}
	return z.comp
}
