package testcert

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// Resumes runs one TLS handshake between srv and cli over a pipe and
// reports whether it resumed a session. The client reads a byte the
// server writes, so that a TLS 1.3 ticket, sent after the handshake,
// reaches cli's session cache for the next call.
func Resumes(t testing.TB, srv, cli *tls.Config) bool {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, srv)
		if err := s.Handshake(); err != nil {
			done <- err
			return
		}
		_, err := s.Write([]byte{1})
		done <- err
	}()
	c := tls.Client(b, cli)
	if err := c.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("client read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	return c.ConnectionState().DidResume
}
