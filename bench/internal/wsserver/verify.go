package wsserver

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// Verify checks through gorilla's client, an implementation independent
// of the generator (over TLS with tcfg for a wss:// URL), that the server
// echoes text and binary messages with their type and bytes, including a
// payload with a 16-bit length and bytes that are not UTF-8, and answers
// a ping with its pong.
func Verify(url string, tcfg *tls.Config) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: tcfg}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	bin := make([]byte, 300)
	for i := range bin {
		bin[i] = byte(i)
	}
	msgs := []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("héllo, workermand")},
		{websocket.BinaryMessage, bin},
		{websocket.TextMessage, bytes.Repeat([]byte("x"), 200)},
		{websocket.BinaryMessage, []byte{0xff, 0x00, 0xfe}},
	}
	for i, m := range msgs {
		if err := c.WriteMessage(m.typ, m.data); err != nil {
			return fmt.Errorf("message %d: write: %w", i+1, err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("message %d: read: %w", i+1, err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			return fmt.Errorf("message %d: got type %d, %d bytes %.40q; want type %d, %d bytes %.40q",
				i+1, typ, len(got), got, m.typ, len(m.data), m.data)
		}
	}
	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	// Reading drives the pong handler; one more echo proves the order.
	if err := c.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
		return fmt.Errorf("after ping: write: %w", err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "after ping" {
		return fmt.Errorf("after ping: read %q: %v", got, err)
	}
	select {
	case p := <-pong:
		if p != "p1" {
			return fmt.Errorf("pong carries %q, want \"p1\"", p)
		}
	default:
		return fmt.Errorf("no pong before the next echo")
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return nil
}
