// Package tlsload holds what the TLS benchmarks add to the shared
// generator core: a certificate made at run time, the client settings
// every TLS client of the benchmark uses, and an HTTPS generator that
// holds idle connections (tlsload).
package tlsload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// WriteCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1
// and localhost, valid for a day, and writes it and its key as PEM into
// dir; a benchmark makes a fresh one per run, so no key is ever kept.
func WriteCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return "", "", fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("marshal key: %w", err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", fmt.Errorf("write certificate: %w", err)
	}
	// nginx's worker may run as another user; the key is a throwaway.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o644); err != nil {
		return "", "", fmt.Errorf("write key: %w", err)
	}
	return certFile, keyFile, nil
}

// ClientConfig is the TLS configuration of the benchmark's Go clients:
// they trust the certificate in caFile (none: no verification) and offer
// X25519 only, so that every server runs the same key exchange (Go's
// default would offer a post-quantum hybrid that only some servers take).
func ClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: "127.0.0.1", CurvePreferences: []tls.CurveID{tls.X25519}}
	if caFile == "" {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// OpenSSLConf is an OPENSSL_CONF for wrk (OpenSSL): the same key exchange
// as ClientConfig's, and TLS 1.3's AES-128-GCM only, the suite Go's server
// picks on AES hardware, so nginx does not run AES-256 where workermand
// runs AES-128.
const OpenSSLConf = `openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Groups = X25519
Ciphersuites = TLS_AES_128_GCM_SHA256
`
