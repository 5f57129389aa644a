package tlsconfig

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/testcert"
)

// writePair writes a self-signed ECDSA P-256 certificate for names, valid
// from notBefore to notAfter, and its key.
func writePair(t *testing.T, dir, base string, notBefore, notAfter time.Time, names ...string) Certificate {
	t.Helper()
	p := testcert.SelfSigned(t, testcert.Options{Names: names, NotBefore: notBefore, NotAfter: notAfter})
	certFile, keyFile := p.Write(t, dir, base)
	return Certificate{CertFile: certFile, KeyFile: keyFile}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	valid := func(base string, names ...string) Certificate {
		return writePair(t, dir, base, now.Add(-time.Hour), now.Add(24*time.Hour), names...)
	}
	site := valid("site", "site.test", "www.site.test")
	other := valid("other", "other.test")
	same := valid("same", "WWW.site.test")
	expired := writePair(t, dir, "old", now.Add(-48*time.Hour), now.Add(-24*time.Hour), "old.test")
	mismatch := Certificate{CertFile: site.CertFile, KeyFile: other.KeyFile}
	missing := Certificate{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: site.KeyFile}

	for _, tc := range []struct {
		name  string
		s     Settings
		certs int    // certificates in the config (when no error)
		want  string // problems, "key: msg" joined by "; ", each a substring
		fails bool
	}{
		{name: "two by SNI", s: Settings{Certificates: []Certificate{site, other}, ALPN: []string{"http/1.1"}}, certs: 2},
		{name: "none", s: Settings{}, want: "certificates: missing", fails: true},
		{name: "missing file", s: Settings{Certificates: []Certificate{missing}}, want: "certificates[0].cert_file: cannot read " + missing.CertFile + ": no such file", fails: true},
		{name: "mismatch", s: Settings{Certificates: []Certificate{site, mismatch}}, want: "certificates[1]: " + site.CertFile + " and " + other.KeyFile + ": the private key does not match the certificate", fails: true},
		{name: "expired is a warning", s: Settings{Certificates: []Certificate{expired}}, want: "certificates[0].cert_file: " + expired.CertFile + " expired on", certs: 1},
		{name: "a name twice", s: Settings{Certificates: []Certificate{site, same}}, want: `certificates[1].cert_file: "www.site.test" is served by certificates[0] already`, fails: true},
		{name: "tls 1.1", s: Settings{Certificates: []Certificate{site}, MinVersion: "1.1"}, want: "min_version: TLS 1.1 is not offered", fails: true},
		{name: "bad version", s: Settings{Certificates: []Certificate{site}, MinVersion: "2"}, want: `min_version: unknown TLS version "2"`, fails: true},
		{name: "client CA not PEM", s: Settings{Certificates: []Certificate{site}, ClientCAFile: site.KeyFile}, want: "client_ca_file: " + site.KeyFile + " holds no PEM certificate", fails: true},
		{name: "empty alpn", s: Settings{Certificates: []Certificate{site}, ALPN: []string{""}}, want: "alpn[0]: a protocol name is 1 to 255 bytes", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, probs, err := Load(tc.s, now)
			var msgs []string
			for _, p := range probs {
				msgs = append(msgs, p.Error())
			}
			got := strings.Join(msgs, "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
			if tc.fails != (err != nil) {
				t.Fatalf("err = %v, want failure %v", err, tc.fails)
			}
			if err != nil {
				if cfg != nil {
					t.Fatal("a config came with the error")
				}
				return
			}
			if len(cfg.Certificates) != tc.certs || cfg.MinVersion < tls.VersionTLS12 {
				t.Fatalf("%d certificates, min version %x", len(cfg.Certificates), cfg.MinVersion)
			}
		})
	}
}

// The certificates are chosen by SNI, the first one for any other name.
func TestLoadSNI(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	site := writePair(t, dir, "site", now.Add(-time.Hour), now.Add(time.Hour), "site.test")
	other := writePair(t, dir, "other", now.Add(-time.Hour), now.Add(time.Hour), "other.test")
	cfg, _, err := Load(Settings{Certificates: []Certificate{site, other}, MinVersion: "1.3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"other.test": "other.test", "site.test": "site.test", "unknown.test": "site.test", "": "site.test"} {
		cert, err := pick(cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Leaf.Subject.CommonName != want {
			t.Errorf("SNI %q got %s, want %s", name, cert.Leaf.Subject.CommonName, want)
		}
	}
}

// pick returns the certificate crypto/tls would serve for a hello naming
// serverName, by the rule it documents for Config.Certificates.
func pick(cfg *tls.Config, serverName string) (*tls.Certificate, error) {
	hello := &tls.ClientHelloInfo{
		ServerName:        serverName,
		SupportedVersions: []uint16{tls.VersionTLS13},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256},
	}
	for i := range cfg.Certificates {
		if hello.SupportsCertificate(&cfg.Certificates[i]) == nil {
			return &cfg.Certificates[i], nil
		}
	}
	return &cfg.Certificates[0], nil
}
