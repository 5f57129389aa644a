// Package httpproto is the http:// protocol: HTTP/1.1 framing on top of
// internal/httpparse, keep-alive and pipelining per RFC 9112, the error
// answers (400, 405, 408, 413, 431, 501, 505), the response encoder for the
// public http package's types, the access log and the hand-over of idle
// keep-alive connections on reload.
//
// Each connection has one request in flight: the next pipelined request is
// framed only once the response to the current one is encoded, so a handler
// may answer later from another goroutine and the order on the wire still
// follows the order of the requests.
package httpproto

import (
	"fmt"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpparse"
)

// Protocol makes the codecs of one worker's connections; its options come
// from the worker's [worker.http] table.
type Protocol struct {
	opts   http.Options
	limits httpparse.Limits
	log    *AccessLog // nil when off
	server []byte     // "Server: x\r\n" or nil
	heads  headCacheSlot
}

// New validates opts and returns the protocol. The access log, if any, is
// opened here, through open (nil: os.OpenFile, appending), which is also
// how Reopen gets the file again; Close it when the worker stops.
func New(opts http.Options, open FileOpener) (*Protocol, error) {
	o, err := opts.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("http options: %w", err)
	}
	p := &Protocol{opts: o, limits: httpparse.Limits{MaxHeaderBytes: o.MaxHeaderBytes, MaxHeaders: o.MaxHeaders}}
	if o.Server != "" {
		if !http.ValidFieldValue(o.Server) {
			return nil, fmt.Errorf("http options: server = %q is not a valid header value", o.Server)
		}
		p.server = []byte("Server: " + o.Server + "\r\n")
	}
	if o.AccessLog != "" {
		if p.log, err = OpenAccessLog(o.AccessLog, o.AccessLogFormat, open); err != nil {
			return nil, fmt.Errorf("http options: access_log: %w", err)
		}
	}
	return p, nil
}

// Default is the protocol registered as "http": every option at its default.
var Default = func() *Protocol {
	p, err := New(http.Options{}, nil)
	if err != nil {
		panic(err)
	}
	return p
}()

func init() { codec.Register("http", Default) }

// NewCodec makes the codec of one connection.
func (p *Protocol) NewCodec(c codec.Conn) codec.Codec {
	return &conn{p: p, c: c}
}

// Options are the protocol's settings with defaults filled in.
func (p *Protocol) Options() http.Options { return p.opts }

// Reopen reopens the access log (log rotation).
func (p *Protocol) Reopen() error {
	if p.log == nil {
		return nil
	}
	return p.log.Reopen()
}

// Close flushes and closes the access log.
func (p *Protocol) Close() error {
	if p.log == nil {
		return nil
	}
	return p.log.Close()
}
