package workerman

import (
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/netloop"
)

// Message is one decoded packet; see codec.Message. Data is valid only until
// the OnMessage callback returns.
type Message = codec.Message

// Status is where a connection is in its life cycle.
type Status uint8

// Connection statuses, in order.
const (
	StatusInitial     = Status(netloop.StatusInitial)
	StatusConnecting  = Status(netloop.StatusConnecting)
	StatusEstablished = Status(netloop.StatusEstablished)
	StatusClosing     = Status(netloop.StatusClosing)
	StatusClosed      = Status(netloop.StatusClosed)
)

func (s Status) String() string { return netloop.Status(s).String() }

// SendResult tells what became of a Send: Sent, Queued or Dropped on the
// loop (Workerman's true, null and false), Posted off the loop.
type SendResult uint8

// Send results; see netloop for the exact meaning of each.
const (
	// Sent: handed to the kernel (or written before the loop next waits),
	// with no backlog.
	Sent = SendResult(netloop.Sent)
	// Queued: buffered behind a backlog or until the connection is up.
	Queued = SendResult(netloop.Queued)
	// Dropped: the connection is closing or its send buffer is full.
	Dropped = SendResult(netloop.Dropped)
	// Posted: called off the loop; the loop sends it at its next turn.
	Posted = SendResult(netloop.Posted)
)

func (r SendResult) String() string { return netloop.SendResult(r).String() }

// ErrorCode classifies OnError reports, with Workerman's values.
type ErrorCode int

// OnError codes.
const (
	ConnectFail = ErrorCode(netloop.ConnectFail)
	SendFail    = ErrorCode(netloop.SendFail)
)

func (c ErrorCode) String() string { return netloop.ErrorCode(c).String() }

// Errors passed to OnError.
var (
	// ErrSendBufferFull: a send was dropped because the send buffer had
	// reached MaxSendBufferSize.
	ErrSendBufferFull = netloop.ErrSendBufferFull
	// ErrPeerClosed: a write failed because the peer is gone.
	ErrPeerClosed = netloop.ErrPeerClosed
	// ErrConnectTimeout: an outbound connect did not finish in time.
	ErrConnectTimeout = netloop.ErrConnectTimeout
)

// Stats are the per-process counters shown by the status command.
type Stats struct {
	// Connections open now (Workerman's connection_count, but decremented
	// when a connection closes rather than when it is freed).
	Connections int
	// Accepted counts connections accepted since start.
	Accepted uint64
	// TotalRequest counts messages delivered to OnMessage.
	TotalRequest uint64
	// SendFail counts sends dropped for a full buffer or failed writes.
	SendFail uint64
	// Exceptions counts panics recovered from callbacks.
	Exceptions uint64
	// ProtocolErrors counts connections closed for malformed input.
	ProtocolErrors uint64
	// Timers is the number of pending timers.
	Timers int
	// AcceptPauses counts pauses of accepting for lack of descriptors.
	AcceptPauses uint64
	// Rejected counts connections closed at accept because the worker was
	// at MaxConnections.
	Rejected uint64
	// SendTimeouts counts connections closed because their queued output
	// made no progress for SendTimeout.
	SendTimeouts uint64
}

// DefaultMaxSendBufferSize and DefaultMaxPackageSize are Workerman's limits:
// 1 MiB of unsent output and 10 MiB per packet.
const (
	DefaultMaxSendBufferSize = netloop.DefaultMaxSendBuffer
	DefaultMaxPackageSize    = codec.DefaultMaxPackageSize
)

// DefaultSendTimeout is the SendTimeout of NewWorker and of the send_timeout
// key: nginx's send_timeout.
const DefaultSendTimeout = 60 * time.Second
