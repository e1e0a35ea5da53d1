package engine

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/carebridge/carebridge/config"
)

// ServerTLS builds a listener's TLS configuration from its settings, loading
// the certificate, key and client CA files.
func ServerTLS(c *config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load tls certificate: %w", err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.MinVersion == "1.3" {
		t.MinVersion = tls.VersionTLS13
	}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client ca %s: no PEM certificate found", c.ClientCAFile)
		}
		t.ClientCAs = pool
	}
	switch c.ClientAuth {
	case "require":
		t.ClientAuth = tls.RequireAndVerifyClientCert
	case "request":
		t.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return t, nil
}
