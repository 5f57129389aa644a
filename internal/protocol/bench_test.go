package protocol_test

import (
	"bytes"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

func benchInputDecode(b *testing.B, p codec.Protocol) {
	c := p.NewCodec(nil)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4) // 64 bytes
	pkt, err := c.Encode(nil, payload)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		n, err := c.Input(pkt)
		if err != nil || n != len(pkt) {
			b.Fatalf("Input = %d, %v", n, err)
		}
		msg, err := c.Decode(pkt[:n])
		if err != nil || len(msg.Data) != len(payload) {
			b.Fatalf("Decode = %d bytes, %v", len(msg.Data), err)
		}
	}
}

func BenchmarkTextInputDecode(b *testing.B)  { benchInputDecode(b, protocol.Text) }
func BenchmarkFrameInputDecode(b *testing.B) { benchInputDecode(b, protocol.Frame) }

func benchEncode(b *testing.B, p codec.Protocol) {
	c := p.NewCodec(nil)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var err error
		if dst, err = c.Encode(dst[:0], payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTextEncode(b *testing.B)  { benchEncode(b, protocol.Text) }
func BenchmarkFrameEncode(b *testing.B) { benchEncode(b, protocol.Frame) }
