package protocol

import "github.com/workermand/workermand/codec"

// Raw is the "tcp" scheme: no framing, every read chunk is one message and
// payloads are sent as they are. A chunk larger than max_package_size (a
// small limit, or input that piled up while reading was paused) is delivered
// in pieces of at most that size rather than treated as an oversized packet.
var Raw = codec.ProtocolFunc(func(c codec.Conn) codec.Codec { return rawCodec{conn: c} })

var _ codec.Codec = rawCodec{}

type rawCodec struct{ conn codec.Conn }

func (r rawCodec) Input(buf []byte) (int, error) {
	if r.conn == nil { // a codec built outside a connection: no limit
		return len(buf), nil
	}
	return min(len(buf), r.conn.MaxPackageSize()), nil
}

func (rawCodec) Decode(pkt []byte) (codec.Message, error) {
	return codec.Message{Data: pkt, Kind: codec.KindData}, nil
}

func (rawCodec) Encode(dst, payload []byte) ([]byte, error) {
	return append(dst, payload...), nil
}
