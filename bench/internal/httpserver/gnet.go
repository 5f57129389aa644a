package httpserver

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/workermand/workermand/bench/internal/serve"
)

// Body is what every server in the benchmark answers with.
const Body = "Hello, World!"

// ContentType is the Content-Type of Body, the same for every server.
const ContentType = "text/plain; charset=utf-8"

// responder builds the one response the gnet server sends. The Date header
// changes once a second, so the whole response is rebuilt at most that often.
type responder struct {
	sec  int64
	resp []byte
}

func (r *responder) response(now time.Time) []byte {
	if s := now.Unix(); s != r.sec || r.resp == nil {
		r.sec = s
		r.resp = append(r.resp[:0], "HTTP/1.1 200 OK\r\nServer: gnet\r\nDate: "...)
		r.resp = now.UTC().AppendFormat(r.resp, http.TimeFormat)
		r.resp = append(r.resp, "\r\nContent-Type: "+ContentType+"\r\nContent-Length: "...)
		r.resp = strconv.AppendInt(r.resp, int64(len(Body)), 10)
		r.resp = append(r.resp, "\r\n\r\n"+Body...)
	}
	return r.resp
}

// gnetHTTP runs on one event loop (multicore=false), so its scratch
// buffer and responder need no locking.
type gnetHTTP struct {
	gnet.BuiltinEventEngine
	resp responder
	out  []byte
}

// OnTraffic answers every complete request buffered so far, in order, with
// one Write; a partial request stays in gnet's inbound buffer for the next
// event.
func (h *gnetHTTP) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Peek(-1)
	if err != nil {
		return gnet.Close
	}
	resp := h.resp.response(time.Now())
	out := h.out[:0]
	used, closing := 0, false
	for !closing {
		hd, ok, err := nextHead(buf[used:])
		if err != nil {
			closing = true // answer what came before, then close
			break
		}
		if !ok {
			break
		}
		used += hd.size
		out = append(out, resp...)
		closing = hd.close
	}
	h.out = out[:0]
	if len(out) > 0 {
		// Write copies what the socket does not take at once, so the
		// scratch buffer can be reused by the next event.
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	if closing {
		return gnet.Close
	}
	if _, err := c.Discard(used); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// ServeGnet runs the single-event-loop gnet HTTP server on addr (host:port)
// until ctx is done. ready, if not nil, is called once it accepts.
func ServeGnet(ctx context.Context, addr string, ready func()) error {
	return serve.Gnet(ctx, addr, &gnetHTTP{}, ready)
}
