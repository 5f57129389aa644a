package workerman

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/netloop"
	"github.com/workermand/workermand/internal/tlsconfig"
)

// DefaultTLSHandshakeTimeout is how long a TLS connection may take to
// finish its handshake when Worker.TLSHandshakeTimeout is 0.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// tlsSchemes are the shorthands for a protocol over TLS: https://,
// wss:// and ssl:// (a raw stream), which Workerman writes http://,
// websocket:// and tcp:// with transport 'ssl'.
var tlsSchemes = map[string]string{"https": "http", "wss": "websocket", "ssl": "tcp"}

// resolveTLS reconciles ListenAddr, Transport and TLS: https://, wss:// and
// ssl:// mean Transport "ssl", as does a TLS config with no Transport set;
// Transport "ssl" needs a TLS config. It rewrites a.Scheme to the
// protocol.
func (w *Worker) resolveTLS(a *listenaddr.Addr) error {
	if proto, ok := tlsSchemes[a.Scheme]; ok {
		if w.Transport != "" && w.Transport != "ssl" {
			return fmt.Errorf("worker %q: transport %q contradicts %q, a TLS address", w.Name, w.Transport, w.ListenAddr)
		}
		w.Transport, a.Scheme = "ssl", proto
	}
	if w.Transport == "" && w.TLS != nil {
		w.Transport = "ssl"
	}
	switch {
	case w.Transport != "ssl" && w.TLS != nil:
		return fmt.Errorf("worker %q: TLS is set but Transport is %q (TLS needs transport \"ssl\")", w.Name, w.Transport)
	case w.Transport != "ssl":
		return nil
	case w.TLS == nil:
		return fmt.Errorf("worker %q: transport \"ssl\" needs TLS, a *tls.Config with certificates", w.Name)
	case len(w.TLS.Certificates) == 0 && w.TLS.GetCertificate == nil && w.TLS.GetConfigForClient == nil:
		return fmt.Errorf("worker %q: TLS has no certificate (Certificates, GetCertificate or GetConfigForClient)", w.Name)
	case a.IsPath():
		return fmt.Errorf("worker %q: TLS is served on an IP address and port, not on the socket path %q", w.Name, a.Path)
	case a.Scheme == "udp":
		return fmt.Errorf("worker %q: transport \"ssl\" contradicts %q: UDP carries no TLS", w.Name, w.ListenAddr)
	case w.TLSHandshakeTimeout < 0:
		return fmt.Errorf("worker %q: TLSHandshakeTimeout must not be negative", w.Name)
	}
	return nil
}

// tlsServer is what the loop needs of a TLS worker, nil for others. In a
// daemon child, keys (else nil) give its config the session-ticket keys
// the master shares among the worker's children.
func (w *Worker) tlsServer(keys *sessionTicketKeys) *netloop.TLSServer {
	if w.Transport != "ssl" {
		return nil
	}
	return &netloop.TLSServer{Config: keys.serverConfig(w, w.TLS), HandshakeTimeout: w.TLSHandshakeTimeout}
}

// tlsFromConfig builds a TLS worker's server config from its [worker.tls]
// table, reading the certificate files now: a child loads them at start, so
// each reload serves the files as they are then (the master checked them
// before starting the roll).
func tlsFromConfig(wc *config.Worker, now time.Time) (*tls.Config, error) {
	cfg, _, err := tlsconfig.Load(wc.TLS.Settings(), now)
	if err != nil {
		return nil, fmt.Errorf("worker %q: [worker.tls]: %w", wc.Name, err)
	}
	return cfg, nil
}

// TLSConnectionState reports the TLS parameters of the connection (version,
// cipher suite, the ALPN protocol, the server name the client asked for and
// the client's certificates on a worker's connection, the server's
// certificates and whether the session resumed on an AsyncTcpConnection's);
// ok is false for a connection without TLS. OnConnect runs after the
// handshake, so they are known from then on. Loop-only.
func (c *Connection) TLSConnectionState() (state tls.ConnectionState, ok bool) {
	return c.nc.TLSConnectionState()
}
