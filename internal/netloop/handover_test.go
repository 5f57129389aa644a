package netloop

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"github.com/workermand/workermand/codec"
)

// seqCodec is a line protocol that numbers its replies: "n:<line>". Its
// counter is per-connection state that must survive a hand-over.
type seqCodec struct{ n int }

func (s *seqCodec) Input(buf []byte) (int, error) { return bytes.IndexByte(buf, '\n') + 1, nil }
func (s *seqCodec) Decode(p []byte) (codec.Message, error) {
	return codec.Message{Data: p[:len(p)-1], Kind: codec.KindData}, nil
}
func (s *seqCodec) Encode(dst, p []byte) ([]byte, error) {
	s.n++
	dst = strconv.AppendInt(dst, int64(s.n), 10)
	dst = append(dst, ':')
	dst = append(dst, p...)
	return append(dst, '\n'), nil
}
func (s *seqCodec) Migrate() ([]byte, bool) { return []byte(strconv.Itoa(s.n)), true }
func (s *seqCodec) Resume(state []byte) error {
	n, err := strconv.Atoi(string(state))
	s.n = n
	return err
}

var seqProtocol = codec.ProtocolFunc(func(codec.Conn) codec.Codec { return &seqCodec{} })

// A connection detached from one loop and adopted by another keeps its
// socket, its unread bytes and its codec state; the client sees nothing but
// the replies, and neither OnClose nor a second plain OnOpen happens.
func TestHandoverBetweenLoops(t *testing.T) {
	var detached []Handover
	var closedA, openedB, adoptedB int
	var srcConn *Conn
	hA := &handler{open: func(c *Conn) { srcConn = c }, message: echo, close: func(*Conn) { closedA++ }}
	hB := &handler{open: func(c *Conn) {
		openedB++
		if c.Adopted() {
			adoptedB++
		}
	}, message: echo}

	a := newTestLoop(t, Config{})
	_, addr := a.listen(seqProtocol, hA, ListenerConfig{})
	a.run()
	b := newTestLoop(t, Config{})
	lnB, _ := b.listen(seqProtocol, hB, ListenerConfig{})
	b.run()

	c := dial(t, addr)
	c.write("one\n")
	c.expectLine("1:one")
	// A request split across the move: its first half is read by A.
	c.write("tw")
	waitFor(t, "A to buffer the partial line", func() bool {
		n := 0
		a.do(func() { n = srcConn.RecvQueueSize() })
		return n == 2
	})
	a.do(func() {
		h, err := srcConn.Detach()
		if err != nil {
			t.Errorf("Detach: %v", err)
			return
		}
		detached = append(detached, h)
	})
	if len(detached) != 1 {
		t.Fatal("nothing detached")
	}
	b.do(func() {
		if _, err := lnB.Adopt(detached[0]); err != nil {
			t.Errorf("Adopt: %v", err)
		}
	})
	c.write("o\nthree\n")
	c.expectLine("2:two")
	c.expectLine("3:three")
	a.do(func() {
		if closedA != 0 {
			t.Errorf("OnClose ran %d times on the old loop; a hand-over is not a close", closedA)
		}
		if s := a.loop.Stats(); s.Connections != 0 {
			t.Errorf("old loop still counts %d connections", s.Connections)
		}
	})
	b.do(func() {
		if openedB != 1 || adoptedB != 1 {
			t.Errorf("new loop: OnOpen %d times, %d adopted; want 1 and 1", openedB, adoptedB)
		}
	})
}

// Connections whose codec does not opt in, or with output still queued, stay.
func TestDetachRefusesWhatCannotMove(t *testing.T) {
	var conn *Conn
	tl, _, addr := startLoop(t, Config{}, "text", &handler{open: func(c *Conn) { conn = c }, message: echo}, ListenerConfig{})
	c := dial(t, addr)
	c.roundTrip("x")
	tl.do(func() {
		if _, err := conn.Detach(); !errors.Is(err, ErrNotMovable) {
			t.Errorf("Detach of a text connection: %v, want ErrNotMovable", err)
		}
		if conn.Status() != StatusEstablished {
			t.Errorf("status after a refused Detach: %v", conn.Status())
		}
	})
	c.roundTrip("still served")
}
