package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// NetHandler answers every request with Body; with root set it serves the
// files under root instead (the static-file test).
func NetHandler(root string) http.Handler {
	if root != "" {
		return http.FileServer(http.Dir(root))
	}
	body := []byte(Body)
	ct := []string{ContentType}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Assigning the slice skips Header().Set's canonicalisation and
		// allocation: this is the idiomatic fast path, not a trick.
		w.Header()["Content-Type"] = ct
		_, _ = w.Write(body)
	})
}

// ServeNetHTTP serves NetHandler(root) on ln until ctx is done, then shuts
// down, giving open requests 3 s.
func ServeNetHTTP(ctx context.Context, ln net.Listener, root string) error {
	srv := &http.Server{Handler: NetHandler(root), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("net/http serve: %w", err)
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("net/http serve: %w", err)
	}
	return nil
}

// ListenAndServeNetHTTP listens on addr and runs ServeNetHTTP.
func ListenAndServeNetHTTP(ctx context.Context, addr, root string, ready func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("nethttp: %w", err)
	}
	if ready != nil {
		ready()
	}
	return ServeNetHTTP(ctx, ln, root)
}
