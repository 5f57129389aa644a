// Package protocol holds workermand's built-in protocols. Each registers
// itself with package codec under its scheme name, so importing this package
// makes "tcp", "text" and "frame" available to listen addresses.
package protocol

import "github.com/workermand/workermand/codec"

func init() {
	codec.Register("tcp", Raw)
	codec.Register("text", Text)
	codec.Register("frame", Frame)
}

// stateless returns the same codec for every connection: text, frame and raw
// tcp keep no per-connection state, so an idle connection costs them nothing.
func stateless(c codec.Codec) codec.Protocol {
	return codec.ProtocolFunc(func(codec.Conn) codec.Codec { return c })
}
