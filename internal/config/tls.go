package config

import (
	"strings"

	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/tlsconfig"
)

// TLS is a TLS worker's [worker.tls] table, decoded strictly.
type TLS struct {
	// Certificates: the first is served to clients whose server name (SNI)
	// matches no other, the others to the names they carry.
	Certificates []TLSCertificate `toml:"certificates"`
	// HandshakeTimeout closes connections whose handshake has not finished
	// that long after accept (0: the default, 10 s).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// MinVersion is "1.2" (the default) or "1.3".
	MinVersion string `toml:"min_version"`
	// ClientCAFile makes client certificates required, verified against
	// the CAs in that PEM file.
	ClientCAFile string `toml:"client_ca_file"`
	// ALPN lists the application protocols offered, by preference.
	ALPN []string `toml:"alpn"`
}

// TLSCertificate is one entry of certificates: PEM files, the chain first
// in cert_file.
type TLSCertificate struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Settings is the table in tlsconfig's terms, for tlsconfig.Load.
func (t *TLS) Settings() tlsconfig.Settings {
	s := tlsconfig.Settings{MinVersion: t.MinVersion, ClientCAFile: t.ClientCAFile, ALPN: t.ALPN}
	for _, c := range t.Certificates {
		s.Certificates = append(s.Certificates, tlsconfig.Certificate{CertFile: c.CertFile, KeyFile: c.KeyFile})
	}
	return s
}

// tlsSchemes are the shorthands for a protocol over TLS, as browsers and
// Workerman's users write them (Workerman itself wants websocket:// plus
// transport = "ssl", a frequent stumbling block).
var tlsSchemes = map[string]string{
	"https": "http",
	"wss":   "websocket",
	"ssl":   "tcp", // a raw stream, as tcp:// is over TCP
}

// sslTransport reconciles a listen address with the transport key for
// TLS: https://, wss:// and ssl:// set transport "ssl" and stand for http,
// websocket and tcp, and any stream protocol can be served over TLS with
// transport = "ssl". It rewrites a.Scheme to the protocol and reports false
// after a problem.
func (ck *checker) sslTransport(w *Worker, a *listenaddr.Addr, t *table) bool {
	explicit := t.has("transport")
	proto, short := tlsSchemes[a.Scheme]
	switch {
	case short && explicit && w.Transport != "ssl":
		ck.add(t.key("transport"), "transport %q contradicts the listen address %q: %s:// is TLS (leave transport out)", w.Transport, w.Listen, a.Scheme)
		return false
	case short:
		w.Transport = "ssl"
		a.Scheme = proto
	case w.Transport != "ssl":
		return true
	}
	switch {
	case a.IsPath():
		ck.add(t.key("listen"), "TLS is served on an IP address and port, not on the socket path %q", a.Path)
		return false
	case a.Scheme == "udp":
		ck.add(t.key("transport"), "transport \"ssl\" contradicts the listen address %q: UDP carries no TLS (DTLS is not supported)", w.Listen)
		return false
	}
	return true
}

// tlsTable reads [worker.tls]: required, with certificates, on a TLS
// worker, and refused elsewhere, where it would silently do nothing.
func (ck *checker) tlsTable(w *Worker, t *table) {
	if w.Code {
		return // the program holds its *tls.Config
	}
	tb, ok := t.sub("tls", "key")
	if !ok {
		return
	}
	if w.Transport != "ssl" || w.Addr.Scheme == "" {
		// (A listen address with a problem was reported already.)
		if w.Transport != "ssl" && tb.Defined() {
			ck.add(tb.key, "only applies to TLS workers (transport = \"ssl\", or listen on https://, wss:// or ssl://)")
		}
		return
	}
	var s TLS
	if err := tb.Decode(&s); err != nil {
		if errs, ok := err.(*Errors); ok {
			ck.probs = append(ck.probs, errs.Problems...)
		} else {
			ck.add(tb.key, "%v", err)
		}
		return
	}
	switch {
	case !tb.Defined():
		// No table to point at: the key that made the worker TLS.
		at := t.key("listen")
		if t.has("transport") {
			at = t.key("transport")
		}
		ck.add(at, "a TLS worker needs certificates, and %s.certificates is missing: add [worker.tls] with certificates = [{ cert_file = \"site.pem\", key_file = \"site.key\" }]", tb.key)
		return
	case len(s.Certificates) == 0:
		ck.add(tb.key, "%s.certificates is missing: a TLS worker needs at least one { cert_file = \"site.pem\", key_file = \"site.key\" }", tb.key)
		return
	case s.HandshakeTimeout.Duration < 0:
		ck.add(tb.key+".handshake_timeout", "must not be negative")
		return
	}
	w.TLS = &s
	w.tlsKey = tb.key
}

// loadTLS lets the hook read and check the certificates of each TLS
// worker: its errors are problems at their keys in the table, its warnings
// (a certificate expired or not valid yet) are kept for Check.
func (ck *checker) loadTLS(w *Worker, hook func(tlsconfig.Settings) []tlsconfig.Problem) {
	if w.TLS == nil || hook == nil {
		return
	}
	for _, p := range hook(w.TLS.Settings()) {
		key := w.tlsKey
		if p.Key != "" {
			key += "." + p.Key
		}
		if p.Warning {
			w.tlsWarnings = append(w.tlsWarnings, Problem{File: ck.file, Line: ck.lines.line(key), Key: key, Msg: p.Msg})
			continue
		}
		ck.add(key, "%s", strings.TrimSpace(p.Msg))
	}
}

// ListenScheme is the scheme of the listen address as written ("https" for
// https://…), which status shows with the bound port; Addr.Scheme is the
// protocol spoken ("http").
func (w *Worker) ListenScheme() string {
	scheme, _, _ := strings.Cut(w.Listen, "://")
	return scheme
}
