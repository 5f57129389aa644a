// Package tlsconfig turns a worker's [worker.tls] settings into a
// crypto/tls server configuration, and reports what is wrong with them under
// the table's own keys: a file that cannot be read, a key that does not
// match its certificate, a name served by two certificates (errors), a
// certificate expired or not valid yet (a warning: serving it is the
// operator's call). It reads the files each time it is called, which is
// how a reload picks up renewed certificates.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Certificate is one entry of certificates: PEM files, the chain first in
// cert_file.
type Certificate struct {
	CertFile string
	KeyFile  string
}

// Settings are the [worker.tls] table's values.
type Settings struct {
	// Certificates: the first is served to clients whose server name (SNI)
	// matches no other, the others to the names they carry.
	Certificates []Certificate
	// MinVersion is "1.2" (the default when empty) or "1.3".
	MinVersion string
	// ClientCAFile, when set, makes client certificates required and
	// verified against the CAs in that PEM file.
	ClientCAFile string
	// ALPN lists the application protocols offered, in order of preference.
	ALPN []string
}

// Problem is one thing wrong with Settings. Key names the setting relative
// to the table, as written: "certificates[1].key_file", "min_version".
type Problem struct {
	Key     string
	Msg     string
	Warning bool // the configuration still works
}

func (p Problem) Error() string { return p.Key + ": " + p.Msg }

// Error is what Load returns when any Problem is not a warning.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Load reads the files named in s and builds the server configuration. The
// problems found come back as well; err is an *Error holding them when one
// of them is not a warning, and the configuration is nil then.
func Load(s Settings, now time.Time) (*tls.Config, []Problem, error) {
	var probs []Problem
	add := func(key string, warn bool, format string, args ...any) {
		probs = append(probs, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Warning: warn})
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch s.MinVersion {
	case "", "1.2":
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	case "1.0", "1.1":
		add("min_version", false, "TLS %s is not offered: it is broken and browsers dropped it (want \"1.2\" or \"1.3\")", s.MinVersion)
	default:
		add("min_version", false, "unknown TLS version %q (want \"1.2\" or \"1.3\")", s.MinVersion)
	}
	if len(s.Certificates) == 0 {
		add("certificates", false, "missing: a TLS worker needs at least one { cert_file, key_file }")
	}
	servedBy := map[string]int{} // DNS name → index of the certificate serving it
	for i, c := range s.Certificates {
		key := fmt.Sprintf("certificates[%d]", i)
		switch {
		case c.CertFile == "":
			add(key+".cert_file", false, "missing")
			continue
		case c.KeyFile == "":
			add(key+".key_file", false, "missing")
			continue
		}
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			add(key+".cert_file", false, "%s", fileMsg(err))
			continue
		}
		keyPEM, err := os.ReadFile(c.KeyFile)
		if err != nil {
			add(key+".key_file", false, "%s", fileMsg(err))
			continue
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			add(key, false, "%s and %s: %s", c.CertFile, c.KeyFile, pairMsg(err))
			continue
		}
		leaf := pair.Leaf
		if leaf == nil { // Go fills Leaf since 1.23; a GODEBUG may turn it off
			if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				add(key+".cert_file", false, "%s: %v", c.CertFile, err)
				continue
			}
			pair.Leaf = leaf
		}
		switch {
		case now.After(leaf.NotAfter):
			add(key+".cert_file", true, "%s expired on %s", c.CertFile, leaf.NotAfter.UTC().Format(time.DateOnly))
		case now.Before(leaf.NotBefore):
			add(key+".cert_file", true, "%s is not valid before %s", c.CertFile, leaf.NotBefore.UTC().Format(time.DateTime))
		}
		for _, name := range leafNames(leaf) {
			if j, dup := servedBy[name]; dup {
				add(key+".cert_file", false, "%q is served by certificates[%d] already: a client asking for it would get either", name, j)
				continue
			}
			servedBy[name] = i
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}
	if s.ClientCAFile != "" {
		pem, err := os.ReadFile(s.ClientCAFile)
		switch {
		case err != nil:
			add("client_ca_file", false, "%s", fileMsg(err))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				add("client_ca_file", false, "%s holds no PEM certificate", s.ClientCAFile)
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	for i, p := range s.ALPN {
		if p == "" || len(p) > 255 {
			add(fmt.Sprintf("alpn[%d]", i), false, "a protocol name is 1 to 255 bytes")
		}
	}
	cfg.NextProtos = s.ALPN
	for _, p := range probs {
		if !p.Warning {
			return nil, probs, &Error{Problems: probs}
		}
	}
	return cfg, probs, nil
}

// leafNames are the names a certificate serves, as SNI would ask for them:
// its DNS names, or its common name when it has none (old certificates).
func leafNames(leaf *x509.Certificate) []string {
	if len(leaf.DNSNames) > 0 {
		names := make([]string, len(leaf.DNSNames))
		for i, n := range leaf.DNSNames {
			names[i] = strings.ToLower(n)
		}
		return names
	}
	if cn := leaf.Subject.CommonName; cn != "" {
		return []string{strings.ToLower(cn)}
	}
	return nil
}

func fileMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot read %s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}

// pairMsg says in the operator's words what tls.X509KeyPair found.
func pairMsg(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not match"):
		return "the private key does not match the certificate"
	case strings.Contains(msg, "failed to find any PEM data in certificate"):
		return "no PEM certificate in the certificate file"
	case strings.Contains(msg, "failed to find any PEM data in key"),
		strings.Contains(msg, "failed to find PEM block with type ending in \"PRIVATE KEY\""):
		return "no PEM private key in the key file"
	}
	return strings.TrimPrefix(msg, "tls: ")
}
