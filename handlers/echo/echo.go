// Package echo is the stock "echo" handler: every message is sent back to
// its sender through the worker's protocol (a text line comes back as a
// line, a frame as a frame).
package echo

import (
	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/websocket"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("echo", func() workerman.Handler { return &Handler{} })
}

// Handler echoes messages. It has no options.
type Handler struct{}

var _ workerman.Handler = (*Handler)(nil)

// Attach sets the worker's OnMessage.
func (*Handler) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if m.Kind == codec.KindBinary {
			// A websocket binary message goes back as binary.
			_, _ = c.SendValue(websocket.Binary(m.Data))
			return
		}
		c.Send(m.Data)
	}
	return nil
}
