// Package wsproto is the websocket:// protocol (RFC 6455), server side: the
// upgrade handshake (strict checks, origins, subprotocols, an application
// hook that may reject it), then frames: text and binary messages delivered
// with their kind, fragmentation with interleaved control frames, automatic
// pongs, the closing handshake, UTF-8 validation of text, limits, and
// optional server pings that reap dead clients. Connections are never handed
// over on reload: the application keeps state about them.
package wsproto

import (
	"compress/flate"
	"fmt"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpparse"
	"github.com/workermand/workermand/internal/wsdeflate"
	"github.com/workermand/workermand/websocket"
)

// compressLevel is BestSpeed: several times cheaper per message than the
// higher levels, and WebSocket messages are small.
const compressLevel = flate.BestSpeed

// minCompress is the smallest message worth compressing: below it the
// deflate framing costs about what it saves, and the CPU is wasted.
const minCompress = 128

// HandshakeFunc is the application's say on an upgrade request: nil
// accepts it; a Response with status 101 accepts it and adds its fields; any
// other Response is sent instead and the connection closed.
type HandshakeFunc func(c codec.Conn, req *http.Request) *http.Response

// Protocol makes the codecs of one worker's connections.
type Protocol struct {
	opts      websocket.Options
	limits    httpparse.Limits
	handshake HandshakeFunc
	httpOpts  http.Options
	// Shared by every connection: compressors and inflaters are pooled,
	// so a connection without context takeover holds none while idle.
	comp   *wsdeflate.Compressor
	decomp *wsdeflate.Decompressor
}

// New validates opts; handshake may be nil.
func New(opts websocket.Options, handshake HandshakeFunc) (*Protocol, error) {
	o, err := opts.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("websocket options: %w", err)
	}
	ho, _ := http.Options{}.WithDefaults()
	p := &Protocol{opts: o, handshake: handshake, httpOpts: ho,
		limits: httpparse.Limits{MaxHeaderBytes: ho.MaxHeaderBytes, MaxHeaders: ho.MaxHeaders}}
	if !o.DisableCompression {
		if p.comp, err = wsdeflate.NewCompressor(compressLevel); err != nil {
			return nil, err
		}
		p.decomp = wsdeflate.NewDecompressor()
	}
	return p, nil
}

// Default is the protocol registered as "websocket": default options, no
// handshake hook.
var Default = func() *Protocol {
	p, err := New(websocket.Options{}, nil)
	if err != nil {
		panic(err)
	}
	return p
}()

func init() { codec.Register("websocket", Default) }

// NewCodec makes the codec of one connection, starting with the handshake.
func (p *Protocol) NewCodec(c codec.Conn) codec.Codec {
	sc := &serverConn{endpoint: endpoint{c: c, role: roleServer}, p: p, hs: handshakeStates.Get().(*handshakeState)}
	sc.side, sc.early = sc, &sc.hs.early
	return &sc.endpoint
}

// Options are the protocol's settings with defaults filled in.
func (p *Protocol) Options() websocket.Options { return p.opts }
