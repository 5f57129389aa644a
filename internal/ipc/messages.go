package ipc

import (
	"encoding/json"

	"github.com/workermand/workermand/internal/counters"
)

// Message types. Requests carry an ID that the reply repeats.
const (
	// Child → master, first message: its protocol version and pid.
	TypeHello = "hello"
	// Master → child: what to run (Setup), with the listening socket(s) and
	// the log file attached.
	TypeSetup = "setup"
	// Child → master: serving; or SetupFailed with Error.
	TypeReady       = "ready"
	TypeSetupFailed = "setup_failed"
	// Child → master: replace me (max_requests reached). The master starts
	// the replacement, then stops this child gracefully.
	TypeRetire = "retire"
	// Child → master: stop the whole daemon as `stop` does, gracefully with
	// Mode StopDrain (workerman.StopAll, Workerman's Worker::stopAll()).
	TypeStopAll = "stop_all"
	// Master → child: stop (see Mode; TimeoutMS bounds it); reload for a
	// worker that is not reloadable (runs OnWorkerReload only); reopen: use
	// the attached log file and worker files (Message.Files) from now on
	// (answered, when the request has an ID, once switched).
	TypeStop   = "stop"
	TypeReload = "reload"
	TypeReopen = "reopen"
	// Master → child requests, answered with the same type and ID.
	TypeStatus      = "status"
	TypeConnections = "connections"
	// Retiring child → master → its replacement: established connections
	// to adopt, one descriptor each, described in Handovers (same order).
	TypeHandover = "handover"
	// Master → child: the TLS session-ticket keys (TicketKeys) after a
	// rotation; a child's first keys come with its Setup.
	TypeTicketKeys = "ticket_keys"
)

// How a child stops (Message.Mode). All three stop accepting at once.
const (
	// StopNow closes every connection and exits (`stop`).
	StopNow = "now"
	// StopQuiet closes each connection once it has been quiet (nothing read
	// for a moment, nothing buffered), so requests already sent are
	// answered; then exits (`reload`).
	StopQuiet = "quiet"
	// StopDrain waits for the connections to close by themselves (`stop
	// -g`, `reload -g`, max_requests).
	StopDrain = "drain"
)

// Message is one channel message. Only the fields of its Type are set.
type Message struct {
	Type    string `json:"type"`
	ID      uint64 `json:"id,omitempty"`
	Version int    `json:"version,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Error   string `json:"error,omitempty"`

	Setup *Setup `json:"setup,omitempty"`
	Mode  string `json:"mode,omitempty"`
	// HandOver (with TypeStop): move idle connections whose protocol allows
	// it to the replacement instead of closing them (a reload).
	HandOver  bool           `json:"hand_over,omitempty"`
	Worker    string         `json:"worker,omitempty"`
	Handovers []Handover     `json:"handovers,omitempty"`
	TimeoutMS int64          `json:"timeout_ms,omitempty"`
	Status    *ProcessStatus `json:"status,omitempty"`
	// Files (with TypeReopen) names the last len(Files) descriptors
	// attached: the worker's files, reopened by the master. A descriptor
	// before them is the new main log file.
	Files       []string        `json:"files,omitempty"`
	Connections []ConnectionRow `json:"connections,omitempty"`
	// TicketKeys (with TypeTicketKeys): the current key first.
	TicketKeys []TicketKey `json:"ticket_keys,omitempty"`
	// Debug (with TypeDebugStack, TypeDebugProfile): see debug.go.
	Debug *Debug `json:"debug,omitempty"`
	// Upgrade is what a master hands the new master of `workermand
	// upgrade` (internal/master/upgrade.go): a channel between two masters
	// uses these messages too, with types and a payload of their own.
	Upgrade json.RawMessage `json:"upgrade,omitempty"`
}

// Handover describes one connection moving between children; its socket
// travels as a descriptor of the same message.
type Handover struct {
	Pending []byte `json:"pending,omitempty"` // read, not yet framed
	State   []byte `json:"state,omitempty"`   // the codec's (codec.Migrator)
}

// MaxHandoversPerMessage keeps a hand-over message within the descriptors
// one message may carry.
const MaxHandoversPerMessage = maxFDs

// Setup tells a child what to run. Descriptors attached to the message: the
// listening socket first (unless NoListener), then the log file when
// HasLogFile.
type Setup struct {
	Worker     string `json:"worker"`
	ID         int    `json:"id"`
	Generation int    `json:"generation"`
	ConfigPath string `json:"config_path"`
	Config     []byte `json:"config"`
	HasLogFile bool   `json:"has_log_file"`
	// Files names the files the master opened for the worker (its access
	// log), attached after the listener and the log file, in this order.
	Files     []string `json:"files,omitempty"`
	LogLevel  string   `json:"log_level"`
	LogFormat string   `json:"log_format"`
	// NoListener: the worker listens on nothing (defined in code without
	// an address), so no listening socket comes first.
	NoListener bool `json:"no_listener,omitempty"`
	// TicketKeys are the TLS session-ticket keys every TLS server of the
	// daemon shares, the current one first (see TicketKey). None from a
	// master that predates them: the child keeps crypto/tls's own.
	TicketKeys []TicketKey `json:"ticket_keys,omitempty"`
}

// ProcessStatus is a child's line in `status`.
type ProcessStatus struct {
	PID         int    `json:"pid"`
	Worker      string `json:"worker"`
	ID          int    `json:"id"`
	Generation  int    `json:"generation"`
	MemoryBytes uint64 `json:"memory_bytes"`
	counters.Counters
	// Busy: the loop did not answer in time, and the counters are the last
	// ones it gave, BusyMS milliseconds or more ago (MemoryBytes is fresh).
	Busy   bool  `json:"busy,omitempty"`
	BusyMS int64 `json:"busy_ms,omitempty"`
}

// ConnectionRow is one connection in `connections`.
type ConnectionRow struct {
	PID          int    `json:"pid"`
	Worker       string `json:"worker"`
	WorkerID     int    `json:"worker_id"`
	ID           uint64 `json:"id"`
	Transport    string `json:"transport"`
	Protocol     string `json:"protocol"`
	Local        string `json:"local"`
	Remote       string `json:"remote"`
	RecvQ        int    `json:"recv_q"`
	SendQ        int    `json:"send_q"`
	BytesRead    uint64 `json:"bytes_read"`
	BytesWritten uint64 `json:"bytes_written"`
	Status       string `json:"status"`
}
