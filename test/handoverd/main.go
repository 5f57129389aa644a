// Command handoverd is workermand with one extra protocol, "seq", whose
// connections survive a reload: the integration tests use it to check the
// connection hand-over between a retiring child and its replacement. It is
// built the way any custom binary is: the stock main plus a registration.
package main

import (
	"bytes"
	"github.com/workermand/workermand/workerman"
	"os"
	"strconv"

	"github.com/workermand/workermand/codec"
	_ "github.com/workermand/workermand/handlers/echo"
)

func init() {
	codec.Register("seq", codec.ProtocolFunc(func(codec.Conn) codec.Codec { return &seqCodec{} }))
}

// seqCodec is a line protocol whose replies read "<n> <pid> <line>": n
// counts the connection's replies (state that must move with it), pid tells
// which process answered.
type seqCodec struct{ n int }

var pid = []byte(strconv.Itoa(os.Getpid()))

func (s *seqCodec) Input(buf []byte) (int, error) { return bytes.IndexByte(buf, '\n') + 1, nil }

func (s *seqCodec) Decode(p []byte) (codec.Message, error) {
	return codec.Message{Data: p[:len(p)-1], Kind: codec.KindData}, nil
}

func (s *seqCodec) Encode(dst, p []byte) ([]byte, error) {
	s.n++
	dst = strconv.AppendInt(dst, int64(s.n), 10)
	dst = append(dst, ' ')
	dst = append(dst, pid...)
	dst = append(dst, ' ')
	dst = append(dst, p...)
	return append(dst, '\n'), nil
}

func (s *seqCodec) Migrate() ([]byte, bool) { return strconv.AppendInt(nil, int64(s.n), 10), true }

func (s *seqCodec) Resume(state []byte) error {
	n, err := strconv.Atoi(string(state))
	s.n = n
	return err
}

func main() { workerman.RunAll() }
