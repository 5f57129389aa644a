package workerman_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// heapInuse is the live heap after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

const maxHeapGrowth = 8 << 20 // what "bounded" means below

// TestSlowReaderBoundsTheSendBuffer: a client that stops reading while the
// server keeps sending must cost at most MaxSendBufferSize (plus one
// message): further sends are dropped and reported, and the process heap
// does not grow with what was attempted.
func TestSlowReaderBoundsTheSendBuffer(t *testing.T) {
	const (
		limit    = 256 << 10
		msgSize  = 16 << 10
		perTick  = 32
		attempts = 4096 // 64 MiB
	)
	type tally struct {
		results        map[workerman.SendResult]int
		maxQueue       int
		full, drain    int
		errs           int
		badErrs        []string
		sentAfterDrop  int
		accepted       []uint64 // sequence numbers of the sends not dropped
		sendFail       uint64
		firstDropQueue int
	}
	var (
		tl   = tally{results: map[workerman.SendResult]int{}}
		done = make(chan tally, 1)
		msg  = make([]byte, msgSize)
	)
	w := workerman.NewWorker("tcp://127.0.0.1:0")
	w.Name = "firehose"
	w.MaxSendBufferSize = limit
	w.OnBufferFull = func(*workerman.Connection) { tl.full++ }
	w.OnBufferDrain = func(*workerman.Connection) { tl.drain++ }
	w.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) {
		tl.errs++
		if code != workerman.SendFail || !errors.Is(err, workerman.ErrSendBufferFull) {
			tl.badErrs = append(tl.badErrs, fmt.Sprintf("%v: %v", code, err))
		}
	}
	w.OnConnect = func(c *workerman.Connection) {
		seq := uint64(0)
		var id workerman.TimerID
		id = c.Worker().Timer().Add(time.Millisecond, func() {
			for range perTick {
				binary.BigEndian.PutUint64(msg, seq)
				r := c.Send(msg)
				tl.results[r]++
				if r == workerman.Dropped {
					if tl.results[workerman.Dropped] == 1 {
						tl.firstDropQueue = c.SendQueueSize()
					}
				} else {
					tl.accepted = append(tl.accepted, seq)
					if tl.results[workerman.Dropped] > 0 {
						tl.sentAfterDrop++
					}
				}
				tl.maxQueue = max(tl.maxQueue, c.SendQueueSize())
				seq++
			}
			if seq >= attempts {
				c.Worker().Timer().Del(id)
				tl.sendFail = c.Loop().Stats().SendFail
				done <- tl
			}
		})
	}
	p := workermantest.Start(t, w)
	before := heapInuse()
	c := dialWorker(t, w) // never reads until the flood is over

	var got tally
	select {
	case got = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not finish its sends")
	}
	growth := int64(heapInuse()) - int64(before)
	t.Logf("sent %d, queued %d, dropped %d; max queue %d; heap growth %d KiB",
		got.results[workerman.Sent], got.results[workerman.Queued], got.results[workerman.Dropped], got.maxQueue, growth>>10)

	if got.maxQueue > limit+msgSize {
		t.Errorf("SendQueueSize reached %d, want at most the limit %d plus one message", got.maxQueue, limit)
	}
	if got.firstDropQueue < limit {
		t.Errorf("the first send was dropped with %d bytes queued, below the limit %d", got.firstDropQueue, limit)
	}
	if got.full == 0 {
		t.Error("OnBufferFull never ran")
	}
	dropped := got.results[workerman.Dropped]
	if dropped < attempts/2 {
		t.Errorf("only %d of %d sends dropped to a client that reads nothing", dropped, attempts)
	}
	if got.errs != dropped || got.sendFail != uint64(dropped) {
		t.Errorf("%d sends dropped, OnError ran %d times, Stats().SendFail = %d: want all equal", dropped, got.errs, got.sendFail)
	}
	for _, e := range got.badErrs {
		t.Errorf("OnError(%s), want (SEND_FAIL, ErrSendBufferFull)", e)
	}
	if got.sentAfterDrop != 0 {
		t.Errorf("%d sends were accepted after the first drop although the client read nothing", got.sentAfterDrop)
	}
	if got.results[workerman.Posted] != 0 {
		t.Errorf("%d sends on the loop reported Posted", got.results[workerman.Posted])
	}
	if growth > maxHeapGrowth {
		t.Errorf("the heap grew by %d KiB while %d MiB were sent to a client that reads nothing", growth>>10, attempts*msgSize>>20)
	}

	// Now the client reads: every accepted message arrives, in order, and
	// the drained buffer is reported.
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, msgSize)
	for i, seq := range got.accepted {
		if _, err := io.ReadFull(c.Conn, buf); err != nil {
			t.Fatalf("reading message %d of %d: %v", i, len(got.accepted), err)
		}
		if s := binary.BigEndian.Uint64(buf); s != seq {
			t.Fatalf("message %d: sequence %d, want %d", i, s, seq)
		}
	}
	waitOnLoop(t, p, "OnBufferDrain", func() bool { return tl.drain > 0 })
}

// streamWord is the 8-byte word at index i of the proxied stream: any lost,
// repeated or reordered piece changes what the client sees.
func streamWord(i uint64) uint64 {
	z := i + 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// fillStream fills b with the stream from byte offset off (a multiple of 8).
func fillStream(b []byte, off int) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], streamWord(uint64(off+i)/8))
	}
}

