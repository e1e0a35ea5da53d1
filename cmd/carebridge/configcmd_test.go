package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/mllp/mllptest"
)

// TestConfigCheckTLSCertificates: config check and serve refuse an expired
// server certificate with its position and date, before serve touches the
// data directory; a certificate expiring within 30 days is a warning line
// and the check passes.
func TestConfigCheckTLSCertificates(t *testing.T) {
	dir, ca := t.TempDir(), mllptest.NewCA(t)
	for name, until := range map[string]time.Time{
		"old":  time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		"soon": time.Now().Add(5*24*time.Hour + time.Hour),
	} {
		ca.WriteServerPair(t, filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), until.Add(-10*24*time.Hour), until)
	}
	write := func(name, cert string) string {
		path := filepath.Join(dir, name)
		src := "data_dir: " + filepath.Join(dir, "data") + "\nhttp:\n  addr: \"\"\nmllp:\n  - addr: 127.0.0.1:0\n    tls:\n      cert_file: " + cert + ".crt\n      key_file: " + cert + ".key\n"
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	expired := write("expired.yaml", "old")
	want := expired + `:7:18: mllp[0].tls.cert_file: certificate "CN=127.0.0.1" in ` + filepath.Join(dir, "old.crt") + ` expired on 2024-05-01 12:00:00 UTC: renew it`
	if out, errOut, code := run(t, nil, "config", "check", expired); code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("config check: exit %d\n%s%s\nwant %s", code, out, errOut, want)
	}
	if out, errOut, code := run(t, nil, "serve", "--config", expired); code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("serve: exit %d\n%s%s\nwant %s", code, out, errOut, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("serve created its data directory before refusing: %v", err)
	}
	// What only reads the data directory still runs, an expired
	// certificate notwithstanding (it is what an operator reaches for then).
	if out, errOut, code := run(t, nil, "messages", "list", "--config", expired); code != 1 || !strings.Contains(errOut, "carebridge: no journal at") || strings.Contains(errOut, "expired on") {
		t.Fatalf("messages list: exit %d\n%s%s", code, out, errOut)
	}
	soon := write("soon.yaml", "soon")
	out, errOut, code := run(t, nil, "config", "check", soon)
	if code != 0 || !strings.Contains(out, ": ok (") {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}
	if want := "carebridge: warning: " + soon + `:7:18: mllp[0].tls.cert_file: certificate "CN=127.0.0.1" in ` + filepath.Join(dir, "soon.crt") + " expires on "; !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "(in 5 days): renew it\n") {
		t.Fatalf("warning:\n%s\nwant it to start %s", errOut, want)
	}
}

// TestServeChecksFlagAddresses: an address given on the command line is
// checked as the configuration's are, before anything is created.
func TestServeChecksFlagAddresses(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"--mllp", "127.0.0.1:99999"}, {"--http", "127.0.0.1:http"}} {
		_, errOut, code := run(t, nil, append([]string{"serve", "--data", data}, args...)...)
		if code != 2 || !strings.Contains(errOut, args[0]+` "`+args[1]+`": port`) {
			t.Errorf("serve %v: exit %d, %s", args, code, errOut)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("serve created its data directory before refusing: %v", err)
	}
}
