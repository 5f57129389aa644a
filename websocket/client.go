package websocket

import (
	"time"

	"github.com/workermand/workermand/http"
)

// ClientOptions are the handshake settings of a ws:// client connection,
// the WebSocket field of a workerman.AsyncTcpConnection. They are read at
// every connect, so they may change between reconnects.
type ClientOptions struct {
	// Host is the Host field; the remote address when empty.
	Host string
	// Path is the request target (path and query); "/" when empty.
	Path string
	// Header lists extra request fields (Origin, Authorization, …).
	Header http.Header
	// Subprotocols are offered in Sec-WebSocket-Protocol, in order of
	// preference; the server must pick one of them or none.
	Subprotocols []string
	// HandshakeTimeout bounds the wait for the server's 101 once
	// connected (DefaultHandshakeTimeout when zero).
	HandshakeTimeout time.Duration
}
