// Package counters is the one definition of a process's counters: the
// event loop keeps them, the master–child channel carries them, and
// `status --json` shows them, each under the JSON key given here. A counter
// added here reaches all three; keys are only ever added (scripts read
// them).
package counters

// Counters are one process's counters.
type Counters struct {
	Connections    int    `json:"connections"`     // open now; decremented when a connection closes
	Accepted       uint64 `json:"accepted"`        // connections accepted since start
	TotalRequest   uint64 `json:"total_request"`   // messages delivered to OnMessage
	SendFail       uint64 `json:"send_fail"`       // sends dropped or failed
	Exceptions     uint64 `json:"exceptions"`      // panics recovered from callbacks
	ProtocolErrors uint64 `json:"protocol_errors"` // connections closed for malformed input
	Timers         int    `json:"timers"`          // timers pending now, the loop's own (connect timeouts, accept resume) included
	AcceptPauses   uint64 `json:"accept_pauses"`   // times accepting paused for lack of file descriptors
	Rejected       uint64 `json:"rejected"`        // connections closed at accept because a listener was at its connection limit
	SendTimeouts   uint64 `json:"send_timeouts"`   // connections destroyed because their queued output made no progress for their send timeout
	// Descriptors. A process at its open-files limit cannot accept: it
	// pauses accepting (AcceptPauses) and retries, leaving new clients in
	// the listen backlog, until connections close. The child reads
	// OpenFiles and FDLimit at each status; 0 where unknown.
	AcceptPaused int `json:"accept_paused"` // listeners not accepting now for lack of descriptors (or memory)
	OpenFiles    int `json:"open_files"`    // descriptors open now
	FDLimit      int `json:"fd_limit"`      // the open-files limit (RLIMIT_NOFILE, soft)
	// UDP workers and clients. A datagram is counted once however many
	// messages it holds; TotalRequest counts those.
	Datagrams        uint64 `json:"datagrams"`         // datagrams received
	DatagramsDropped uint64 `json:"datagrams_dropped"` // datagrams dropped whole or in part: over max_package_size, cut short by the read buffer, or not framed to the end by the protocol
	// TLS listeners only. A failed handshake is counted, not logged: a
	// scanner or a client with the wrong settings would flood the log.
	TLSHandshakes         uint64 `json:"tls_handshakes"`           // TLS handshakes completed
	TLSHandshakeErrors    uint64 `json:"tls_handshake_errors"`     // TLS handshakes failed (bad hello, refused version, no shared cipher, peer gone)
	TLSHandshakeTimeouts  uint64 `json:"tls_handshake_timeouts"`   // TLS connections closed for not finishing the handshake within handshake_timeout
	TLSPlaintextRejected  uint64 `json:"tls_plaintext_rejected"`   // connections to a TLS port that did not start with a TLS record (plain HTTP gets a 400)
	TLSHandshakesInFlight int    `json:"tls_handshakes_in_flight"` // TLS handshakes running now (capped per process)
}
