package netloop

import (
	"errors"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/counters"
)

// Status is a connection's place in its life cycle.
type Status uint8

// Connection statuses. Accepted connections start Established; outbound ones
// start Initial and pass through Connecting.
const (
	StatusInitial Status = iota
	StatusConnecting
	StatusEstablished
	StatusClosing
	StatusClosed
)

var statusNames = [...]string{"INITIAL", "CONNECTING", "ESTABLISHED", "CLOSING", "CLOSED"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "UNKNOWN"
}

// SendResult tells what became of a Send, like Workerman's true/null/false.
type SendResult uint8

const (
	// Sent: handed to the kernel, or corked and written before the loop next
	// waits for events, with no backlog on the socket.
	Sent SendResult = iota + 1
	// Queued: buffered because the socket is backlogged (or not connected
	// yet); it is written when the socket has room.
	Queued
	// Dropped: not sent, because the connection is closing or closed or its
	// send buffer is full (the latter counts as send_fail).
	Dropped
	// Posted: called off the loop; the send was handed to the loop, which
	// decides its fate later.
	Posted
)

var sendResultNames = [...]string{"", "sent", "queued", "dropped", "posted"}

func (r SendResult) String() string {
	if int(r) < len(sendResultNames) {
		return sendResultNames[r]
	}
	return "unknown"
}

// ErrorCode classifies errors reported through Handler.OnError; the values
// are Workerman's.
type ErrorCode int

const (
	// ConnectFail: an outbound connection could not be established.
	ConnectFail ErrorCode = 1
	// SendFail: data could not be sent.
	SendFail ErrorCode = 2
)

func (c ErrorCode) String() string {
	switch c {
	case ConnectFail:
		return "CONNECT_FAIL"
	case SendFail:
		return "SEND_FAIL"
	}
	return "UNKNOWN"
}

// Errors reported through Handler.OnError with SendFail.
var (
	ErrSendBufferFull = errors.New("send buffer full and drop package")
	ErrPeerClosed     = errors.New("client closed")
	ErrConnectTimeout = errors.New("connect timed out")
	ErrLoopClosed     = errors.New("netloop: loop is not running")
)

// Handler receives a connection's events, always on the loop goroutine. A
// panic in any method is recovered by the loop: it is logged and counted, and
// the connection it concerns is destroyed.
type Handler interface {
	// OnOpen runs once the connection is established: right after accept,
	// or when an outbound connect succeeds.
	OnOpen(c *Conn)
	// OnMessage runs once per decoded message. m.Data is valid only until it
	// returns.
	OnMessage(c *Conn, m codec.Message)
	// OnClose runs exactly once per established or attempted connection,
	// after its socket is closed.
	OnClose(c *Conn)
	// OnBufferFull runs when a send leaves the send buffer at or above its
	// limit; OnBufferDrain when a backlog has been fully written.
	OnBufferFull(c *Conn)
	OnBufferDrain(c *Conn)
	// OnError reports ConnectFail and SendFail.
	OnError(c *Conn, code ErrorCode, err error)
}

// Stats are one loop's counters, the per-process figures of the status
// command. Read them on the loop (Loop.Stats).
type Stats = counters.Counters
