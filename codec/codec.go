// Package codec defines how a workermand connection turns a byte stream into
// messages and messages back into bytes: Workerman's protocol interface
// (input/decode/encode), reshaped for Go.
//
// A Protocol is registered by scheme name ("text", "frame", "http", …) and
// makes one Codec per connection, so a codec may keep per-connection state (a
// handshake phase, a partially parsed header, a compressor). The event loop
// drives the codec:
//
//  1. Input(buf) is called with every buffered inbound byte. It returns 0 to
//     wait for more, n > 0 when the first n bytes form one packet (n may exceed
//     len(buf) when a header already tells the full length: the loop then
//     waits for n bytes), or an error to close the connection.
//  2. Decode(pkt) turns the packet into a Message for OnMessage. A Message of
//     KindNone delivers nothing: the codec consumed the bytes itself, e.g. it
//     answered a ping with WriteRaw.
//  3. Encode(dst, payload) appends the wire form of an outgoing payload.
//
// Packets are limited to Conn.MaxPackageSize bytes; a protocol that carries
// larger bodies streams them by returning pieces of the body as packets, so
// the buffered input never exceeds the limit. Codecs switch a connection to
// another protocol with Conn.SetCodec (http → websocket).
//
// This package is public so that programs built on workermand can add their
// own protocols: it imports nothing from workermand and is safe to depend on.
package codec

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"
)

// Kind tells OnMessage what a Message holds.
type Kind uint8

const (
	// KindNone means the codec consumed the packet itself; nothing is delivered.
	KindNone Kind = iota
	// KindData is a payload of a protocol with a single kind of message
	// (text, frame, raw tcp).
	KindData
	// KindText is a text message of a protocol that tells text from binary.
	KindText
	// KindBinary is a binary message of a protocol that tells text from binary.
	KindBinary
)

// Message is one decoded packet.
type Message struct {
	// Data is the payload. It points into the event loop's buffers and is
	// valid only until the callback that receives it returns: copy it (or
	// convert it to a string) to keep it.
	Data []byte
	// Value carries a structured message for protocols that build one (an
	// HTTP request); nil otherwise.
	Value any
	// Kind says what Data holds; KindNone messages are not delivered.
	Kind Kind
}

// Conn is the view of a connection that a codec gets. Its methods may only be
// called on the connection's event loop, which is where codecs run.
//
// Output written through Conn while the same connection's Encode or
// EncodeValue runs (WriteRaw, WriteFile) goes out after the bytes that call
// appends to dst, in call order; Close called then takes effect once all of
// it is queued. So an encoder may append a response head to dst and then
// WriteFile the body, or leave dst unchanged and write everything through
// Conn.
type Conn interface {
	// WriteRaw queues b as-is, bypassing Encode: pongs, "100 Continue", the
	// 101 reply of an upgrade. It reports false when the bytes were dropped
	// because the connection is closing or its send buffer is full.
	WriteRaw(b []byte) bool
	// WriteFile queues length bytes of f from offset after everything
	// written so far; they are sent with sendfile(2) without passing
	// through user memory. The connection owns f from the call on, whatever
	// it reports: f is closed once its bytes are sent, when the connection
	// closes, or at once when the write is dropped (false: closing, or the
	// send buffer is full, as for WriteRaw). length counts towards the send
	// buffer. A file that turns out shorter than offset+length ends the
	// connection, since the peer could not tell where the next message
	// starts.
	WriteFile(f *os.File, offset, length int64) bool
	// SetCodec makes c the connection's codec from the next packet on. Bytes
	// already buffered after the current packet are handed to c.
	SetCodec(c Codec)
	// PauseRecv stops reading: Input is not called again (not even for
	// bytes already buffered) until ResumeRecv, and TCP flow control slows
	// the peer down. A codec that answers one request at a time calls it
	// from Input when the next request arrives before the current response
	// is written, and returns 0; input held while paused is exempt from
	// MaxPackageSize, since reading stops.
	PauseRecv()
	// ResumeRecv resumes reading. Bytes buffered meanwhile are framed at the
	// end of the current loop turn, even if no new bytes arrive.
	ResumeRecv()
	// Close flushes queued output, then closes the connection.
	Close()
	// Linger makes the coming close gentle: after the output is flushed,
	// the connection half-closes (FIN) and reads and discards input for a
	// short while before closing the socket. Closing a socket with unread
	// input makes the kernel send a reset, which can destroy an error
	// response still in flight before the client has read it. Call it
	// before answering with an error and closing (return an error from
	// Input, or Close).
	Linger()
	// MaxPackageSize is the largest packet this connection accepts.
	MaxPackageSize() int
	// RemoteAddr and LocalAddr are the connection's peer and local addresses.
	RemoteAddr() netip.AddrPort
	LocalAddr() netip.AddrPort
}

