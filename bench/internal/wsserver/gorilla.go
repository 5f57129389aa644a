// Package wsserver holds the reference websocket echo servers workermand
// is compared with: gorilla/websocket on net/http, and a minimal one on a
// single gnet v2 loop. Both echo each message back with its type.
package wsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// MaxMessage bounds a message; a peer that sends a larger one is cut off.
const MaxMessage = 1 << 20

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	CheckOrigin:     func(*http.Request) bool { return true }, // a benchmark has no browser origins to guard
}

// echo is the usual gorilla echo loop: one goroutine per connection
// reading a message and writing it back with its type.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client already
	}
	defer c.Close()
	c.SetReadLimit(MaxMessage)
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// ServeGorilla runs the gorilla echo server on addr until ctx is done.
// ready, if not nil, is called once it accepts.
func ServeGorilla(ctx context.Context, addr string, ready func()) error {
	return serveGorilla(ctx, addr, "", "", ready)
}

// serveGorilla is ServeGorilla, over crypto/tls (wss://) when cert and
// key name PEM files: net/http's own TLS server, as a Go service would
// run it.
func serveGorilla(ctx context.Context, addr, cert, key string, ready func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- srv.ServeTLS(ln, cert, key)
			return
		}
		errc <- srv.Serve(ln)
	}()
	if ready != nil {
		ready()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	// Hijacked websocket connections are not tracked by Shutdown; the
	// process exits right after, which closes them.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
