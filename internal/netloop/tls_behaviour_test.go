//go:build linux

package netloop

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/testcert"
)

// testCertificate makes a self-signed ECDSA P-256 certificate for names,
// valid now; the pool trusts it.
func testCertificate(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	p := testcert.SelfSigned(t, testcert.Options{Names: names})
	return p.Cert, p.Pool()
}

// pairedHandshake runs a handshake between a tls.Client and a tls.Server
// over a tlsTransport (in handshake mode, its records captured instead of
// posted to a loop), then switches the transport to loop mode. It returns
// the server, its transport and a client whose later writes land in
// clientOut instead of a socket.
func pairedHandshake(t testing.TB, version uint16) (srv *tls.Conn, tr *tlsTransport, cli *tls.Conn, clientOut *bytes.Buffer) {
	t.Helper()
	cert, pool := testCertificate(t, "example.test")
	l := &Loop{}
	tr = newTLSTransport(l, &Conn{fd: -1})
	cc := &captureConn{}
	tr.handshakeOut = func(b []byte) { cc.feed(b) }
	srv = tls.Server(tr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	cc.onWrite = func(b []byte) { tr.feed(b) }
	cli = tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: "example.test", MinVersion: version, MaxVersion: version})
	errs := make(chan error, 1)
	go func() { errs <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if rest := tr.detach(); len(rest) != 0 {
		t.Fatalf("%d bytes left in the transport after the handshake", len(rest))
	}
	cc.mu.Lock()
	cc.capture = true
	cc.mu.Unlock()
	return srv, tr, cli, &cc.out
}

// captureConn is the client's net.Conn: reads come from what the server
// wrote (feed), writes go to onWrite during the handshake and to out once
// capture is set.
type captureConn struct {
	net.Conn // unused methods
	mu       sync.Mutex
	cond     *sync.Cond
	in       bytes.Buffer
	onWrite  func([]byte)
	capture  bool
	out      bytes.Buffer
}

func (c *captureConn) init() {
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
}

func (c *captureConn) feed(b []byte) {
	c.mu.Lock()
	c.init()
	c.in.Write(b)
	c.mu.Unlock()
	c.cond.Broadcast()
}

func (c *captureConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	for c.in.Len() == 0 {
		c.cond.Wait()
	}
	return c.in.Read(p)
}

func (c *captureConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	capture := c.capture
	if capture {
		c.out.Write(p)
	}
	c.mu.Unlock()
	if !capture {
		c.onWrite(bytes.Clone(p))
	}
	return len(p), nil
}

func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// TestTLSReadToleratesTemporaryErrors holds crypto/tls to the behaviour the
// loop relies on: when the transport's Read returns an error whose
// Temporary() is true, tls.Conn.Read returns it without poisoning the
// connection, and the partial record it had buffered is completed by later
// input. Fed one byte at a time, every record still decrypts, in order.
// Temporary() is deprecated in Go, so a change there must fail here first.
func TestTLSReadToleratesTemporaryErrors(t *testing.T) {
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			srv, tr, cli, out := pairedHandshake(t, v.version)
			want := bytes.Repeat([]byte("0123456789abcdef"), 3000) // several records
			if _, err := cli.Write(want); err != nil {
				t.Fatal(err)
			}
			ct := out.Bytes()
			var got []byte
			buf := make([]byte, 32<<10)
			temporaries := 0
			for i := range ct {
				tr.src = ct[i : i+1]
				for {
					n, err := srv.Read(buf)
					got = append(got, buf[:n]...)
					if err == nil {
						continue
					}
					var ne net.Error
					if !errors.As(err, &ne) || !errors.Is(err, errWouldBlock) {
						t.Fatalf("after %d of %d bytes: Read returned %v, want the transport's temporary error", i+1, len(ct), err)
					}
					temporaries++
					break
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decrypted %d bytes, want %d equal to what was sent", len(got), len(want))
			}
			if temporaries < len(ct)/2 {
				t.Fatalf("only %d temporary errors for %d bytes fed singly", temporaries, len(ct))
			}
			// The connection is not poisoned: a later record still reads.
			out.Reset()
			if _, err := cli.Write([]byte("after")); err != nil {
				t.Fatal(err)
			}
			tr.src = out.Bytes()
			n, err := srv.Read(buf)
			if err != nil || string(buf[:n]) != "after" {
				t.Fatalf("Read after the temporaries = %q, %v", buf[:n], err)
			}
		})
	}
}

// FuzzTLSTransport feeds an established server connection garbage,
// truncated and altered records, in pieces of varying size: it must never
// panic or deliver plaintext that was not sent, and must end with either the
// transport's temporary error (waiting for more) or a permanent one.
func FuzzTLSTransport(f *testing.F) {
	f.Add([]byte{}, uint8(1), uint16(0), uint8(0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint8(3), uint16(0), uint8(0))
	f.Add([]byte{0x17, 0x03, 0x03, 0x40, 0x01}, uint8(5), uint16(0), uint8(0))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x00}, uint8(2), uint16(0), uint8(0))
	f.Add([]byte{}, uint8(7), uint16(10), uint8(1))   // a real record, truncated
	f.Add([]byte{}, uint8(200), uint16(30), uint8(2)) // a real record with one bit flipped
	f.Fuzz(func(t *testing.T, garbage []byte, piece uint8, at uint16, mode uint8) {
		srv, tr, cli, out := pairedHandshake(t, tls.VersionTLS13)
		sent := []byte("the plaintext that was really sent")
		if _, err := cli.Write(sent); err != nil {
			t.Fatal(err)
		}
		ct := bytes.Clone(out.Bytes())
		var input []byte
		switch mode % 3 {
		case 0:
			input = garbage
		case 1:
			input = append(ct[:int(at)%len(ct)], garbage...)
		case 2:
			ct[int(at)%len(ct)] ^= 1 << (piece % 8)
			input = append(ct, garbage...)
		}
		step := int(piece%64) + 1
		buf := make([]byte, 1024)
		var got []byte
		for off := 0; off < len(input); off += step {
			tr.src = input[off:min(off+step, len(input))]
			for {
				n, err := srv.Read(buf)
				got = append(got, buf[:n]...)
				if err == nil {
					continue
				}
				if errors.Is(err, errWouldBlock) {
					break
				}
				off = len(input) // permanent: the connection is done
				break
			}
		}
		if !bytes.HasPrefix(sent, got) {
			t.Fatalf("delivered %q, which was never sent", got)
		}
	})
}

// FuzzTLSHandshakeInput feeds a server handshake garbage: it must fail (or
// wait for more) and never panic; closing the transport ends a waiting one.
func FuzzTLSHandshakeInput(f *testing.F) {
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte{0x16, 0x03, 0x03, 0xff, 0xff})
	cert, _ := testCertificate(f, "example.test")
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTLSTransport(&Loop{}, &Conn{fd: -1})
		tr.handshakeOut = func([]byte) {}
		srv := tls.Server(tr, cfg)
		done := make(chan error, 1)
		go func() { done <- srv.Handshake() }()
		tr.feed(data)
		tr.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a handshake succeeded on garbage")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handshake did not end after the transport closed")
		}
	})
}
