package protocol

import (
	"bytes"

	"github.com/workermand/workermand/codec"
)

// Text is Workerman's text protocol: one message per line. Decode strips every
// trailing '\r' and '\n' so telnet clients work; Encode appends '\n'. The loop
// closes a connection whose unterminated line reaches max_package_size.
var Text = stateless(textCodec{})

var _ codec.Codec = textCodec{}

type textCodec struct{}

func (textCodec) Input(buf []byte) (int, error) {
	return bytes.IndexByte(buf, '\n') + 1, nil
}

func (textCodec) Decode(pkt []byte) (codec.Message, error) {
	end := len(pkt)
	for end > 0 && (pkt[end-1] == '\n' || pkt[end-1] == '\r') {
		end--
	}
	return codec.Message{Data: pkt[:end], Kind: codec.KindData}, nil
}

func (textCodec) Encode(dst, payload []byte) ([]byte, error) {
	dst = append(dst, payload...)
	return append(dst, '\n'), nil
}
