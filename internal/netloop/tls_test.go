//go:build linux

package netloop

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// startTLSLoop runs a loop with one TLS listener speaking protoName; the
// returned config dials it.
func startTLSLoop(t *testing.T, cfg Config, protoName string, h Handler, lcfg ListenerConfig) (*testLoop, string, *tls.Config) {
	t.Helper()
	cert, pool := testCertificate(t, "example.test")
	if lcfg.TLS == nil {
		lcfg.TLS = &TLSServer{}
	}
	if lcfg.TLS.Config == nil {
		lcfg.TLS.Config = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	tl, _, addr := startLoop(t, cfg, protoName, h, lcfg)
	return tl, addr, &tls.Config{RootCAs: pool, ServerName: "example.test"}
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

func TestTLSEcho(t *testing.T) {
	var opened, closed atomic.Int32
	h := &handler{
		open:    func(c *Conn) { opened.Add(1) },
		message: echo,
		close:   func(c *Conn) { closed.Add(1) },
	}
	tl, addr, ccfg := startTLSLoop(t, Config{}, "text", h, ListenerConfig{})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := ccfg.Clone()
		cfg.MinVersion, cfg.MaxVersion = v, v
		c := dialTLS(t, addr, cfg)
		r := bufio.NewReader(c)
		// Pipelined lines, some split across records.
		if _, err := io.WriteString(c, "one\ntw"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "o\nthree\n"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"one\n", "two\n", "three\n"} {
			got, err := r.ReadString('\n')
			if err != nil || got != want {
				t.Fatalf("TLS %x: read %q, %v; want %q", v, got, err, want)
			}
		}
		c.Close()
	}
	s := tl.waitStats("two handshakes and closes", func(s Stats) bool { return s.TLSHandshakes == 2 && s.Connections == 0 })
	if s.TLSHandshakeErrors != 0 || s.TotalRequest != 6 {
		t.Fatalf("stats %+v", s)
	}
	waitFor(t, "OnClose of both", func() bool { return closed.Load() == 2 })
	if opened.Load() != 2 {
		t.Fatalf("OnOpen ran %d times", opened.Load())
	}
}

// A large echo goes through the send queue (ciphertext), back-pressure and
// drain, with a client that reads slowly at first.
func TestTLSLargeEchoBackPressure(t *testing.T) {
	var full, drained atomic.Int32
	h := &handler{
		// Small kernel buffers on both ends, so that the 4 MiB answer
		// cannot all sit in them (loopback autotunes them to megabytes)
		// and the backlog, the send queue, must build up.
		open:    func(c *Conn) { _ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10) },
		message: echo,
		full:    func(c *Conn) { full.Add(1) },
		drain:   func(c *Conn) { drained.Add(1) },
	}
	_, addr, ccfg := startTLSLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 256 << 10, MaxPackageSize: 8 << 20})
	d := &net.Dialer{Timeout: ioTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10) })
	}}
	c, err := tls.DialWithDialer(d, "tcp", addr, ccfg)
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	line := strings.Repeat("x", 4<<20) + "\n"
	go func() { _, _ = io.WriteString(c, line) }()
	// The client reads only once the server's queue passed its limit.
	waitFor(t, "OnBufferFull", func() bool { return full.Load() > 0 })
	got, err := bufio.NewReaderSize(c, 64<<10).ReadString('\n')
	if err != nil || got != line {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(line))
	}
	waitFor(t, "OnBufferDrain", func() bool { return drained.Load() > 0 })
}

func TestTLSPlainHTTPGets400(t *testing.T) {
	var opened atomic.Int32
	h := &handler{open: func(c *Conn) { opened.Add(1) }}
	tl, addr, _ := startTLSLoop(t, Config{}, "text", h, ListenerConfig{})
	c := dial(t, addr)
	c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") || !strings.Contains(string(b), "https://") {
		t.Fatalf("answer %q", b)
	}
	s := tl.waitStats("the rejection counted", func(s Stats) bool { return s.TLSPlaintextRejected == 1 && s.Connections == 0 })
	if opened.Load() != 0 || s.TLSHandshakes != 0 {
		t.Fatalf("opened %d, stats %+v", opened.Load(), s)
	}
}

