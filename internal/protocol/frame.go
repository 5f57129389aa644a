package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/workermand/workermand/codec"
)

// frameHeaderLen is the size of the frame protocol's length prefix.
const frameHeaderLen = 4

// Frame is Workerman's frame protocol: a 4-byte big-endian length that counts
// itself, then the body. Workerman stalls forever on a length of 0 and yields
// truncated messages for 1–3; here both close the connection as malformed.
var Frame = stateless(frameCodec{})

var _ codec.Codec = frameCodec{}

// ErrShortFrame reports a frame length smaller than the 4-byte header.
var ErrShortFrame = errors.New("frame: length smaller than its 4-byte header")

type frameCodec struct{}

func (frameCodec) Input(buf []byte) (int, error) {
	if len(buf) < frameHeaderLen {
		return 0, nil
	}
	n := binary.BigEndian.Uint32(buf)
	if n < frameHeaderLen {
		return 0, fmt.Errorf("%w: length %d", ErrShortFrame, n)
	}
	if uint64(n) > math.MaxInt {
		return 0, codec.ErrPackageTooLarge
	}
	return int(n), nil
}

func (frameCodec) Decode(pkt []byte) (codec.Message, error) {
	return codec.Message{Data: pkt[frameHeaderLen:], Kind: codec.KindData}, nil
}

func (frameCodec) Encode(dst, payload []byte) ([]byte, error) {
	if uint64(len(payload))+frameHeaderLen > math.MaxUint32 {
		return dst, codec.ErrPackageTooLarge
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)+frameHeaderLen))
	return append(dst, payload...), nil
}
