package protocol

import "github.com/workermand/workermand/codec"

// Raw is the "tcp" scheme: no framing, every read chunk is one message and
// payloads are sent as they are.
var Raw = stateless(rawCodec{})

var _ codec.Codec = rawCodec{}

type rawCodec struct{}

func (rawCodec) Input(buf []byte) (int, error) { return len(buf), nil }

func (rawCodec) Decode(pkt []byte) (codec.Message, error) {
	return codec.Message{Data: pkt, Kind: codec.KindData}, nil
}

func (rawCodec) Encode(dst, payload []byte) ([]byte, error) {
	return append(dst, payload...), nil
}
