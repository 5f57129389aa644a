// Package testcert makes ECDSA P-256 certificates for tests: a test CA and
// the server certificates it signs, or self-signed ones. Keys are generated
// per test and never committed. Imported by tests only.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Options shape a certificate. The zero value is valid from an hour ago to
// a day from now, for "example.test" and 127.0.0.1, with a random serial.
type Options struct {
	// Names are the DNS names; the first is also the common name.
	Names []string
	// NotBefore and NotAfter bound the validity (see Options).
	NotBefore, NotAfter time.Time
	// Serial is the serial number (0: random), so a test can tell a
	// renewed certificate from the one it replaced.
	Serial int64
}

// Pair is a certificate and its key, parsed and as PEM.
type Pair struct {
	// Cert has its Leaf set, ready for tls.Config.Certificates.
	Cert    tls.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Write writes the pair as dir/base.pem and dir/base.key (mode 0600) and
// returns the two paths.
func (p Pair) Write(t testing.TB, dir, base string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, p.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, p.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Pool is a pool trusting the pair's certificate itself, for a
// self-signed one.
func (p Pair) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Cert.Leaf)
	return pool
}

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA's certificate, for a client's --cacert.
	PEM []byte
	// Pool trusts the CA, for a Go client's RootCAs.
	Pool *x509.CertPool
}

// NewCA makes a CA valid from an hour ago to a day from now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t, 0),
		Subject:               pkix.Name{CommonName: "workermand test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool}
}

// WriteCA writes the CA's certificate as dir/ca.pem and returns its path.
func (ca *CA) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue makes a server certificate signed by the CA.
func (ca *CA) Issue(t testing.TB, o Options) Pair {
	t.Helper()
	return issue(t, o, false, ca)
}

// SelfSigned makes a self-signed server certificate, which is its own CA
// (Pair.Pool trusts it).
func SelfSigned(t testing.TB, o Options) Pair {
	t.Helper()
	return issue(t, o, true, nil)
}

func issue(t testing.TB, o Options, isCA bool, ca *CA) Pair {
	t.Helper()
	if len(o.Names) == 0 {
		o.Names = []string{"example.test"}
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t, o.Serial),
		Subject:      pkix.Name{CommonName: o.Names[0]},
		DNSNames:     o.Names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := tmpl, key
	if isCA {
		// A self-signed certificate is trusted as its own root.
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	} else {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{
		Cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// serial returns n, or a random positive 63-bit serial when n is 0.
func serial(t testing.TB, n int64) *big.Int {
	t.Helper()
	if n > 0 {
		return big.NewInt(n)
	}
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		t.Fatal(err)
	}
	return s.Add(s, big.NewInt(1))
}