// Codec frames, decodes and encodes the messages of one connection. A codec
// is used by one event loop only and needs no locking.
//
// Besides the interfaces below, a codec that holds resources implements
// io.Closer: Close is called once, when its connection closes or is handed
// to another process; its error is dropped, since nothing on the loop could
// act on it.
type Codec interface {
	// Input reports the length of the first packet in buf: 0 when more bytes
	// are needed, n > 0 for a packet of n bytes, or an error to close the
	// connection (ErrClose for a clean close, anything else is counted as a
	// protocol error).
	Input(buf []byte) (int, error)
	// Decode turns one packet into a message. pkt is valid only during the
	// call and the OnMessage callback that follows.
	Decode(pkt []byte) (Message, error)
	// Encode appends the wire form of payload to dst and returns it.
	Encode(dst, payload []byte) ([]byte, error)
}

// ValueEncoder is implemented by codecs that send structured values (an HTTP
// response, a websocket message of a chosen kind) besides plain payloads.
type ValueEncoder interface {
	EncodeValue(dst []byte, v any) ([]byte, error)
}

// SharedEncoder is implemented by codecs whose encoding of a message may
// be the same bytes on many connections, so that a broadcast
// (workerman.Broadcast) encodes the message once and writes that one
// frame to each of them. SharedEncoding returns a comparable key for how
// this connection encodes v now (v as EncodeValue takes it, []byte as
// Encode): codecs that return equal non-nil keys encode v to identical
// bytes, and encoding it changes none of them. nil means this connection
// encodes v its own way (a compression context of its own, a client's
// masking key, a handshake not done yet), and it gets v through its own
// Encode.
type SharedEncoder interface {
	SharedEncoding(v any) any
}

// Opener is implemented by codecs that act when the connection is
// established (a websocket client sends its handshake).
type Opener interface {
	Open() error
}

// PanicAnswerer is implemented by codecs that owe the peer an answer when
// a callback handling its message panics (HTTP's 500: a client left
// without a reply would retry or hang). AnswerPanic may WriteRaw that
// answer and Close, and reports whether it did; otherwise, or when the
// panic unwound an Encode, the connection is dropped at once, unflushed.
type PanicAnswerer interface {
	AnswerPanic() bool
}

// Expirer is implemented by codecs with timeouts of their own (an HTTP head
// that arrives too slowly, a keep-alive connection left idle too long). About
// once a second the process asks each such connection; true closes it
// (flushing what was queued, so the codec may WriteRaw a 408 first). idle is
// how long ago the connection last received data.
type Expirer interface {
	Expired(now time.Time, idle time.Duration) bool
}

// Farewell is implemented by codecs whose protocol says goodbye when the
// server closes a connection the peer would have kept: a process that
// stops (a reload, a stop) sends a websocket peer a close frame with 1001,
// going away, so a browser can tell a restart from a failure (1006).
// Farewell returns the bytes to write as they are, or nil when the
// protocol has nothing to say (not open, or closing already), and treats
// the connection as closing from then on.
type Farewell interface {
	Farewell() []byte
}

// Paced is implemented by codecs that answer every message they deliver
// (HTTP): dropping an answer because the send buffer is full would leave the
// peer waiting forever. For them the loop never drops a send for a full
// buffer; instead, while MaxSendBufferSize bytes are queued, it stops
// framing and reading input, and resumes once the queue is below the limit,
// so a client that pipelines without reading is slowed down by TCP rather
// than costing memory.
type Paced interface {
	Paced()
}

// Migrator is implemented by codecs whose connections may move to another
// process (a reload hands idle keep-alive HTTP connections to the new
// child). Protocols opt in only when a connection carries no state the
// application keeps: the adopting process does not call OnConnect.
type Migrator interface {
	// Migrate returns the codec's state, or ok=false while the connection
	// is in the middle of something (a request half read) and must stay.
	Migrate() (state []byte, ok bool)
	// Resume restores state in a fresh codec of the adopting process.
	Resume(state []byte) error
}

// Protocol makes the codec of each new connection.
type Protocol interface {
	NewCodec(c Conn) Codec
}

// ProtocolFunc adapts a function to Protocol.
type ProtocolFunc func(c Conn) Codec

// NewCodec calls f(c).
func (f ProtocolFunc) NewCodec(c Conn) Codec { return f(c) }

// ErrClose asks the loop to flush queued output and close the connection. It
// is not counted as a protocol error.
var ErrClose = errors.New("codec: close requested")

// ErrPackageTooLarge reports a packet above the connection's MaxPackageSize.
var ErrPackageTooLarge = errors.New("codec: package exceeds max_package_size")

// DefaultMaxPackageSize is Workerman's default package limit (10 MiB).
const DefaultMaxPackageSize = 10 << 20

var (
	registryMu sync.RWMutex
	registry   = map[string]Protocol{}
)

// Register makes p available under scheme name (the part before "://" in a
// listen address). It is meant to be called from init and panics on an empty
// or duplicate name, since both are programming errors.
func Register(name string, p Protocol) {
	if name == "" || p == nil {
		panic("codec: Register needs a name and a protocol")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("codec: protocol %q registered twice", name))
	}
	registry[name] = p
}

// Lookup returns the protocol registered under name.
func Lookup(name string) (Protocol, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

// Names lists the registered protocol names in order.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
