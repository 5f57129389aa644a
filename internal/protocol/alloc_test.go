//go:build !race

package protocol_test

import (
	"bytes"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

// A packet costs no allocation once the loop's buffers are warm: Input and
// Decode work in place and Encode appends into a reused buffer.
func TestSteadyStateZeroAllocs(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4)
	for name, p := range map[string]codec.Protocol{
		"text":  protocol.Text,
		"frame": protocol.Frame,
		"tcp":   protocol.Raw,
	} {
		t.Run(name, func(t *testing.T) {
			c := p.NewCodec(nil)
			pkt, err := c.Encode(nil, payload)
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, 0, 2*len(pkt))
			allocs := testing.AllocsPerRun(1000, func() {
				n, err := c.Input(pkt)
				if err != nil || n != len(pkt) {
					t.Fatalf("Input = %d, %v; want %d", n, err, len(pkt))
				}
				msg, err := c.Decode(pkt[:n])
				if err != nil || !bytes.Equal(msg.Data, payload) {
					t.Fatalf("Decode = %q, %v", msg.Data, err)
				}
				if dst, err = c.Encode(dst[:0], msg.Data); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Input+Decode+Encode: %v allocations per packet, want 0", allocs)
			}
			if !bytes.Equal(dst, pkt) {
				t.Errorf("Encode into the reused buffer = %q, want %q", dst, pkt)
			}
		})
	}
}

// text and frame keep no per-connection state, so accepting a connection
// costs them nothing. (tcp keeps its connection, to read its package limit.)
func TestNewCodecZeroAllocs(t *testing.T) {
	for name, p := range map[string]codec.Protocol{
		"text":  protocol.Text,
		"frame": protocol.Frame,
	} {
		if allocs := testing.AllocsPerRun(100, func() { _ = p.NewCodec(nil) }); allocs != 0 {
			t.Errorf("%s: NewCodec makes %v allocations, want 0", name, allocs)
		}
	}
}
