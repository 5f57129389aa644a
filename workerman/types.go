package workerman

import (
	"errors"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/netloop"
)

// Message is one decoded packet; see codec.Message. Data is valid only until
// the OnMessage callback returns.
type Message = codec.Message

// Status is where a connection is in its life cycle.
type Status uint8

// Connection statuses, in order, as Workerman's STATUS_* constants.
const (
	// StatusInitial: an AsyncTcpConnection or AsyncUdpConnection not
	// connected yet.
	StatusInitial Status = iota
	// StatusConnecting: an async connection's connect (for UDP, its name
	// lookup) is in progress.
	StatusConnecting
	// StatusEstablished: open; sends are written.
	StatusEstablished
	// StatusClosing: Close was called; queued output is still being sent.
	StatusClosing
	// StatusClosed: gone; sends are dropped.
	StatusClosed
)

func (s Status) String() string { return netloop.Status(s).String() }

// SendResult tells what became of a Send: Sent, Queued or Dropped on the
// loop (Workerman's true, null and false), Posted off the loop.
type SendResult uint8

// Send results.
const (
	// Sent: handed to the kernel (or written before the loop next waits),
	// with no backlog.
	Sent SendResult = iota + 1
	// Queued: buffered behind a backlog or until the connection is up.
	Queued
	// Dropped: the connection is closing or its send buffer is full; a
	// full buffer is also reported to OnError as SendFail.
	Dropped
	// Posted: called off the loop; the loop sends it at its next turn.
	Posted
)

func (r SendResult) String() string { return netloop.SendResult(r).String() }

// ErrorCode classifies OnError reports, with Workerman's values.
type ErrorCode int

// OnError codes.
const (
	// ConnectFail: an AsyncTcpConnection or AsyncUdpConnection could not
	// connect.
	ConnectFail ErrorCode = 1
	// SendFail: a send was dropped or a write failed.
	SendFail ErrorCode = 2
)

func (c ErrorCode) String() string { return netloop.ErrorCode(c).String() }

// Errors passed to OnError; compare with errors.Is.
var (
	// ErrSendBufferFull: a send was dropped because the send buffer had
	// reached MaxSendBufferSize.
	ErrSendBufferFull = errors.New("send buffer full and drop package")
	// ErrPeerClosed: a write failed because the peer is gone.
	ErrPeerClosed = errors.New("client closed")
	// ErrConnectTimeout: an outbound connect did not finish in time.
	ErrConnectTimeout = errors.New("connect timed out")
)

// publicError gives an error from the loop the identity a user compares
// with: the loop has its own values for these, and the public ones are
// not the loop's so that this package's documentation stands on its own.
func publicError(err error) error {
	switch {
	case err == netloop.ErrSendBufferFull:
		return ErrSendBufferFull
	case err == netloop.ErrPeerClosed:
		return ErrPeerClosed
	case errors.Is(err, netloop.ErrConnectTimeout):
		return connectTimeout{err}
	}
	return err
}

// connectTimeout keeps the loop's message ("connect ADDR: connect timed out
// after 5s") and is ErrConnectTimeout to errors.Is.
type connectTimeout struct{ error }

func (e connectTimeout) Is(target error) bool { return target == ErrConnectTimeout }
func (e connectTimeout) Unwrap() error        { return e.error }

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
	// AcceptPaused is how many listeners are not accepting now for lack
	// of descriptors (or memory): the process is at its open-files limit,
	// new clients wait in the listen backlog, and accepting resumes as
	// connections close. OpenFiles is the descriptors open now and
	// FDLimit the open-files limit (RLIMIT_NOFILE, soft), both read at
	// each call.
	AcceptPaused int
	OpenFiles    int
	FDLimit      int
	// Datagrams counts datagrams received by UDP workers and
	// AsyncUdpConnections; DatagramsDropped those dropped whole or in
	// part (over MaxPackageSize, or not framed to the end).
	Datagrams        uint64
	DatagramsDropped uint64
	// TLSHandshakes counts TLS handshakes completed; TLSHandshakeErrors
	// those that failed and TLSHandshakeTimeouts those closed for not
	// finishing within the worker's handshake timeout (counted, not
	// logged one line each); TLSPlaintextRejected counts connections to a
	// TLS port that did not speak TLS (plain HTTP gets a 400);
	// TLSHandshakesInFlight is how many handshakes run now.
	TLSHandshakes         uint64
	TLSHandshakeErrors    uint64
	TLSHandshakeTimeouts  uint64
	TLSPlaintextRejected  uint64
	TLSHandshakesInFlight int
}

// DefaultMaxSendBufferSize and DefaultMaxPackageSize are Workerman's limits:
// 1 MiB of unsent output and 10 MiB per packet.
const (
	DefaultMaxSendBufferSize = 1 << 20
	DefaultMaxPackageSize    = codec.DefaultMaxPackageSize
)

// DefaultSendTimeout is the SendTimeout of NewWorker and of the send_timeout
// key: nginx's send_timeout.
const DefaultSendTimeout = 60 * time.Second
