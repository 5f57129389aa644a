//go:build linux && !race

package netloop

import (
	"bytes"
	"io"
	"testing"

	"github.com/workermand/workermand/internal/protocol/wsproto"
)

// fanoutRoom is n open websocket connections of a loop that is not running,
// and the peers' ends; with drain, the peers are read and discarded by
// goroutines.
func fanoutRoom(tb testing.TB, n int, drain bool) (*Loop, []*Conn, []*wsPeer) {
	l, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	conns := make([]*Conn, n)
	peers := make([]*wsPeer, n)
	for i := range conns {
		p := openWS(tb, l, wsproto.Default, plainOffer, nil)
		conns[i], peers[i] = p.c, p
		if drain {
			go func() { _, _ = io.Copy(io.Discard, p.r) }()
		}
	}
	return l, conns, peers
}

// Sending a broadcast's shared frame to a connection allocates nothing:
// the frame is written from where it is, and the Fanout finds it without
// building anything. (Race builds allocate in the runtime's own checks.)
func TestFanoutSendNoAllocs(t *testing.T) {
	_, conns, _ := fanoutRoom(t, 50, true)
	f := NewFanout(bytes.Repeat([]byte("m"), 64))
	if r, _ := f.Send(conns[0]); r != Sent {
		t.Fatalf("first send: %v", r)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range conns[1:] {
			if r, _ := f.Send(c); r != Sent {
				t.Fatalf("send: %v", r)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per %d connections, want 0", allocs, len(conns)-1)
	}
}

// BenchmarkFanout is the cost per connection of sending one 64-byte
// websocket message to many: "shared" through a Fanout (framed once, one
// write per connection), "send" with each connection's Send (framed per
// connection), as a loop over the connections does. Both include the
// write(2) to a socketpair, which is most of it; the peers are read only
// every 32 messages each, with the timer stopped, so no reader's wake-up
// is in the figure.
func BenchmarkFanout(b *testing.B) {
	msg := bytes.Repeat([]byte("m"), 64)
	const frame, unread = 2 + 64, 32
	for _, name := range []string{"shared", "send"} {
		b.Run(name, func(b *testing.B) {
			_, conns, peers := fanoutRoom(b, 2000, false)
			buf := make([]byte, frame*unread)
			b.ReportAllocs()
			b.ResetTimer()
			f := NewFanout(msg)
			i, rounds := 0, 0
			for range b.N {
				var r SendResult
				if name == "shared" {
					r, _ = f.Send(conns[i])
				} else {
					r = conns[i].Send(msg)
				}
				if r != Sent {
					b.Fatalf("send: %v", r)
				}
				if i++; i < len(conns) {
					continue
				}
				i, f = 0, NewFanout(msg)
				if rounds++; rounds == unread {
					b.StopTimer()
					for _, p := range peers {
						if _, err := io.ReadFull(p.r, buf); err != nil {
							b.Fatal(err)
						}
					}
					rounds = 0
					b.StartTimer()
				}
			}
		})
	}
}
