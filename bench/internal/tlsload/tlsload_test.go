package tlsload

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
)

// TestIdleAgainstGoServer holds idle connections to a TLS server with the
// run-time certificate, which the generator must verify, and checks that
// a wrong body and an untrusted certificate fail them.
func TestIdleAgainstGoServer(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := WriteCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	curves := make(chan tls.CurveID, 100)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "Hello, World!")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		curves <- h.SupportedCurves[0]
		if len(h.SupportedCurves) != 1 {
			return nil, fmt.Errorf("client offers %v", h.SupportedCurves)
		}
		return nil, nil
	}}
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")

	run := func(ca, body string) loadgen.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		res, _ := Run(ctx, Config{CA: ca, Body: body, Config: loadgen.Config{Addr: addr, Mode: loadgen.Idle, Conns: 20,
			Hold: time.Minute, DialTimeout: 2 * time.Second, DialParallel: 5, ConnectIn: 5 * time.Second}})
		return res
	}
	if res := run(cert, "Hello, World!"); res.Conns != 20 || res.Errors+res.Mismatches+uint64(res.DialErrors) > 0 {
		t.Fatalf("idle: %+v", res)
	}
	if c := <-curves; c != tls.X25519 {
		t.Fatalf("client offered %v first, want X25519 only", c)
	}
	if res := run(cert, "other"); res.Conns != 0 || res.Mismatches != 20 {
		t.Fatalf("wrong body: %+v", res)
	}
	other, _, err := WriteCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res := run(other, "Hello, World!"); res.Conns != 0 || res.Errors != 20 {
		t.Fatalf("untrusted certificate: %+v", res)
	}
}
