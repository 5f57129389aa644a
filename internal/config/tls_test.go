package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/testcert"
	"github.com/workermand/workermand/internal/tlsconfig"
)

// tlsHooks are testHooks plus the certificate check cli installs.
var tlsHooks = func() config.Hooks {
	h := testHooks
	h.TLS = func(s tlsconfig.Settings) []tlsconfig.Problem {
		_, probs, _ := tlsconfig.Load(s, time.Now())
		return probs
	}
	return h
}()

// TestTLSWorkers: https://, wss:// and ssl:// are http, websocket and tcp
// over TLS, as is any stream protocol with transport = "ssl"; [worker.tls]
// is decoded and its certificates checked through the hook.
func TestTLSWorkers(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.SelfSigned(t, testcert.Options{Names: []string{"site.test"}}).Write(t, dir, "site")
	table := fmt.Sprintf("[worker.tls]\ncertificates = [ { cert_file = %q, key_file = %q } ]\nhandshake_timeout = \"3s\"\nmin_version = \"1.3\"\nalpn = [\"http/1.1\"]\n", cert, key)
	for _, tc := range []struct{ listen, transport, proto string }{
		{"https://127.0.0.1:8443", "", "http"},
		{"wss://127.0.0.1:8443", "", "websocket"},
		{"ssl://127.0.0.1:8443", "", "tcp"},
		{"text://127.0.0.1:8443", "ssl", "text"},
		{"https://127.0.0.1:8443", "ssl", "http"},
	} {
		src := fmt.Sprintf("[[worker]]\nname = \"w\"\nlisten = %q\n", tc.listen)
		if tc.transport != "" {
			src += fmt.Sprintf("transport = %q\n", tc.transport)
		}
		c, err := config.Parse([]byte(src+table), "test.toml", tlsHooks)
		if err != nil {
			t.Fatalf("%s: %v", tc.listen, err)
		}
		w := c.Workers[0]
		if w.Transport != "ssl" || w.Addr.Scheme != tc.proto || w.TLS == nil {
			t.Fatalf("%s: transport %q, protocol %q, TLS %v", tc.listen, w.Transport, w.Addr.Scheme, w.TLS)
		}
		s := w.TLS.Settings()
		if len(s.Certificates) != 1 || s.Certificates[0].KeyFile != key || s.MinVersion != "1.3" || len(s.ALPN) != 1 || w.TLS.HandshakeTimeout.Duration != 3*time.Second {
			t.Fatalf("%s: settings %+v, timeout %v", tc.listen, s, w.TLS.HandshakeTimeout)
		}
	}
	// [worker.http] belongs to an https:// worker too.
	mustParse(t, "[[worker]]\nname = \"w\"\nlisten = \"https://127.0.0.1:8443\"\n"+table+"[worker.http]\nserver = \"x\"\n")
}

func TestTLSRules(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.SelfSigned(t, testcert.Options{Names: []string{"site.test"}}).Write(t, dir, "site")
	_, otherKey := testcert.SelfSigned(t, testcert.Options{Names: []string{"other.test"}}).Write(t, dir, "other")
	pair := func(c, k string) string {
		return fmt.Sprintf("[worker.tls]\ncertificates = [ { cert_file = %q, key_file = %q } ]\n", c, k)
	}
	const https = "[[worker]]\nname = \"w\"\nlisten = \"https://127.0.0.1:8443\"\n"
	for _, tc := range []struct {
		name, src string
		key       string
		line      int
		msg       string
	}{
		{"no table", https, "worker[0].listen", 3, "worker[0].tls.certificates is missing"},
		{"no certificates", https + "[worker.tls]\nmin_version = \"1.2\"\n", "worker[0].tls", 4, "worker[0].tls.certificates is missing"},
		{"contradiction", https + "transport = \"tcp\"\n", "worker[0].transport", 4, `transport "tcp" contradicts the listen address "https://127.0.0.1:8443"`},
		{"table on a tcp worker", w0 + pair(cert, key), "worker[0].tls", 4, "only applies to TLS workers"},
		{"udp", "[[worker]]\nname = \"w\"\nlisten = \"udp://127.0.0.1:1\"\ntransport = \"ssl\"\n", "worker[0].transport", 4, "contradicts"},
		{"unix path", "[[worker]]\nname = \"w\"\nlisten = \"text:///tmp/x.sock\"\ntransport = \"ssl\"\n", "worker[0].listen", 3, "not on the socket path"},
		{"unknown key", https + pair(cert, key) + "cert_flie = \"x\"\n", "worker[0].tls.cert_flie", 6, "unknown key"},
		{"wrong type", https + pair(cert, key) + "handshake_timeout = 5\n", "worker[0].tls.handshake_timeout", 6, ""},
		{"negative timeout", https + pair(cert, key) + "handshake_timeout = \"-1s\"\n", "worker[0].tls.handshake_timeout", 6, "must not be negative"},
		{"missing file", https + pair(dir+"/nope.pem", key), "worker[0].tls.certificates[0].cert_file", 5, "cannot read " + dir + "/nope.pem"},
		{"mismatched key", https + pair(cert, otherKey), "worker[0].tls.certificates[0]", 5, "the private key does not match the certificate"},
		{"tls 1.1", https + pair(cert, key) + "min_version = \"1.1\"\n", "worker[0].tls.min_version", 6, "TLS 1.1 is not offered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.src), "test.toml", tlsHooks)
			errs, ok := err.(*config.Errors)
			if !ok || len(errs.Problems) != 1 {
				t.Fatalf("want one problem, got %v", err)
			}
			if p := errs.Problems[0]; p.Key != tc.key || p.Line != tc.line || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("got %s, want %s at line %d: %s", p, tc.key, tc.line, tc.msg)
			}
		})
	}
}

// An expired certificate is served (the operator's call) but check warns,
// at its key.
func TestTLSExpiredIsAWarning(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	cert, key := testcert.SelfSigned(t, testcert.Options{NotBefore: old, NotAfter: old.Add(time.Hour)}).Write(t, dir, "old")
	src := fmt.Sprintf("[[worker]]\nname = \"w\"\nlisten = \"ssl://127.0.0.1:8443\"\n[worker.tls]\ncertificates = [\n  { cert_file = %q, key_file = %q },\n]\n", cert, key)
	c, err := config.Parse([]byte(src), "test.toml", tlsHooks)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	c.Check(func(s string) { warnings = append(warnings, s) })
	want := "test.toml:6: worker[0].tls.certificates[0].cert_file: " + cert + " expired on"
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
		t.Fatalf("warnings %q, want one starting %q", warnings, want)
	}
	// Without the hook nothing is read: a child parses the file it was
	// sent and loads the certificates itself.
	src = strings.ReplaceAll(src, cert, dir+"/gone.pem")
	if _, err := config.Parse([]byte(src), "test.toml", testHooks); err != nil {
		t.Fatal(err)
	}
}
