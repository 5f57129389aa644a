//go:build linux

package netloop

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestTLSClient: DialTLS against the loop's own TLS listener. Output sent
// before the connect is sealed and sent first once the handshake is done;
// an untrusted server, one that never answers its hello and one that
// speaks plain text fail as connects do (OnError(ConnectFail) then OnClose),
// counted.
func TestTLSClient(t *testing.T) {
	tl, addr, clientCfg := startTLSLoop(t, Config{}, "text", echoHandler(), ListenerConfig{})
	l := tl.loop
	text := lookup(t, "text")
	events := make(chan dialEvent, 16)
	dialTo := func(to string, cfg *tls.Config, timeout time.Duration, early string) {
		t.Helper()
		tl.do(func() {
			c := &Conn{}
			c.SetHandler(dialHandler(events))
			c.PrepareOutbound(l, text)
			if early != "" {
				c.Send([]byte(early))
			}
			l.DialTLS(c, netip.MustParseAddrPort(to), timeout, cfg)
		})
	}

	t.Run("echo", func(t *testing.T) {
		dialTo(addr, clientCfg, 5*time.Second, "early")
		expectDialEvent(t, events, "open")
		for _, want := range []string{"early", "hi"} {
			if ev := expectDialEvent(t, events, "message"); ev.data != want {
				t.Fatalf("echo over TLS: %q, want %q", ev.data, want)
			}
		}
		tl.waitStats("client and server handshakes", func(s Stats) bool { return s.TLSHandshakes >= 2 })
	})

	t.Run("untrusted", func(t *testing.T) {
		before := tl.stats().TLSHandshakeErrors
		dialTo(addr, &tls.Config{ServerName: "example.test"}, 5*time.Second, "")
		ev := expectDialEvent(t, events, "error")
		var verr *tls.CertificateVerificationError
		if !errors.As(ev.err, &verr) {
			t.Fatalf("error %v is no certificate verification error", ev.err)
		}
		expectDialEvent(t, events, "close")
		tl.waitStats("the failed handshake counted", func(s Stats) bool { return s.TLSHandshakeErrors > before })
	})

	t.Run("silent server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				defer c.Close()
				time.Sleep(5 * time.Second)
			}
		}()
		dialTo(ln.Addr().String(), clientCfg, 300*time.Millisecond, "")
		ev := expectDialEvent(t, events, "error")
		if !errors.Is(ev.err, ErrConnectTimeout) {
			t.Fatalf("error %v is no ErrConnectTimeout", ev.err)
		}
		expectDialEvent(t, events, "close")
		tl.waitStats("the timeout counted", func(s Stats) bool { return s.TLSHandshakeTimeouts > 0 })
	})

	t.Run("plain server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
				c.Close()
			}
		}()
		dialTo(ln.Addr().String(), clientCfg, 5*time.Second, "")
		ev := expectDialEvent(t, events, "error")
		if errors.Is(ev.err, ErrConnectTimeout) {
			t.Fatalf("error %v: want a handshake failure, not a timeout", ev.err)
		}
		expectDialEvent(t, events, "close")
	})
}
