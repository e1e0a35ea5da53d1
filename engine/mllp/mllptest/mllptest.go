// Package mllptest provides TLS material for tests of MLLP (and other TLS)
// listeners: a throw-away certificate authority issuing server and client
// certificates.
package mllptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a test certificate authority. Its certificates are valid for one
// hour around their creation (unless made with NewCAValid or
// WriteServerPair) and use ECDSA P-256 keys.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// NewCA creates a certificate authority, failing t on error.
func NewCA(t testing.TB) *CA {
	t.Helper()
	return NewCAValid(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// NewCAValid creates a certificate authority whose own certificate is valid
// from notBefore to notAfter (for tests of expired CAs), failing t on error.
func NewCAValid(t testing.TB, notBefore, notAfter time.Time) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "carebridge test CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mllptest: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mllptest: parse CA certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, pool: pool}
}

// ServerTLS returns a server configuration with a certificate for hosts (IP
// addresses or DNS names; "127.0.0.1" and "localhost" when none are given).
// It trusts the CA for client certificates but does not ask for them: set
// ClientAuth to tls.RequireAndVerifyClientCert for mutual TLS.
func (ca *CA) ServerTLS(t testing.TB, hosts ...string) *tls.Config {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, tmpl)},
		ClientCAs:    ca.pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientTLS returns a client configuration trusting the CA, with a client
// certificate (common name "carebridge test client") if withCert is set.
func (ca *CA) ClientTLS(t testing.TB, withCert bool) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "carebridge test client"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		cfg.Certificates = []tls.Certificate{ca.issue(t, tmpl)}
	}
	return cfg
}

// issue signs a leaf certificate from tmpl with a new key; one without a
// validity period is valid for an hour either side of now.
func (ca *CA) issue(t testing.TB, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("mllptest: issue certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mllptest: parse certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mllptest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("mllptest: serial number: %v", err)
	}
	return n
}
