package config

import (
	"github.com/workermand/workermand/internal/listenaddr"
)

// datagramSchemes are the protocols refused over UDP: each needs a stream
// (a request and its body across reads, a handshake then frames on one
// connection), which datagrams from any sender are not.
var datagramSchemes = map[string]string{
	"http":      "HTTP needs a connection to carry a request and its response",
	"websocket": "a websocket is a connection upgraded from HTTP",
	"ws":        "a websocket is a connection upgraded from HTTP",
}

// udpTransport reconciles a listen address with the transport key as
// Workerman does: udp://host:port is raw datagrams (the transport is the
// scheme, one message per datagram), and a protocol over UDP is written
// text://host:port with transport = "udp" (each line of a datagram a
// message). It rewrites a.Scheme to the protocol ("tcp", raw, for udp://)
// and reports false after a problem.
func (ck *checker) udpTransport(w *Worker, a *listenaddr.Addr, t *table) bool {
	explicit := t.has("transport")
	switch {
	case a.Scheme == "udp" && explicit && w.Transport != "udp":
		ck.add(t.key("transport"), "transport %q contradicts the listen address %q: udp:// is UDP (leave transport out)", w.Transport, w.Listen)
		return false
	case a.Scheme == "udp":
		w.Transport = "udp"
		a.Scheme = "tcp" // raw datagrams, as tcp:// is a raw stream
	case w.Transport != "udp":
		return true
	}
	if why, ok := datagramSchemes[a.Scheme]; ok {
		ck.add(t.key("listen"), "%s:// cannot run over UDP: %s (use text, frame or udp:// for datagrams, or transport \"tcp\")", a.Scheme, why)
		return false
	}
	return true
}

// udpKeys refuses the keys that mean nothing on a UDP worker, so a setting
// that would silently do nothing is reported: UDP has no connections to
// limit, time out or prefix with a PROXY header.
func (ck *checker) udpKeys(w *Worker, t *table) {
	if w.Transport != "udp" {
		return
	}
	for _, k := range []string{"max_connections", "idle_timeout", "send_timeout", "backlog", "proxy_protocol", "max_send_buffer_size"} {
		if t.has(k) {
			ck.add(t.key(k), "does not apply to a UDP worker: UDP has no connections (each datagram is answered on its own)")
		}
	}
}
