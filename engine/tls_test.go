package engine_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/engine/mllp/mllptest"
)

func TestTLSAndMutualTLSFromConfigFiles(t *testing.T) {
	ca := mllptest.NewCA(t)
	files := ca.WriteFiles(t, t.TempDir())
	caPool := x509.NewCertPool()
	pem, _ := os.ReadFile(files.CA)
	caPool.AppendCertsFromPEM(pem)
	clientCert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		tls      config.TLS
		withCert bool
		wantOK   bool
	}{
		{"tls", config.TLS{CertFile: files.ServerCert, KeyFile: files.ServerKey, ClientAuth: "none", MinVersion: "1.2"}, false, true},
		{"mtls with client cert", config.TLS{CertFile: files.ServerCert, KeyFile: files.ServerKey, ClientCAFile: files.CA, ClientAuth: "require", MinVersion: "1.2"}, true, true},
		{"mtls without client cert", config.TLS{CertFile: files.ServerCert, KeyFile: files.ServerKey, ClientCAFile: files.CA, ClientAuth: "require", MinVersion: "1.2"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, func(c *config.Config) { tl := tc.tls; c.MLLP[0].TLS = &tl })
			n := start(t, cfg, nil)
			ct := &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12}
			if tc.withCert {
				ct.Certificates = []tls.Certificate{clientCert}
			}
			c, err := mllp.Dial(context.Background(), n.addr, mllp.ClientOptions{TLSConfig: ct, AckTimeout: 5 * time.Second})
			var ack []byte
			if err == nil {
				defer c.Close()
				ack, err = c.Send(context.Background(), readFixture(t, "adt_a01.hl7"))
			}
			if !tc.wantOK {
				if err == nil {
					t.Fatalf("a client without a certificate got %q", ack)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if parseAck(t, ack).Get("MSA-1") != "AA" {
				t.Fatalf("ACK = %q", ack)
			}
		})
	}
	// A plain-TCP client cannot talk to a TLS listener.
	cfg := testConfig(t, func(c *config.Config) { c.MLLP[0].TLS = &cases[0].tls })
	n := start(t, cfg, nil)
	if c, err := mllp.Dial(context.Background(), n.addr, mllp.ClientOptions{AckTimeout: 2 * time.Second}); err == nil {
		_, err = c.Send(context.Background(), readFixture(t, "adt_a01.hl7"))
		c.Close()
		if err == nil {
			t.Fatal("plain TCP client got an ACK from a TLS listener")
		}
	}
}
