package netloop

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
)

// A TLS connection the server closes ends with close_notify: the client
// reads the whole answer and then a clean end of stream, not the
// unexpected EOF of a truncated one — also when the answer is larger than
// the socket takes at once, so the alert waits in the queue behind it.
func TestTLSCloseNotify(t *testing.T) {
	big := strings.Repeat("x", 4<<20)
	h := &handler{message: func(c *Conn, m codec.Message) {
		if string(m.Data) == "big" {
			c.Send([]byte(big))
		} else {
			c.Send([]byte("bye"))
		}
		c.Close()
	}}
	_, addr, ccfg := startTLSLoop(t, Config{}, "text", h, ListenerConfig{})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, ask := range []string{"small", "big"} {
			cfg := ccfg.Clone()
			cfg.MinVersion, cfg.MaxVersion = v, v
			raw, err := net.DialTimeout("tcp", addr, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			_ = raw.SetDeadline(time.Now().Add(ioTimeout))
			// crypto/tls reports the end of the TCP stream as io.EOF too:
			// hide it, so that io.EOF can only mean close_notify.
			c := tls.Client(eofHider{raw}, cfg)
			defer c.Close()
			if _, err := io.WriteString(c, ask+"\n"); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c) // nil error only after close_notify
			if err != nil {
				t.Errorf("TLS %x, %s answer: read %d bytes, then %v; want the answer and a clean close", v, ask, len(got), err)
				continue
			}
			if want := map[string]int{"small": len("bye\n"), "big": len(big) + 1}[ask]; len(got) != want {
				t.Errorf("TLS %x, %s answer: %d bytes, want %d", v, ask, len(got), want)
			}
		}
	}
}

// eofHider turns the end of the stream into a timeout.
type eofHider struct{ net.Conn }

func (e eofHider) Read(p []byte) (int, error) {
	n, err := e.Conn.Read(p)
	if err == io.EOF {
		return n, errTCPEnded
	}
	return n, err
}

var errTCPEnded = errors.New("the TCP stream ended without close_notify")
