package workerman_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/testcert"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// tlsEchoWorker starts a TLS worker on listen answering each message with
// itself, with a certificate from a new test CA for site.test and
// 127.0.0.1. sni receives the server name each client asked for.
func tlsEchoWorker(t *testing.T, listen string) (*workerman.Process, *workerman.Worker, *testcert.CA, chan string) {
	t.Helper()
	ca := testcert.NewCA(t)
	pair := ca.Issue(t, testcert.Options{Names: []string{"site.test"}})
	w := workerman.NewWorker(listen)
	w.TLS = &tls.Config{Certificates: []tls.Certificate{pair.Cert}}
	sni := make(chan string, 16)
	w.OnConnect = func(c *workerman.Connection) {
		st, _ := c.TLSConnectionState()
		sni <- st.ServerName
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.SendString(string(m.Data)) }
	return workermantest.Start(t, w), w, ca, sni
}

// asyncTLS makes a client of remote recording into log, with cfg as its
// TLS setting and early sent before Connect; OnConnect records whether the
// session was resumed.
func asyncTLS(t *testing.T, p *workerman.Process, remote string, cfg *tls.Config, early string, log *eventLog) *workerman.AsyncTcpConnection {
	t.Helper()
	ac := newAsync(t, p, remote, log)
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.TLS = cfg
		ac.OnConnect = func(c *workerman.AsyncTcpConnection) {
			st, ok := c.TLSConnectionState()
			log.add("connect tls=%v resumed=%v", ok, st.DidResume)
		}
		ac.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) {
			log.add("error %v", code)
			var verr *tls.CertificateVerificationError
			var herr x509.HostnameError
			switch {
			case errors.As(err, &herr):
				log.add("wrong host")
			case errors.As(err, &verr):
				log.add("untrusted")
			default:
				log.add("error detail: %v", err)
			}
		}
		if early != "" {
			ac.SendString(early)
		}
		ac.Connect()
	})
	return ac
}

func expectEvents(t *testing.T, log *eventLog, want ...string) {
	t.Helper()
	got := waitEvents(t, log, len(want))
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// ssl:// and text:// with Transport "ssl": echo over TLS, with what was
// sent before the connect going first; the default server name is the
// address's host (an IP here, checked against the certificate's IP).
func TestAsyncTLSEcho(t *testing.T) {
	p, w, ca, _ := tlsEchoWorker(t, "text://127.0.0.1:0")
	var log eventLog
	ac := asyncTLS(t, p, "ssl://"+w.Addr().String(), &tls.Config{RootCAs: ca.Pool}, "early\n", &log)
	expectEvents(t, &log, "connect tls=true resumed=false", "message early\n")
	workermantest.OnLoop(t, p.Loop(), func() { ac.SendString("later\n") })
	expectEvents(t, &log, "connect tls=true resumed=false", "message early\n", "message later\n")
	workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
	waitEvents(t, &log, 4)

	var log2 eventLog
	ac2 := newAsync(t, p, "text://"+w.Addr().String(), &log2)
	workermantest.OnLoop(t, p.Loop(), func() {
		ac2.Transport = "ssl"
		ac2.TLS = &tls.Config{RootCAs: ca.Pool, ServerName: "site.test"}
		ac2.SendString("framed")
		ac2.Connect()
	})
	waitEvents(t, &log2, 2)
	if got := log2.events()[1]; got != "message framed" {
		t.Fatalf("text over TLS: %q", log2.events())
	}
	workermantest.OnLoop(t, p.Loop(), func() { ac2.Close() })
}

// wss://: the ws:// client over TLS, with a path and a message held until
// the websocket handshake is done.
func TestAsyncTLSWebSocket(t *testing.T) {
	p, w, ca, _ := tlsEchoWorker(t, "wss://127.0.0.1:0")
	var log eventLog
	ac := asyncTLS(t, p, "wss://"+w.Addr().String()+"/chat?room=1", &tls.Config{RootCAs: ca.Pool}, "hello", &log)
	expectEvents(t, &log, "connect tls=true resumed=false", "message hello")
	big := strings.Repeat("x", 200<<10)
	workermantest.OnLoop(t, p.Loop(), func() { ac.SendString(big) })
	waitEvents(t, &log, 3)
	if got := log.events()[2]; got != "message "+big {
		t.Fatalf("a 200 KiB message came back as %d bytes", len(got))
	}
	workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
}

// Verification is on by default: the system roots do not know the test
// CA, nor does another CA; both fail as connects do, and are counted.
func TestAsyncTLSUntrusted(t *testing.T) {
	p, w, _, _ := tlsEchoWorker(t, "ssl://127.0.0.1:0")
	other := testcert.NewCA(t)
	for _, cfg := range []*tls.Config{nil, {RootCAs: other.Pool}} {
		before := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().TLSHandshakeErrors })
		var log eventLog
		asyncTLS(t, p, "ssl://"+w.Addr().String(), cfg, "never sent", &log)
		expectEvents(t, &log, "error CONNECT_FAIL", "untrusted", "close")
		after := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().TLSHandshakeErrors })
		if after <= before {
			t.Errorf("TLS handshake errors %d then %d: the failure was not counted", before, after)
		}
	}
}

