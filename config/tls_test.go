package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/mllp/mllptest"
)

// TestTLSFilesCheckedAtLoad: the loader loads every listener's TLS files and
// reports every problem at once, each at its setting: a certificate expired
// or not yet valid (with its date), a CA file without a certificate, a
// missing file, a key that is not the certificate's. A certificate expiring
// within ExpiryWarning only warns.
func TestTLSFilesCheckedAtLoad(t *testing.T) {
	dir := t.TempDir()
	ca := mllptest.NewCA(t)
	files := ca.WriteFiles(t, dir)
	now := time.Now()
	pair := func(name string, from, to time.Time) {
		ca.WriteServerPair(t, filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), from, to)
	}
	pair("good", now.Add(-time.Hour), now.Add(365*24*time.Hour))
	pair("expired", now.Add(-48*time.Hour), time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	pair("future", time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	pair("soon", now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour))
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("empty-ca.pem", "not a certificate\n")
	expiredCA := mllptest.NewCAValid(t, now.Add(-72*time.Hour), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)).WriteFiles(t, t.TempDir())
	bundle, _ := os.ReadFile(files.CA)
	old, _ := os.ReadFile(expiredCA.CA)
	write("bundle.pem", string(old)+string(bundle))

	listener := func(addr, cert, key, ca string) string {
		s := "  - addr: " + addr + "\n    tls:\n      cert_file: " + cert + "\n      key_file: " + key + "\n"
		if ca != "" {
			s += "      client_ca_file: " + ca + "\n"
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		mllp     string
		errs     []string // each a whole line
		warnings []string
	}{
		{"good", listener("127.0.0.1:1", "good.crt", "good.key", files.CA), nil, nil},
		{"expired", listener("127.0.0.1:1", "expired.crt", "expired.key", ""), []string{
			`c.yaml:6:18: mllp[0].tls.cert_file: certificate "CN=127.0.0.1" in ` + dir + `/expired.crt expired on 2024-05-01 12:00:00 UTC: renew it`,
		}, nil},
		{"not yet valid", listener("127.0.0.1:1", "future.crt", "future.key", ""), []string{
			`c.yaml:6:18: mllp[0].tls.cert_file: certificate "CN=127.0.0.1" in ` + dir + `/future.crt is not valid until 2099-01-02 03:04:05 UTC`,
		}, nil},
		{"expires soon", listener("127.0.0.1:1", "soon.crt", "soon.key", ""), nil, []string{
			`c.yaml:6:18: mllp[0].tls.cert_file: certificate "CN=127.0.0.1" in ` + dir + `/soon.crt expires on `,
			`(in 10 days): renew it`,
		}},
		{"every problem of two listeners", listener("127.0.0.1:1", "good.crt", "good.key", "empty-ca.pem") + listener("127.0.0.1:2", "nope.crt", "good.key", ""), []string{
			`c.yaml:8:23: mllp[0].tls.client_ca_file: ` + dir + `/empty-ca.pem: no PEM certificate found`,
			`c.yaml:11:18: mllp[1].tls.cert_file: open ` + dir + `/nope.crt: no such file or directory`,
		}, nil},
		{"key of another certificate", listener("127.0.0.1:1", "good.crt", "expired.key", ""), []string{
			`c.yaml:7:17: mllp[0].tls.key_file: ` + dir + `/expired.key: tls: private key does not match public key`,
		}, nil},
		{"expired client CA", listener("127.0.0.1:1", "good.crt", "good.key", expiredCA.CA), []string{
			`c.yaml:8:23: mllp[0].tls.client_ca_file: CA certificate "CN=carebridge test CA" in ` + expiredCA.CA + ` expired on 2024-06-01 00:00:00 UTC`,
		}, nil},
		{"an expired CA beside a valid one", listener("127.0.0.1:1", "good.crt", "good.key", "bundle.pem"), nil, []string{
			`c.yaml:8:23: mllp[0].tls.client_ca_file: CA certificate "CN=carebridge test CA" in ` + dir + `/bundle.pem expired on 2024-06-01 00:00:00 UTC`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "c.yaml")
			src := "http:\n  addr: \"\"\nmllp:\n" + tc.mllp
			write("c.yaml", src)
			c, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v (the files' problems stop only what listens: CheckFiles)", err)
			}
			got := ""
			if err := c.CheckFiles(); err != nil {
				got = strings.ReplaceAll(err.Error(), file, "c.yaml")
			}
			if want := strings.Join(tc.errs, "\n"); got != want {
				t.Fatalf("errors:\n%s\nwant:\n%s", got, want)
			}
			if got != "" {
				return
			}
			var warnings []string
			for _, w := range c.Warnings {
				warnings = append(warnings, strings.ReplaceAll(w.Error(), file, "c.yaml"))
			}
			if len(tc.warnings) == 0 && len(warnings) > 0 || len(tc.warnings) > 0 && len(warnings) != 1 {
				t.Fatalf("warnings %q, want %q", warnings, tc.warnings)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(warnings[0], w) {
					t.Errorf("warning %q lacks %q", warnings[0], w)
				}
			}
		})
	}
}

// TestServerConfigRefusesExpiredCertificate: the engine's listeners are
// built by the same loader, so a certificate that expired after `config
// check` still keeps serve from starting.
func TestServerConfigRefusesExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	mllptest.NewCA(t).WriteServerPair(t, cert, key, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	c := &TLS{CertFile: cert, KeyFile: key, ClientAuth: "none", MinVersion: "1.2"}
	if _, err := c.ServerConfig(time.Now()); err != nil {
		t.Fatalf("valid now: %v", err)
	}
	_, err := c.ServerConfig(time.Now().Add(2 * time.Hour))
	if err == nil || !strings.HasPrefix(err.Error(), "cert_file: certificate \"CN=127.0.0.1\" in "+cert+" expired on ") {
		t.Fatalf("two hours later: %v", err)
	}
}
