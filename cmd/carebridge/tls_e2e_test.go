package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine/mllp/mllptest"
)

// TestMutualTLSFromTheCommandLine runs serve with a mutual-TLS listener from a
// configuration file and talks to it with send and replay --to, as a HIS
// integration would: with the client certificate it works, without it the
// handshake is refused.
func TestMutualTLSFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	files := mllptest.NewCA(t).WriteFiles(t, dir)
	cfg := fmt.Sprintf(`mllp:
  - addr: 127.0.0.1:0
    tls:
      cert_file: %s
      key_file: %s
      client_ca_file: %s
`, files.ServerCert, files.ServerKey, files.CA)
	cfgFile := filepath.Join(dir, "carebridge.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, nil, "config", "check", cfgFile); code != 0 {
		t.Fatalf("config check: %s %s", out, errOut)
	}
	data := filepath.Join(dir, "data")
	s := startServer(t, data, "--config", cfgFile)
	if !strings.Contains(s.logText(), "tls=true") {
		t.Fatalf("listener not TLS:\n%s", s.logText())
	}
	tlsArgs := []string{"--tls-ca", files.CA, "--tls-cert", files.ClientCert, "--tls-key", files.ClientKey}

	out, errOut, code := run(t, nil, append([]string{"send", "--to", s.addr, "../../testdata/hl7/adt_a01.hl7"}, tlsArgs...)...)
	if code != 0 || !strings.Contains(out, "MSG00001\tAA") {
		t.Fatalf("send over mTLS: exit %d\n%s\n%s", code, out, errOut)
	}
	// Without a client certificate the server refuses the connection.
	out, _, code = run(t, nil, "send", "--to", s.addr, "--tls-ca", files.CA, "--timeout", "5s", "../../testdata/hl7/adt_a08.hl7")
	if code == 0 || strings.Contains(out, "\tAA") {
		t.Fatalf("send without a client certificate was accepted: %s", out)
	}
	// Plain MLLP to the TLS listener: the server hangs up without a word;
	// send says what that most likely means.
	out, _, code = run(t, nil, "send", "--to", s.addr, "--timeout", "5s", "../../testdata/hl7/adt_a08.hl7")
	if code == 0 || !strings.Contains(out, "if it listens with TLS, add --tls and --tls-ca") {
		t.Fatalf("plain send to a TLS listener: exit %d, no hint: %s", code, out)
	}
	// Replay over MLLP with TLS: every message accepted.
	out, errOut, code = run(t, nil, append([]string{"replay", "--to", s.addr, "--json", "--quiet", "--state", filepath.Join(dir, "state"), "../../testdata/hl7"}, tlsArgs...)...)
	if code != 0 || !strings.Contains(out, `"accepted":4`) {
		t.Fatalf("replay --to over mTLS: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := listMessages(t, data, "--control-id", "MSG00002"); len(got) != 1 {
		t.Fatalf("replayed message not journaled once: %+v", got)
	}
}

// TestSendNoTLSHintForAnUnansweredNE: a message whose MSH-15 asks for no
// accept acknowledgement gets none, and the listener may close the idle
// connection before --timeout: that is no sign of a TLS listener, and send
// does not say it is.
func TestSendNoTLSHintForAnUnansweredNE(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "carebridge.yaml")
	if err := os.WriteFile(cfgFile, []byte("mllp:\n  - addr: 127.0.0.1:0\n    idle_timeout: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, "data"), "--config", cfgFile)
	msg := filepath.Join(dir, "ne.hl7")
	raw := "MSH|^~\\&|ADT|HOSP|CB|CB|20261101120000||ADT^A08^ADT_A01|NE0001|P|2.5.1|||NE|NE\rPID|1||N1^^^HOSP^MR||Quiet^Nora\r"
	if err := os.WriteFile(msg, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, nil, "send", "--to", s.addr, "--timeout", "20s", msg)
	if code == 0 || !strings.Contains(out, "NE0001\tERROR") || strings.Contains(out, "TLS") {
		t.Fatalf("send of an NE message: exit %d: %s", code, out)
	}
}