func TestTLSHandshakeTimeoutAndErrors(t *testing.T) {
	var closed atomic.Int32
	h := &handler{close: func(c *Conn) { closed.Add(1) }}
	// Long enough that the two failing handshakes below end in their
	// errors, not in the timeout, on a machine starved by a parallel -race
	// run (at 300 ms one was counted as a timeout in CI).
	tl, addr, ccfg := startTLSLoop(t, Config{}, "text", h, ListenerConfig{TLS: &TLSServer{HandshakeTimeout: 1500 * time.Millisecond}})

	// Silent: connects and says nothing. No goroutine, closed at the deadline.
	silent := dial(t, addr)
	// Half a hello: the handshake goroutine never starts either.
	half := dial(t, addr)
	half.write("\x16\x03\x01\x02\x00\x01")
	silent.expectEOF()
	half.expectEOF()
	// A hello nobody can answer: the client insists on a version the
	// server refuses... the other way round: a client offering TLS 1.0 only.
	old := ccfg.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr, old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	// A client that does not trust the certificate aborts.
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr, &tls.Config{ServerName: "example.test"}); err == nil {
		c.Close()
		t.Fatal("an untrusted certificate was accepted")
	}
	s := tl.waitStats("timeouts and errors counted", func(s Stats) bool {
		return s.TLSHandshakeTimeouts == 2 && s.TLSHandshakeErrors == 2 && s.Connections == 0 && s.TLSHandshakesInFlight == 0
	})
	if s.TLSHandshakes != 0 || closed.Load() != 0 {
		t.Fatalf("stats %+v, OnClose %d times for connections never opened", s, closed.Load())
	}
}

// With one handshake allowed at a time, many clients at once are still all
// served, in turn.
func TestTLSHandshakeCap(t *testing.T) {
	tl, addr, ccfg := startTLSLoop(t, Config{MaxTLSHandshakes: 1}, "text", echoHandler(), ListenerConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr, ccfg)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(c, "hi\n"); err != nil {
				errs <- err
				return
			}
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || got != "hi\n" {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
	tl.waitStats("20 handshakes", func(s Stats) bool { return s.TLSHandshakes == 20 && s.TLSHandshakesInFlight == 0 })
}

// File bodies over TLS go out sealed in bounded pieces, in order with the
// bytes queued before, between and after them (records carry sequence
// numbers: sealed out of order, they would not decrypt).
func TestTLSWriteFile(t *testing.T) {
	dir := t.TempDir()
	content := make([]byte, 3<<20+123)
	for i := range content {
		content[i] = byte(i * 7)
	}
	path := filepath.Join(dir, "body")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	h := &handler{message: func(c *Conn, m codec.Message) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		f2, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		c.WriteRaw([]byte("<<"))
		c.WriteFile(f, 0, int64(len(content)))
		c.WriteRaw([]byte("--"))
		c.WriteFile(f2, 5, 70000)
		c.WriteRaw([]byte(">>"))
		c.Close()
	}}
	// The buffer limit is above the file, or ">>" would be dropped (send_fail).
	_, addr, ccfg := startTLSLoop(t, Config{}, "text", h, ListenerConfig{MaxSendBuffer: 8 << 20})
	c := dialTLS(t, addr, ccfg)
	if _, err := io.WriteString(c, "file\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a backlog builds while the client waits
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte("<<"), content...), "--"...)
	want = append(append(want, content[5:70005]...), ">>"...)
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("got %d bytes, want %d; first difference at %d", len(got), len(want), i)
	}
}

// The client's first request, sent right behind its Finished, is served
// without waiting for more input; ALPN and the connection state are there
// from OnOpen on.
func TestTLSFirstRequestWithFinished(t *testing.T) {
	states := make(chan tls.ConnectionState, 1)
	h := &handler{
		open: func(c *Conn) {
			st, _ := c.TLSConnectionState()
			states <- st
		},
		message: echo,
	}
	cert, pool := testCertificate(t, "example.test")
	_, addr, _ := startTLSLoop(t, Config{}, "text", h, ListenerConfig{TLS: &TLSServer{Config: &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"},
	}}})
	raw, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(ioTimeout))
	c := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "example.test", NextProtos: []string{"http/1.1"}})
	// Write before any Read: the handshake runs inside Write and the
	// request follows the Finished at once.
	if _, err := io.WriteString(c, "early\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "early\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	st := recv(t, "OnOpen", states)
	if st.NegotiatedProtocol != "http/1.1" || !st.HandshakeComplete || st.ServerName != "example.test" {
		t.Fatalf("state: proto %q complete %v name %q", st.NegotiatedProtocol, st.HandshakeComplete, st.ServerName)
	}
}
