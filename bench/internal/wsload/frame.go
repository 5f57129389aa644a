package wsload

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Opcodes (RFC 6455 section 5.2).
const (
	OpText   = 0x1
	OpBinary = 0x2
	OpClose  = 0x8
)

// acceptKey is the Sec-WebSocket-Accept value for key (RFC 6455 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// handshake performs the client opening handshake on c and checks the
// server's 101 answer, including its Sec-WebSocket-Accept. It reads the
// response head byte by byte up to its blank line, so no frame byte the
// server may send right after is swallowed by a buffer.
func handshake(c net.Conn, host string) error {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return fmt.Errorf("write handshake: %w", err)
	}
	head := make([]byte, 0, 256)
	var b [1]byte
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if len(head) > 4096 {
			return errors.New("handshake response head over 4 KiB")
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fmt.Errorf("read handshake response: %w", err)
		}
		head = append(head, b[0])
	}
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
	if f := strings.Fields(lines[0]); len(f) < 2 || f[1] != "101" {
		return fmt.Errorf("handshake: status line %q, want 101", lines[0])
	}
	want := acceptKey(key)
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Sec-WebSocket-Accept") {
			if strings.TrimSpace(val) != want {
				return fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", strings.TrimSpace(val), want)
			}
			return nil
		}
	}
	return errors.New("handshake: no Sec-WebSocket-Accept")
}

// appendFrame appends one final client frame carrying payload, masked with
// key as a client must (RFC 6455 5.3).
func appendFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	dst = append(dst, key[:]...)
	for i, b := range payload {
		dst = append(dst, b^key[i&3])
	}
	return dst
}

// readFrame reads one server frame into buf (grown if needed) and returns
// its opcode, FIN bit and payload. A server frame must not be masked.
func readFrame(r *bufio.Reader, buf []byte) (op byte, fin bool, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, false, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, false, nil, errors.New("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(r, x[:]); err != nil {
			return 0, false, nil, err
		}
		n = uint64(x[0])<<8 | uint64(x[1])
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(r, x[:]); err != nil {
			return 0, false, nil, err
		}
		n = 0
		for _, b := range x {
			n = n<<8 | uint64(b)
		}
	}
	if n > 1<<20 {
		return 0, false, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, false, nil, err
	}
	return h[0] & 0x0f, h[0]&0x80 != 0, buf, nil
}

// dial opens a TCP connection to addr, over TLS when tcfg is set, and
// completes the websocket handshake within timeout. raw is the TCP
// connection under c.
func dial(addr string, tcfg *tls.Config, timeout time.Duration) (c net.Conn, raw *net.TCPConn, err error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	raw = nc.(*net.TCPConn)
	c = nc
	if tcfg != nil {
		c = tls.Client(nc, tcfg)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := handshake(c, addr); err != nil {
		c.Close()
		return c, raw, err // non-nil conn: connected, but the handshake failed
	}
	_ = c.SetDeadline(time.Time{})
	return c, raw, nil
}

// Dial opens a plain ws:// connection to addr with a checked handshake, for
// the other drivers' clients (fanout's), which read and write frames with
// ReadFrame and AppendFrame.
func Dial(addr string, timeout time.Duration) (net.Conn, error) {
	c, _, err := dial(addr, nil, timeout)
	if err != nil && c != nil {
		c.Close()
	}
	return c, err
}

// ReadFrame reads one unmasked server frame (see readFrame).
func ReadFrame(r *bufio.Reader, buf []byte) (op byte, fin bool, payload []byte, err error) {
	return readFrame(r, buf)
}

// AppendFrame appends one final client frame masked with key.
func AppendFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	return appendFrame(dst, op, payload, key)
}
