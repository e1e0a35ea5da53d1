package mllptest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are PEM files written by (*CA).WriteFiles, for components configured
// with file paths (such as Carebridge's TLS settings).
type Files struct {
	CA         string // the CA certificate
	ServerCert string // a server certificate for 127.0.0.1 and localhost
	ServerKey  string
	ClientCert string // a client certificate for mutual TLS
	ClientKey  string
}

// WriteFiles writes the CA certificate and a server and a client certificate
// with their keys as PEM files in dir.
func (ca *CA) WriteFiles(t testing.TB, dir string) Files {
	t.Helper()
	f := Files{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	writePEM(t, f.CA, "CERTIFICATE", ca.cert.Raw)
	writePair(t, f.ServerCert, f.ServerKey, ca.ServerTLS(t).Certificates[0])
	writePair(t, f.ClientCert, f.ClientKey, ca.ClientTLS(t, true).Certificates[0])
	return f
}

// WriteServerPair writes a server certificate for 127.0.0.1 and localhost,
// valid from notBefore to notAfter, and its key as PEM files certPath and
// keyPath: for tests of expired, not yet valid or soon expiring certificates.
func (ca *CA) WriteServerPair(t testing.TB, certPath, keyPath string, notBefore, notAfter time.Time) {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
	}
	writePair(t, certPath, keyPath, ca.issue(t, tmpl))
}

func writePair(t testing.TB, certPath, keyPath string, c tls.Certificate) {
	t.Helper()
	writePEM(t, certPath, "CERTIFICATE", c.Certificate[0])
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatalf("mllptest: marshal key: %v", err)
	}
	writePEM(t, keyPath, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("mllptest: write %s: %v", path, err)
	}
}
