// Package wsload is the websocket load generator: N connections, each
// sending one message and waiting for its echo, or holding idle
// connections for a memory test. Every echo is checked byte for byte and
// by message type.
//
// The client is written by hand on net.Conn so that the generator stays
// cheaper than the servers it measures: each message is framed and masked
// into a reused buffer (a fresh random mask key per frame, as RFC 6455
// asks of clients), and each echo is read through a reused buffer.
//
// It speaks the same event protocol as package loadgen (START, END,
// CONNECTED n, then RESULT <json>) and returns a loadgen.Result.
package wsload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
)

// Modes.
const (
	ReqResp = loadgen.ReqResp
	Idle    = loadgen.Idle
)

// Config describes one run: the generator's common settings (Size is the
// payload's bytes per message; Batch is not used) and the message type.
type Config struct {
	loadgen.Config
	Text bool        // text frames (else binary)
	TLS  *tls.Config // wss:// when set
	// SkipGreeting reads and ignores one message after each handshake: a
	// server that greets its clients (the exec handler's example
	// programs) before echoing.
	SkipGreeting bool
}

// conn is one websocket client connection with its reused buffers.
type conn struct {
	c   net.Conn
	raw *net.TCPConn // under c, which may be TLS
	r   *bufio.Reader
	out []byte // the frame being sent
	in  []byte // the payload last read
	rng *rand.PCG
}

func newConn(c net.Conn, raw *net.TCPConn, seed uint64) *conn {
	return &conn{c: c, raw: raw, r: bufio.NewReaderSize(c, 512), rng: rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
}

func (w *conn) SetDeadline(t time.Time) error { return w.c.SetDeadline(t) }

// makePayload returns size bytes tagged with the connection id, so crossed
// streams show up as mismatches. Binary payloads carry bytes that are not
// valid UTF-8, which a server mistaking them for text would reject.
func makePayload(size, id int, text bool) []byte {
	p := make([]byte, size)
	for j := range p {
		if text {
			p[j] = 'a' + byte(j%26)
		} else {
			p[j] = byte(0x80 + j%128)
		}
	}
	tag := fmt.Appendf(nil, " c%d ", id)
	if size > 16 {
		copy(p[16:], tag)
	}
	return p
}

// stamp writes seq as hex into the first 16 bytes (or fewer) of p.
func stamp(p []byte, seq uint64) {
	for i := min(16, len(p)) - 1; i >= 0; i-- {
		p[i] = "0123456789abcdef"[seq&15]
		seq >>= 4
	}
}

// roundTrip sends payload as one frame and reads its echo; it reports a
// mismatch when the echo differs in type or bytes.
func (w *conn) roundTrip(op byte, payload []byte) (mismatch bool, err error) {
	k := w.rng.Uint64()
	key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	w.out = appendFrame(w.out[:0], op, payload, key)
	if _, err := w.c.Write(w.out); err != nil {
		return false, fmt.Errorf("write: %w", err)
	}
	gotOp, fin, got, err := readFrame(w.r, w.in)
	if err != nil {
		return false, fmt.Errorf("read: %w", err)
	}
	w.in = got
	return gotOp != op || !fin || !bytes.Equal(got, payload), nil
}

// Run executes cfg.
func Run(ctx context.Context, cfg Config) (loadgen.Result, error) {
	if cfg.Size < 1 {
		return loadgen.Result{Mode: cfg.Mode}, fmt.Errorf("size %d: need at least 1 byte", cfg.Size)
	}
	if cfg.Mode != ReqResp && cfg.Mode != Idle {
		return loadgen.Result{Mode: cfg.Mode}, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	op := byte(OpBinary)
	if cfg.Text {
		op = OpText
	}
	return loadgen.Drive(ctx, cfg.Config, loadgen.Protocol[*conn]{
		Open: func(_ context.Context, id int) (*conn, loadgen.Opened) {
			c, raw, err := dial(cfg.Addr, cfg.TLS, cfg.DialTimeout)
			switch {
			case err != nil && c == nil:
				return nil, loadgen.DialFailed
			case err != nil:
				return nil, loadgen.ExchangeFailed // dial closed it
			}
			w := newConn(c, raw, uint64(id)+uint64(time.Now().UnixNano()))
			if cfg.SkipGreeting {
				_ = c.SetDeadline(time.Now().Add(cfg.DialTimeout))
				_, _, _, err := readFrame(w.r, nil)
				_ = c.SetDeadline(time.Time{})
				if err != nil {
					c.Close()
					return nil, loadgen.ExchangeFailed
				}
			}
			if cfg.Mode != Idle {
				return w, loadgen.OpenOK
			}
			_ = c.SetDeadline(time.Now().Add(cfg.DialTimeout))
			mismatch, err := w.roundTrip(op, makePayload(cfg.Size, id, cfg.Text))
			_ = c.SetDeadline(time.Time{})
			// An idle connection keeps no buffers in the generator.
			w.out, w.in = nil, nil
			switch {
			case err != nil:
				c.Close()
				return nil, loadgen.ExchangeFailed
			case mismatch:
				c.Close()
				return nil, loadgen.Mismatched
			}
			return w, loadgen.OpenOK
		},
		Start: func(id int, w *conn) (loadgen.Exchange, int) {
			payload := makePayload(cfg.Size, id, cfg.Text)
			return func(seq uint64) (bool, error) {
				stamp(payload, seq+1)
				return w.roundTrip(op, payload)
			}, 1
		},
		Close: closeAll,
	})
}

// closeAll closes every connection. Idle runs reset them (SO_LINGER 0) so
// thousands of sockets per round do not pile up in TIME_WAIT; the others
// send a close frame first, as a polite client does.
func closeAll(conns []*conn, reset bool) {
	for _, w := range conns {
		if reset {
			_ = w.raw.SetLinger(0)
		} else {
			_ = w.c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = w.c.Write(appendFrame(nil, OpClose, []byte{0x03, 0xe8}, [4]byte{1, 2, 3, 4}))
		}
		_ = w.c.Close()
	}
}