// SNI: the server name is sent and checked against the certificate.
func TestAsyncTLSServerName(t *testing.T) {
	p, w, ca, sni := tlsEchoWorker(t, "ssl://127.0.0.1:0")
	var log eventLog
	asyncTLS(t, p, "ssl://"+w.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "other.test"}, "", &log)
	expectEvents(t, &log, "error CONNECT_FAIL", "wrong host", "close")

	var ok eventLog
	ac := asyncTLS(t, p, "ssl://"+w.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "site.test"}, "hi", &ok)
	expectEvents(t, &ok, "connect tls=true resumed=false", "message hi")
	for got := <-sni; got != "site.test"; got = <-sni {
		if got != "other.test" {
			t.Fatalf("the server saw SNI %q", got)
		}
	}
	workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
}

// A reconnect resumes the TLS session from the connection's own cache.
func TestAsyncTLSResumption(t *testing.T) {
	p, w, ca, _ := tlsEchoWorker(t, "ssl://127.0.0.1:0")
	var log eventLog
	ac := asyncTLS(t, p, "ssl://"+w.Addr().String(), &tls.Config{RootCAs: ca.Pool}, "one", &log)
	expectEvents(t, &log, "connect tls=true resumed=false", "message one")
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.Reconnect(0)
		ac.SendString("two")
	})
	want := []string{"connect tls=true resumed=false", "message one", "close", "connect tls=true resumed=true", "message two"}
	expectEvents(t, &log, want...)
	workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
}

// wss:// may omit the port (TestWithDefaultPort); a contradicting or
// unknown Transport fails the connect, reported later as any failure is.
func TestAsyncTLSAddressesAndTransport(t *testing.T) {
	p := workermantest.Start(t, textWorker("idle"))
	for _, remote := range []string{"wss://example.test/x", "ws://example.test:80", "wss://[::1]:8443/"} {
		var log eventLog
		ac := newAsync(t, p, remote, &log)
		if want := map[bool]string{true: "ssl", false: ""}[strings.HasPrefix(remote, "wss")]; ac.Transport != want {
			t.Errorf("%s: Transport %q, want %q", remote, ac.Transport, want)
		}
	}
	for _, tc := range []struct {
		transport string
		tls       *tls.Config
		want      string
	}{
		{"udp", nil, `unknown transport "udp"`},
		{"tcp", &tls.Config{}, `TLS needs transport "ssl"`},
	} {
		var log eventLog
		ac := newAsync(t, p, "text://127.0.0.1:1", &log)
		workermantest.OnLoop(t, p.Loop(), func() {
			ac.Transport, ac.TLS = tc.transport, tc.tls
			ac.Connect()
			if n := len(log.events()); n != 0 {
				t.Errorf("Connect reported %d events from inside the call", n)
			}
		})
		got := waitEvents(t, &log, 3)
		if got[0] != "error CONNECT_FAIL" || !strings.Contains(got[1], tc.want) || got[2] != "close" {
			t.Errorf("transport %q: events %q, want a connect failure saying %q", tc.transport, got, tc.want)
		}
	}
}