// TestPipeProxyUnderSlowConsumer: worker A proxies each client to backend
// worker B with a pair of Pipes. B streams 64 MiB as fast as its own send
// buffer lets it; the client does not read at first. The proxy must pause
// reading from B instead of buffering: its queue toward the client stays
// within the limit plus one read, B is held back, and the heap stays flat.
// Then the client reads everything, intact and in order.
func TestPipeProxyUnderSlowConsumer(t *testing.T) {
	const (
		total = 64 << 20
		chunk = 64 << 10
		limit = 256 << 10
	)

	// Backend B, on its own loop: on the first bytes from its peer, stream
	// total bytes, keeping its own send buffer full, then close.
	type stream struct{ sent int }
	pump := func(c *workerman.Connection, s *stream, buf []byte) {
		for s.sent < total && c.SendQueueSize() < c.MaxSendBufferSize() {
			fillStream(buf, s.sent)
			if r := c.Send(buf); r == workerman.Dropped {
				panic("backend send dropped")
			}
			s.sent += len(buf)
		}
		if s.sent == total {
			c.Close()
		}
	}
	backendBuf := make([]byte, chunk)
	b := workerman.NewWorker("tcp://127.0.0.1:0")
	b.Name = "backend"
	b.OnMessage = func(c *workerman.Connection, _ workerman.Message) {
		if c.Context == nil {
			s := &stream{}
			c.Context = s
			pump(c, s, backendBuf)
		}
	}
	b.OnBufferDrain = func(c *workerman.Connection) {
		if s, ok := c.Context.(*stream); ok {
			pump(c, s, backendBuf)
		}
	}
	var backendConn *workerman.Connection
	b.OnConnect = func(c *workerman.Connection) { backendConn = c }
	pb := workermantest.Start(t, b)

	// Proxy A.
	type proxyState struct {
		client   *workerman.Connection
		maxQueue int
		maxChunk int
		errs     []string
	}
	var ps proxyState
	a := workerman.NewWorker("tcp://127.0.0.1:0")
	a.Name = "proxy"
	a.MaxSendBufferSize = limit
	a.OnConnect = func(c *workerman.Connection) {
		ps.client = c
		backend, err := workerman.NewAsyncTcpConnection(c.Loop(), "tcp://"+b.Addr().String())
		if err != nil {
			ps.errs = append(ps.errs, err.Error())
			c.Close()
			return
		}
		c.Pipe(&backend.Connection)
		backend.Pipe(c)
		inner := backend.OnMessage
		backend.OnMessage = func(bc *workerman.Connection, m workerman.Message) {
			inner(bc, m)
			ps.maxChunk = max(ps.maxChunk, len(m.Data))
			ps.maxQueue = max(ps.maxQueue, c.SendQueueSize())
		}
		backend.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) {
			ps.errs = append(ps.errs, fmt.Sprintf("backend %v: %v", code, err))
		}
		backend.Connect()
	}
	pa := workermantest.Start(t, a)

	before := heapInuse()
	c := dialWorker(t, a)
	c.write("go")

	// Wait until the whole chain is full: the proxy's queue toward the
	// client at its limit, and B unable to send more.
	waitOnLoop(t, pa, "the proxy's queue toward the client to fill", func() bool {
		return ps.client != nil && ps.client.SendQueueSize() >= limit
	})
	waitOnLoop(t, pb, "the backend to be held back (or to finish)", func() bool {
		if backendConn == nil {
			return false
		}
		s, _ := backendConn.Context.(*stream)
		return backendConn.SendQueueSize() >= backendConn.MaxSendBufferSize() || s != nil && s.sent == total
	})
	growth := int64(heapInuse()) - int64(before)
	sent := workermantest.OnLoopValue(t, pb.Loop(), func() int { return backendConn.Context.(*stream).sent })
	st := workermantest.OnLoopValue(t, pa.Loop(), func() proxyState { return ps })
	t.Logf("stalled: backend sent %d KiB of %d; proxy queue max %d KiB, chunk max %d KiB; heap growth %d KiB",
		sent>>10, total>>10, st.maxQueue>>10, st.maxChunk>>10, growth>>10)
	if sent >= total {
		t.Fatalf("the backend sent the whole stream to a client that reads nothing: no back-pressure")
	}
	if st.maxQueue > limit+st.maxChunk || st.maxChunk > chunk {
		t.Errorf("the proxy queued up to %d bytes toward the client (limit %d, largest read %d)", st.maxQueue, limit, st.maxChunk)
	}
	if growth > maxHeapGrowth {
		t.Errorf("the heap grew by %d KiB with the proxy stalled", growth>>10)
	}

	// The client reads it all: every byte, in order, then EOF.
	c.SetReadDeadline(time.Now().Add(120 * time.Second))
	buf, want := make([]byte, chunk), make([]byte, chunk)
	for off := 0; off < total; off += chunk {
		if _, err := io.ReadFull(c.r, buf); err != nil {
			t.Fatalf("reading at offset %d of %d: %v", off, total, err)
		}
		fillStream(want, off)
		if !bytes.Equal(buf, want) {
			t.Fatalf("the stream differs in the 64 KiB at offset %d", off)
		}
	}
	c.expectEOF()
	st = workermantest.OnLoopValue(t, pa.Loop(), func() proxyState { return ps })
	for _, e := range st.errs {
		t.Error(e)
	}
	if st.maxQueue > limit+st.maxChunk {
		t.Errorf("the proxy queued up to %d bytes toward the client (limit %d, largest read %d)", st.maxQueue, limit, st.maxChunk)
	}
	for _, p := range []*workerman.Process{pa, pb} {
		if sf := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().SendFail }); sf != 0 {
			t.Errorf("Stats().SendFail = %d, want 0: a send was dropped", sf)
		}
	}
}
