package workerman_test

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// expiryAsked counts Expired calls of the "expirytest" protocol.
var expiryAsked atomic.Int64

// expiryLimit is how long an "expirytest" connection may stay silent.
const expiryLimit = 300 * time.Millisecond

func init() {
	codec.Register("expirytest", codec.ProtocolFunc(func(c codec.Conn) codec.Codec { return &expiryCodec{conn: c} }))
}

// expiryCodec frames lines and has a timeout of its own, as the HTTP codec's
// keep-alive timeout: silent for expiryLimit, it answers "408" and asks to
// be closed.
type expiryCodec struct{ conn codec.Conn }

func (e *expiryCodec) Input(buf []byte) (int, error) { return bytes.IndexByte(buf, '\n') + 1, nil }

func (e *expiryCodec) Decode(pkt []byte) (codec.Message, error) {
	return codec.Message{Data: pkt[:len(pkt)-1], Kind: codec.KindText}, nil
}

func (e *expiryCodec) Encode(dst, p []byte) ([]byte, error) {
	return append(append(dst, p...), '\n'), nil
}

func (e *expiryCodec) Expired(_ time.Time, idle time.Duration) bool {
	expiryAsked.Add(1)
	if idle < expiryLimit {
		return false
	}
	e.conn.WriteRaw([]byte("408\n"))
	return true
}

func echoLines(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }

// TestExpirerClosesExpiredConnections: a connection whose codec says it
// expired is closed after what the codec wrote, within about a second of
// its deadline; one that keeps talking stays. The sweep starts with the
// first such connection, shares its walk with IdleTimeout, and is not run
// for a process that needs neither.
func TestExpirerClosesExpiredConnections(t *testing.T) {
	expiryAsked.Store(0)
	exp := worker("expiring", "expirytest://127.0.0.1:0")
	exp.OnMessage = echoLines
	idle := textWorker("idle")
	idle.OnMessage = echoLines
	idle.IdleTimeout = 400 * time.Millisecond
	p := workermantest.Start(t, exp, idle)

	quiet := dialWorker(t, exp)
	start := time.Now()
	quiet.write("hi\n")
	quiet.expectLine("hi")
	talker := dialWorker(t, exp)
	idler := dialWorker(t, idle)
	idler.write("x\n")
	idler.expectLine("x")

	// The talker speaks every 100 ms for longer than the quiet one lives.
	for time.Since(start) < 3*expiryLimit+time.Second {
		talker.write("ping\n")
		talker.expectLine("ping")
		time.Sleep(100 * time.Millisecond)
	}
	quiet.expectLine("408")
	quiet.expectEOF()
	idler.expectEOF()
	if d := time.Since(start); d > expiryLimit+2*time.Second+waitTimeout/2 {
		t.Errorf("expired after %v", d)
	}
	talker.write("still there\n")
	talker.expectLine("still there")
	// Asked about once a second, for two connections, for ~2 s: far fewer
	// questions than the idle sweep's 100 ms ticks would make.
	if n := expiryAsked.Load(); n < 2 || n > 12 {
		t.Errorf("Expired was called %d times in %v", n, time.Since(start))
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), func() int { return p.Loop().Stats().Timers }); n != 1 {
		t.Errorf("%d timers pending, want the one sweep", n)
	}
}

// TestNoSweepWithoutExpirer: a process whose protocols have no timeouts of
// their own and no IdleTimeout runs no timer.
func TestNoSweepWithoutExpirer(t *testing.T) {
	w := textWorker("plain")
	w.OnMessage = echoLines
	p := workermantest.Start(t, w)
	c := dialWorker(t, w)
	c.write("a\n")
	c.expectLine("a")
	if n := workermantest.OnLoopValue(t, p.Loop(), func() int { return p.Loop().Stats().Timers }); n != 0 {
		t.Errorf("%d timers pending, want none", n)
	}
}
