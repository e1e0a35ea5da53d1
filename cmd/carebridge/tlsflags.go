package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// tlsFlags are the client TLS flags shared by send, replay and bench.
type tlsFlags struct {
	enabled    bool
	caFile     string
	certFile   string
	keyFile    string
	serverName string
	insecure   bool
}

func (f *tlsFlags) register(c *cobra.Command) {
	c.Flags().BoolVar(&f.enabled, "tls", false, "connect with TLS (implied by the other --tls-* flags)")
	c.Flags().StringVar(&f.caFile, "tls-ca", "", "CA bundle (PEM) to verify the server with (default: the system roots)")
	c.Flags().StringVar(&f.certFile, "tls-cert", "", "client certificate (PEM) for mutual TLS")
	c.Flags().StringVar(&f.keyFile, "tls-key", "", "client private key (PEM) for mutual TLS")
	c.Flags().StringVar(&f.serverName, "tls-server-name", "", "server name to verify (default: the host of --to)")
	c.Flags().BoolVar(&f.insecure, "tls-insecure", false, "do not verify the server's certificate (testing only)")
}

// config returns the client TLS configuration, or nil for plain TCP.
func (f *tlsFlags) config() (*tls.Config, error) {
	if !f.enabled && f.caFile == "" && f.certFile == "" && f.keyFile == "" && f.serverName == "" && !f.insecure {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName, InsecureSkipVerify: f.insecure} //nolint:gosec // opt-in for testing
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", f.caFile)
		}
		t.RootCAs = pool
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
