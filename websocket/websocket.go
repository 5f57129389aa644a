// Package websocket holds the WebSocket types of workermand's public API:
// the [worker.websocket] Options, a ws:// client's ClientOptions, and the
// values a handler sends through Connection.SendValue to choose what goes
// on the wire — Text, Binary, a Ping, or a Close with its CloseCode. A
// plain Send (bytes or a string) sends a text message, as Workerman does by
// default.
//
// Received messages arrive in OnMessage with Message.Kind set to
// codec.KindText or codec.KindBinary, so a handler sees which one the peer
// sent.
package websocket

import (
	"fmt"
	"time"
)

// Text is a text message (UTF-8). Sent as is: the peer closes the connection
// if it is not valid UTF-8.
type Text []byte

// Binary is a binary message.
type Binary []byte

// Ping asks the peer for a Pong carrying the same payload (at most 125 bytes).
type Ping []byte

// Close starts the closing handshake with a status code (CloseNormal when
// 0) and a reason (at most 123 bytes); the connection closes once the peer
// answers, or after a short wait. Codes that may not be sent (1005, 1006,
// 1015, and any outside 1000–1014 and 3000–4999) are refused.
type Close struct {
	Code   CloseCode
	Reason string
}

// Options are a worker's WebSocket settings, the [worker.websocket] table.
// The zero value means every default. Messages are bounded by the worker's
// max_package_size (1009 above it).
type Options struct {
	// PingInterval makes the server ping a connection that sent nothing
	// for that long (0: no pings, the default, as Workerman).
	PingInterval time.Duration `toml:"ping_interval"`
	// PingTimeout closes a connection silent for that long (0: never).
	// With PingInterval set, a live client answers the ping in time.
	PingTimeout time.Duration `toml:"ping_timeout"`
	// AllowedOrigins lists the Origin values accepted in handshakes (empty:
	// any); others get 403.
	AllowedOrigins []string `toml:"allowed_origins"`
	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference; the first one the client also offers is selected.
	Subprotocols []string `toml:"subprotocols"`
	// Compression negotiates permessage-deflate (RFC 7692) when the client
	// offers it. Default on; set it with DisableCompression.
	DisableCompression bool `toml:"disable_compression"`
	// ContextTakeover keeps a compressor per connection across messages
	// (better ratios, ~a compressor's memory per connection); by default
	// every message is compressed on its own with pooled compressors, so
	// idle connections hold none.
	ContextTakeover bool `toml:"context_takeover"`
	// HandshakeTimeout closes a connection whose upgrade request has not
	// arrived in time (10s).
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`
}

// DefaultHandshakeTimeout is HandshakeTimeout's default.
const DefaultHandshakeTimeout = 10 * time.Second

// OptionError is what WithDefaults finds wrong with one key of Options;
// Key is its name in the [worker.websocket] table. http.OptionError has
// the same shape.
type OptionError struct{ Key, Msg string }

func (e *OptionError) Error() string { return e.Key + ": " + e.Msg }

// WithDefaults validates o and fills in the defaults.
func (o Options) WithDefaults() (Options, error) {
	for _, d := range []struct {
		key string
		v   *time.Duration
	}{{"ping_interval", &o.PingInterval}, {"ping_timeout", &o.PingTimeout}, {"handshake_timeout", &o.HandshakeTimeout}} {
		if *d.v != 0 && *d.v < time.Millisecond {
			return o, &OptionError{Key: d.key, Msg: fmt.Sprintf("%d: write a duration with a unit, as in \"30s\"", int64(*d.v))}
		}
		if *d.v < 0 {
			return o, &OptionError{Key: d.key, Msg: "must not be negative"}
		}
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.PingInterval > 0 && o.PingTimeout > 0 && o.PingTimeout <= o.PingInterval {
		return o, &OptionError{Key: "ping_timeout", Msg: "must be longer than ping_interval, or the client has no time to answer the ping"}
	}
	return o, nil
}
