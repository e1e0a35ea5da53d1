package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// ExpiryWarning is how long before a certificate expires the loader warns
// (Config.Warnings; `config check` prints them).
const ExpiryWarning = 30 * 24 * time.Hour

// tlsProblem is a problem with one of a listener's TLS files: the setting
// it is about (cert_file, key_file, client_ca_file) and whether it is only a
// warning.
type tlsProblem struct {
	key  string
	msg  string
	warn bool
}

// ServerConfig loads the certificate, key and client CA files and builds the
// listener's TLS configuration. It is the one TLS loader: Parse runs it on
// every listener (so `config check` and `serve` refuse the same files with
// the same positioned messages), and the engine builds its listeners with
// it. A certificate in cert_file that is not valid at now (expired, or not
// yet valid), and a client CA file without a certificate valid at now, are
// errors: every sender would fail the handshake. The error joins every
// problem, each as "key: message".
func (t *TLS) ServerConfig(now time.Time) (*tls.Config, error) {
	cfg, problems := t.load(now)
	var errs []error
	for _, p := range problems {
		if !p.warn {
			errs = append(errs, fmt.Errorf("%s: %s", p.key, p.msg))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func (t *TLS) load(now time.Time) (*tls.Config, []tlsProblem) {
	var problems []tlsProblem
	add := func(key string, warn bool, format string, args ...any) {
		problems = append(problems, tlsProblem{key: key, msg: fmt.Sprintf(format, args...), warn: warn})
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	switch t.ClientAuth {
	case "require":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "request":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	certPEM, certs, err := readCertificates(t.CertFile)
	if err != nil {
		add("cert_file", false, "%v", err)
	}
	keyPEM, keyErr := os.ReadFile(t.KeyFile)
	if keyErr != nil {
		add("key_file", false, "%v", keyErr)
	}
	if err == nil && keyErr == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			add("key_file", false, "%s: %v", t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	for i, c := range certs {
		what := fmt.Sprintf("certificate %q in %s", c.Subject.String(), t.CertFile)
		if i > 0 {
			what = "chain " + what
		}
		switch {
		case now.After(c.NotAfter):
			add("cert_file", false, "%s expired on %s: renew it", what, when(c.NotAfter))
		case now.Before(c.NotBefore):
			add("cert_file", false, "%s is not valid until %s", what, when(c.NotBefore))
		case c.NotAfter.Sub(now) < ExpiryWarning:
			add("cert_file", true, "%s expires on %s (in %s): renew it", what, when(c.NotAfter), left(c.NotAfter.Sub(now)))
		}
	}
	if t.ClientCAFile != "" {
		_, cas, err := readCertificates(t.ClientCAFile)
		if err != nil {
			add("client_ca_file", false, "%v", err)
		}
		pool := x509.NewCertPool()
		var invalid []string
		for _, c := range cas {
			switch {
			case now.After(c.NotAfter):
				invalid = append(invalid, fmt.Sprintf("CA certificate %q in %s expired on %s", c.Subject.String(), t.ClientCAFile, when(c.NotAfter)))
			case now.Before(c.NotBefore):
				invalid = append(invalid, fmt.Sprintf("CA certificate %q in %s is not valid until %s", c.Subject.String(), t.ClientCAFile, when(c.NotBefore)))
			default:
				pool.AddCert(c)
			}
		}
		// One CA still valid keeps the file usable: the others only warn.
		allInvalid := len(cas) > 0 && len(invalid) == len(cas)
		for _, msg := range invalid {
			add("client_ca_file", !allInvalid, "%s", msg)
		}
		cfg.ClientCAs = pool
	}
	return cfg, problems
}

// readCertificates reads a PEM file and parses every certificate in it; a
// file without one is an error.
func readCertificates(path string) ([]byte, []*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: certificate %d: %w", path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return b, certs, nil
}

// when renders a certificate's validity bound.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// left renders the time until a certificate expires, in days or, under
// one, in hours and minutes.
func left(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.Truncate(time.Minute).String()
}
