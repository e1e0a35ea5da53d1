package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReplayWaitsForTheServerThenGivesUpAndResumes runs the binary against
// an address nobody listens on: replay waits, says so, gives up after
// --give-up-after with exit status 1 and a state that records nothing as
// sent; once a server listens there, --resume sends every message.
func TestReplayWaitsForTheServerThenGivesUpAndResumes(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var buf bytes.Buffer
	for i := range 5 {
		buf.Write(synthetic(fmt.Sprintf("W%d", i), 7000+i))
		buf.WriteString("\n")
	}
	archive := filepath.Join(dir, "outage.hl7")
	os.WriteFile(archive, buf.Bytes(), 0o600)
	state := filepath.Join(dir, "replay.state")

	out, errOut, code := run(t, nil, "replay", "--to", addr, "--give-up-after", "300ms", "--state", state, archive)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout %s\nstderr %s", code, out, errOut)
	}
	waiting := regexp.MustCompile(`(?m)^replay: waiting for ` + regexp.QuoteMeta(addr) + ` \(connection refused\), retrying in 100ms; [1-5] messages waiting$`)
	if !waiting.MatchString(errOut) {
		t.Errorf("no waiting line in stderr:\n%s", errOut)
	}
	gaveUp := "carebridge: replay: gave up after waiting 300ms for " + addr + " (connection refused); 5 messages not sent: run again with --resume (state " + state + ") to send them and the rest\n"
	if !strings.HasSuffix(errOut, gaveUp) {
		t.Errorf("stderr does not end with %q:\n%s", gaveUp, errOut)
	}
	if !strings.Contains(out, "  accepted    0\n") || !strings.Contains(out, "  failed      0\n") {
		t.Errorf("summary:\n%s", out)
	}

	data := filepath.Join(dir, "data")
	startServer(t, data, "--mllp", addr)
	out, errOut, code = run(t, nil, "replay", "--to", addr, "--resume", "--state", state, "--json", "--quiet", archive)
	if code != 0 || !strings.Contains(out, `"accepted":5`) || !strings.Contains(out, `"skipped":0`) {
		t.Fatalf("resume: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if got := listMessages(t, data); len(got) != 5 {
		t.Errorf("journal holds %d entries, want 5", len(got))
	}

	if _, errOut, code := run(t, nil, "replay", "--to", addr, "--give-up-after", "-1s", archive); code != 2 || !strings.Contains(errOut, "--give-up-after -1s is negative") {
		t.Errorf("a negative --give-up-after: exit %d\n%s", code, errOut)
	}
}
