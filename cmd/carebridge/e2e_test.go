package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

// binary is the carebridge binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "carebridge-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "carebridge")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		// -race needs cgo; fall back to a plain build.
		build = exec.Command("go", "build", "-o", binary, ".")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build carebridge:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a `carebridge serve` process.
type server struct {
	cmd   *exec.Cmd
	addr  string
	http  string
	exit  chan error
	logMu sync.Mutex
	log   bytes.Buffer
	grown chan struct{} // closed and replaced whenever the log grows
}

// waitLogOrProcessed waits for the next log line or a short while, whichever
// comes first: processing leaves no log line, so a bounded wait is used
// between two polls of another process's database.
func (s *server) waitLogOrProcessed(t *testing.T) {
	s.logMu.Lock()
	grown := s.grown
	s.logMu.Unlock()
	select {
	case <-grown:
	case <-time.After(10 * time.Millisecond):
	}
}

// waitLog waits until the server's log holds want (after the first `after`
// bytes), or fails the test after a deadline.
func (s *server) waitLog(t *testing.T, want string, after int) int {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.logMu.Lock()
		text := s.log.String()
		grown := s.grown
		s.logMu.Unlock()
		if i := strings.Index(text[min(after, len(text)):], want); i >= 0 {
			return after + i + len(want)
		}
		select {
		case <-grown:
		case <-deadline:
			t.Fatalf("the log never said %q:\n%s", want, text)
		}
	}
}

var listenRe = regexp.MustCompile(`msg="(mllp|http) listener started".* addr=(\S+)`)

// startServer runs `carebridge serve` on ports chosen by the kernel and
// waits until both listeners report their address.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--mllp", "127.0.0.1:0", "--http", "127.0.0.1:0"}, extra...)
	s := &server{cmd: exec.Command(binary, args...), exit: make(chan error, 1), grown: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.log.WriteString(line + "\n")
			close(s.grown)
			s.grown = make(chan struct{})
			if m := listenRe.FindStringSubmatch(line); m != nil {
				if m[1] == "mllp" {
					s.addr = m[2]
				} else {
					s.http = m[2]
				}
				if s.addr != "" && s.http != "" {
					close(found)
				}
			}
			s.logMu.Unlock()
		}
		s.exit <- s.cmd.Wait()
	}()
	select {
	case <-found:
	case err := <-s.exit:
		t.Fatalf("serve exited early (%v):\n%s", err, s.logText())
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("serve did not start:\n%s", s.logText())
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.exit
		}
	})
	return s
}

func (s *server) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// run runs the binary with args and returns stdout, stderr and the exit status.
func run(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

type listed struct {
	ID          int64  `json:"id"`
	Status      string `json:"status"`
	MessageType string `json:"message_type"`
	Sender      string `json:"sender"`
	ControlID   string `json:"control_id"`
}

func listMessages(t *testing.T, data string, filters ...string) []listed {
	t.Helper()
	out, errOut, code := run(t, nil, append([]string{"messages", "list", "--json", "--data", data}, filters...)...)
	if code != 0 {
		t.Fatalf("messages list: exit %d: %s", code, errOut)
	}
	var res []listed
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var l listed
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		res = append(res, l)
	}
	return res
}

func synthetic(ctrl string, n int) []byte {
	return fmt.Appendf(nil, "MSH|^~\\&|E2E|GENHOSP|CB|CB|20261101120000||ADT^A08^ADT_A01|%s|P|2.5.1\rEVN|A08|20261101120000\rPID|1||E2E%06d^^^GENHOSP^MR||Synthetic^Person%d||19900101|U\r", ctrl, n, n)
}

// TestKillMidStreamLosesNothingAcked is the commit-before-ACK proof: the real
// binary is SIGKILLed while four senders stream messages; after a restart,
// every message that was ACKed is in the journal exactly once, and every
// journaled message gets processed.
func TestKillMidStreamLosesNothingAcked(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	const senders = 4
	var mu sync.Mutex
	acked := map[string]bool{}
	total := 0
	killAt := 400
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mllp.Dial(context.Background(), s.addr, mllp.ClientOptions{AckTimeout: 5 * time.Second})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				ctrl := fmt.Sprintf("K%d-%d", w, i)
				ack, err := c.Send(context.Background(), synthetic(ctrl, w*100000+i))
				if err != nil {
					return // the server is gone
				}
				m, err := hl7.Parse(ack)
				if err != nil || m.Get("MSA-1") != "AA" {
					t.Errorf("ACK for %s: %q", ctrl, ack)
					return
				}
				mu.Lock()
				acked[ctrl] = true
				total++
				if total == killAt {
					s.cmd.Process.Signal(syscall.SIGKILL)
					close(killed)
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-killed:
	case err := <-s.exit:
		t.Fatalf("server exited before the kill: %v\n%s", err, s.logText())
	case <-time.After(60 * time.Second):
		t.Fatal("senders did not reach the kill point")
	}
	wg.Wait()
	<-s.exit
	if t.Failed() {
		return
	}

	s2 := startServer(t, data)
	_ = s2
	seen := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending := listMessages(t, data, "--status", "received,processing")
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending after restart", len(pending))
		}
		time.Sleep(50 * time.Millisecond) // polling another process's database, bounded by the deadline
	}
	for _, l := range listMessages(t, data) {
		if l.Status == "duplicate" {
			t.Errorf("entry %d (%s) is a duplicate although nothing was resent", l.ID, l.ControlID)
		}
		if l.Status != "processed" {
			t.Errorf("entry %d (%s) ended %s", l.ID, l.ControlID, l.Status)
		}
		seen[l.ControlID]++
	}
	for ctrl := range acked {
		if seen[ctrl] != 1 {
			t.Errorf("ACKed message %s is in the journal %d times", ctrl, seen[ctrl])
		}
	}
	for ctrl, n := range seen {
		if n != 1 {
			t.Errorf("message %s journaled %d times", ctrl, n)
		}
	}
	checkAppliedOnce(t, data, listMessages(t, data))
	t.Logf("%d messages ACKed before the kill, %d journaled", len(acked), len(seen))
}

// checkAppliedOnce proves exactly-once application to the record: each
// message (an A08 of a patient not seen before) creates its Patient, so
// every processed message has exactly one Patient write in the change feed
// under its journal ID and every other message none, and no resource was
// written twice by the same message.
func checkAppliedOnce(t *testing.T, data string, entries []listed) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(data, "carebridge.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	patients := map[int64]int{}
	writes := map[string]int{}
	for after := int64(0); ; {
		cs, err := st.Changes(ctx, after, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			after = c.Seq
			if c.Type == "Patient" {
				patients[c.JournalID]++
			}
			writes[fmt.Sprintf("%d %s/%s", c.JournalID, c.Type, c.ID)]++
		}
	}
	for _, e := range entries {
		if e.Status == "processed" && patients[e.ID] != 1 {
			t.Errorf("processed message %d (%s) has %d Patient writes in the change feed, want 1", e.ID, e.ControlID, patients[e.ID])
		}
		if e.Status != "processed" && patients[e.ID] != 0 {
			t.Errorf("message %d (%s) is %s but changed the record", e.ID, e.ControlID, e.Status)
		}
	}
	for k, n := range writes {
		if n != 1 {
			t.Errorf("%s written %d times by one message", k, n)
		}
	}
}

func TestGracefulShutdownAndCLI(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	fixtures, _ := filepath.Glob("../../testdata/hl7/*.hl7")
	out, errOut, code := run(t, nil, append([]string{"send", "--to", s.addr}, fixtures...)...)
	if code != 0 || strings.Count(out, "\tAA\t") != len(fixtures) {
		t.Fatalf("send: exit %d\n%s\n%s", code, out, errOut)
	}
	// A file without any HL7 message is an error, not silence.
	notHL7 := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notHL7, []byte("just some notes\n"), 0o600)
	out, errOut, code = run(t, nil, "send", "--to", s.addr, notHL7)
	if code != 1 || out != "" || !strings.Contains(errOut, notHL7+": no HL7 messages found") {
		t.Fatalf("send of a file without messages: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A resend is a duplicate, still AA; a bad message makes send exit 1.
	bad := "MSH|^~\\&|E2E|GENHOSP|CB|CB|20261101||ADT^A01|BAD1|P|\r"
	out, _, code = run(t, strings.NewReader(bad), "send", "--to", s.addr, "-")
	if code != 1 || !strings.Contains(out, "AR") {
		t.Fatalf("send of a bad message: exit %d, %q; want exit 1 and AR", code, out)
	}
	// list works while serve runs, with filters.
	if got := listMessages(t, data, "--type", "ADT"); len(got) != 3 {
		t.Fatalf("ADT messages listed: %+v", got)
	}
	rej := listMessages(t, data, "--status", "rejected")
	if len(rej) != 1 || rej[0].ControlID != "BAD1" {
		t.Fatalf("rejected: %+v", rej)
	}
	out, _, code = run(t, nil, "messages", "show", fmt.Sprint(rej[0].ID), "--data", data)
	if code != 0 || !strings.Contains(out, "MSA|AR|BAD1") || !strings.Contains(out, "ERR|") || !strings.Contains(out, "\n  MSH|^~\\&|E2E") {
		t.Fatalf("show: %s", out)
	}
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`carebridge_messages_received_total{listener="mllp",type="ADT^A01"} 2`, // one accepted, one rejected
		`carebridge_acks_total{code="AA",listener="mllp"} 4`,
		`carebridge_acks_total{code="AR",listener="mllp"} 1`,
		`carebridge_messages_rejected_total{listener="mllp"} 1`,
		`carebridge_ack_latency_seconds_count{listener="mllp"} 5`,
		`carebridge_journal_commit_seconds_count`,
		`carebridge_mllp_connections_open{listener="mllp"} 0`,
		`carebridge_messages_processed_total{status="processed"} 4`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exit:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, s.logText())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.Contains(s.logText(), "stopped") {
		t.Fatalf("no orderly stop in the log:\n%s", s.logText())
	}
	// Reprocess works with the server stopped, and twice changes nothing more.
	for range 2 {
		out, errOut, code = run(t, nil, "messages", "reprocess", "--data", data, "--type", "SIU")
		if code != 0 || !strings.Contains(out, "queued 1 message") || !strings.Contains(out, "processed here: 1") {
			t.Fatalf("reprocess: exit %d: %s %s", code, out, errOut)
		}
	}
	if got := listMessages(t, data, "--status", "processed"); len(got) != 4 {
		t.Fatalf("processed after reprocess: %+v", got)
	}
	// Reprocessing every message changes nothing in the record: the same
	// content writes no version, older events do not overwrite newer ones.
	before := changeCount(t, data)
	for range 2 {
		if out, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--status", "processed"); code != 0 || !strings.Contains(out, "processed here: 4") {
			t.Fatalf("reprocess all: exit %d: %s %s", code, out, errOut)
		}
		if after := changeCount(t, data); after != before {
			t.Fatalf("reprocessing changed the record: %d changes before, %d after", before, after)
		}
	}
	// The record those messages made.
	out, errOut, code = run(t, nil, "patients", "show", "--identifier", "MRN100001", "--data", data)
	if code != 0 || !strings.Contains(out, "Alice Marie Testperson") || !strings.Contains(out, "balance 100.00") {
		t.Fatalf("patients show: exit %d\n%s%s", code, out, errOut)
	}
}

// changeCount is the number of rows in the record's change feed.
func changeCount(t *testing.T, data string) int {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "carebridge.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for after := int64(0); ; {
		cs, err := st.Changes(context.Background(), after, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			return n
		}
		n += len(cs)
		after = cs[len(cs)-1].Seq
	}
}

func TestConfigCheckReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("journal:\n  durability: maybe\nmllp:\n  - addr: nowhere\n    ack_polcy: on-commit\n"), 0o600)
	_, errOut, code := run(t, nil, "config", "check", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":2:15: journal.durability", bad + ":4:11: mllp[0].addr", bad + `:5:5: mllp[0].ack_polcy: unknown setting (did you mean "ack_policy"?)`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("config check output lacks %q:\n%s", want, errOut)
		}
	}
	out, _, code := run(t, nil, "config", "check")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("default config check: %d %s", code, out)
	}
}

func TestReplayIntoJournalResumeAndDryRun(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	archive := filepath.Join(dir, "archive")
	os.MkdirAll(filepath.Join(archive, "2026", "11"), 0o750)
	var buf bytes.Buffer
	for i := range 500 {
		buf.Write(synthetic(fmt.Sprintf("R%d", i), i))
		buf.WriteString("\n")
	}
	os.WriteFile(filepath.Join(archive, "2026", "11", "day1.hl7"), buf.Bytes(), 0o600)
	// An MLLP-framed capture with one bad message.
	var framed bytes.Buffer
	mllp.WriteFrame(&framed, synthetic("F1", 9001))
	mllp.WriteFrame(&framed, []byte("MSH|^~\\&|E2E|GENHOSP|CB|CB|20261101||ADT^A01|F2|P|\r"))
	os.WriteFile(filepath.Join(archive, "capture.mllp"), framed.Bytes(), 0o600)

	out, errOut, code := run(t, nil, "replay", "--dry-run", "--json", archive)
	if code != 1 || !strings.Contains(errOut, "capture.mllp") || !strings.Contains(out, `"fine":501`) {
		t.Fatalf("dry run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	state := filepath.Join(dir, "replay.state")
	out, errOut, code = run(t, nil, "replay", "--data", data, "--state", state, "--json", archive)
	if code != 1 || !strings.Contains(out, `"accepted":501`) || !strings.Contains(out, `"rejected":1`) {
		t.Fatalf("replay: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if got := listMessages(t, data); len(got) != 502 {
		t.Fatalf("journal holds %d entries, want 502", len(got))
	}
	// Resuming a finished replay sends nothing again.
	out, errOut, _ = run(t, nil, "replay", "--data", data, "--state", state, "--resume", "--json", archive)
	if !strings.Contains(out, `"skipped":502`) || !strings.Contains(out, `"accepted":0`) {
		t.Fatalf("resume: %s %s", out, errOut)
	}
	// Resuming into another journal is refused: nothing was delivered there.
	other := filepath.Join(dir, "other-data")
	_, errOut, code = run(t, nil, "replay", "--data", other, "--state", state, "--resume", archive)
	if code != 2 || !strings.Contains(errOut, "journal:"+filepath.Join(data, "carebridge.db")) ||
		!strings.Contains(errOut, "journal:"+filepath.Join(other, "carebridge.db")) || !strings.Contains(errOut, "--state") {
		t.Fatalf("resume into another journal: exit %d\n%s", code, errOut)
	}
	// Replaying again without resume: every message is a duplicate.
	out, _, _ = run(t, nil, "replay", "--data", data, "--state", state, "--json", archive)
	if !strings.Contains(out, `"duplicates":501`) {
		t.Fatalf("second replay: %s", out)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"}, {"serv"}, {"messages", "frob"}, {"messages", "show"}, {"send", "--nope"},
		{"help", "frob"}, {"help", "messages", "frob"},
		// Usage errors found by the commands themselves carry the hint too.
		{"send", "--to", "127.0.0.1:1"}, {"send", "--to", "127.0.0.1:1", "--data", "x", "f.hl7"},
		{"messages", "show", "abc"}, {"messages", "list", "--status", "nope"},
		{"patients", "search", "--identifier", "urn:x|"},
	} {
		out, errOut, code := run(t, nil, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("%v: exit %d (stdout %q, stderr %q), want 2 with a message and a usage hint", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"replay"}} {
		_, errOut, code := run(t, nil, args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d (stderr %q), want 2 with a message", args, code, errOut)
		}
	}
	// Help on a real topic still works.
	if out, errOut, code := run(t, nil, "help", "messages", "list"); code != 0 || !strings.Contains(out, "carebridge messages list") {
		t.Errorf("help messages list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestSecondServeOnSameDataDirIsRefused: a second serve on a data directory
// in use exits 1 naming the running one, and leaves it working.
func TestSecondServeOnSameDataDirIsRefused(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	// Same address too: the lock, not the bind, must refuse it.
	_, errOut, code := run(t, nil, "serve", "--data", data, "--mllp", s.addr, "--http", "")
	want := fmt.Sprintf("data directory %s is in use by another carebridge serve (pid %d)", data, s.cmd.Process.Pid)
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("second serve: exit %d, stderr:\n%s\nwant exit 1 and %q", code, errOut, want)
	}
	out, errOut, code := run(t, nil, "send", "--to", s.addr, "../../testdata/hl7/adt_a01.hl7")
	if code != 0 || !strings.Contains(out, "\tAA\t") {
		t.Fatalf("send to the first server: exit %d\n%s\n%s", code, out, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := listMessages(t, data)
		if len(got) == 1 && got[0].Status == "processed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first server did not process the message: %+v\n%s", got, s.logText())
		}
		time.Sleep(50 * time.Millisecond) // polling another process's database, bounded by the deadline
	}
}

// TestCPUProfileWrittenWhenCommandFails: the hidden --cpuprofile flag
// leaves a complete profile also when the command fails.
func TestCPUProfileWrittenWhenCommandFails(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.prof")
	_, errOut, code := run(t, nil, "--cpuprofile", prof, "messages", "list", "--data", filepath.Join(dir, "no-such-data"))
	if code != 1 {
		t.Fatalf("messages list on a missing journal: exit %d (%s), want 1", code, errOut)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // a profile is gzip-compressed protobuf
		t.Fatalf("profile is %d bytes, not a gzip stream", len(b))
	}
}

// TestReplayMissingPathsAreAUsageError: every missing path is reported,
// nothing is replayed and no summary is printed.
func TestReplayMissingPathsAreAUsageError(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	missing1, missing2 := filepath.Join(dir, "no-such-archive"), filepath.Join(dir, "nor-this.hl7")
	for _, extra := range [][]string{{"--dry-run"}, {"--data", data}, {"--data", data, "--json"}} {
		args := append([]string{"replay", "../../testdata/hl7", missing1, missing2}, extra...)
		out, errOut, code := run(t, nil, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, missing1) || !strings.Contains(errOut, missing2) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, no summary, both paths named", extra, code, out, errOut)
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("the journal was created although nothing could be replayed")
	}
}

func TestBenchArchiveReportsFilesWritten(t *testing.T) {
	for _, tc := range []struct {
		messages, files, want int
	}{
		{5, 10, 5},
		{5, 4, 3},
		{10, 3, 3},
	} {
		dir := t.TempDir()
		out, errOut, code := run(t, nil, "bench", "archive", "--out", dir, "--messages", fmt.Sprint(tc.messages), "--files", fmt.Sprint(tc.files))
		written, _ := filepath.Glob(filepath.Join(dir, "archive-*.hl7"))
		want := fmt.Sprintf("wrote %d messages in %d file(s) under %s\n", tc.messages, tc.want, dir)
		if code != 0 || out != want || len(written) != tc.want {
			t.Errorf("--messages %d --files %d: exit %d, %q (stderr %q), %d files; want %q", tc.messages, tc.files, code, out, errOut, len(written), want)
		}
	}
}

// TestReusedControlIDIsKeptVisibleAndReprocessable: a different message
// under a used control ID is a duplicate (not processed) but says so, and
// `messages reprocess ID` processes it; IDs that cannot be queued are named
// with the reason.
func TestReusedControlIDIsKeptVisibleAndReprocessable(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	first, reused := filepath.Join(dir, "first.hl7"), filepath.Join(dir, "reused.hl7")
	os.WriteFile(first, synthetic("REUSED1", 1), 0o600)
	os.WriteFile(reused, synthetic("REUSED1", 2), 0o600) // another patient, same control ID
	for _, f := range []string{first, reused} {
		if out, errOut, code := run(t, nil, "replay", "--data", data, f); code != 0 {
			t.Fatalf("replay %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
	out, errOut, code := run(t, nil, "messages", "list", "--data", data, "--status", "duplicate", "--json")
	var dup struct {
		ID    int64  `json:"id"`
		Error string `json:"error"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &dup) != nil || !strings.Contains(dup.Error, "but a different message: not processed") {
		t.Fatalf("messages list --status duplicate: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, "messages", "reprocess", "--data", data, fmt.Sprint(dup.ID), "99999")
	// The duplicate is processed; the ID that names nothing fails the
	// command (as `messages show 99999` does), after the rest is done.
	if code != 1 || !strings.Contains(out, "queued 1 message(s)") || !strings.Contains(out, "not queued: 99999: no such message") ||
		!strings.Contains(out, "processed here: 2 (processed 2") || !strings.Contains(errOut, "carebridge: 1 message ID(s) not queued: no such message, or rejected") {
		t.Fatalf("reprocess the duplicate: exit %d\n%s%s", code, out, errOut)
	}
	for _, l := range listMessages(t, data) {
		if l.Status != "processed" {
			t.Errorf("entry %d (%s) is %s, want processed", l.ID, l.ControlID, l.Status)
		}
	}
	out, _, code = run(t, nil, "patients", "show", "--data", data, "--identifier", "E2E000002")
	if code != 0 || !strings.Contains(out, "Synthetic") {
		t.Fatalf("the reused control ID's patient is not in the record: exit %d\n%s", code, out)
	}
	out, errOut, code = run(t, nil, "messages", "reprocess", "--data", data, "--json", fmt.Sprint(dup.ID), "99999")
	want := fmt.Sprintf(`{"queued":1,"ids":[{"id":99999,"queued":false,"why":"no such message"}],"processed_here":{"total":1,"processed":1,"failed":0,"filtered":0}}` + "\n")
	if code != 1 || out != want {
		t.Fatalf("reprocess --json: exit %d\n%s%s\nwant %s", code, out, errOut, want)
	}
	// Statuses that are never reprocessed are a usage error.
	for _, st := range []string{"duplicate", "rejected", "received,failed"} {
		if _, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--status", st); code != 2 || !strings.Contains(errOut, "only processed, failed or filtered messages can be reprocessed") {
			t.Errorf("reprocess --status %s: exit %d, %s", st, code, errOut)
		}
	}
}

// TestConfigCheckTakesConfigFlag: config check takes its file as the other
// commands do (--config) as well as positionally, not both.
func TestConfigCheckTakesConfigFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cb.yaml")
	if err := os.WriteFile(file, []byte("data_dir: somewhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "check", file}, {"config", "check", "--config", file}} {
		if out, errOut, code := run(t, nil, args...); code != 0 || !strings.Contains(out, file+": ok") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if _, errOut, code := run(t, nil, "config", "check", file, "--config", file); code != 2 || !strings.Contains(errOut, "not both") {
		t.Errorf("FILE and --config: exit %d, %s", code, errOut)
	}
}

// A dry run maps too: a message no map handles, and one a (broken) map of
// the --mappings directory cannot map, are problems with the map's
// file:line; the shipped maps' messages are fine.
func TestReplayDryRunMaps(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "archive")
	os.MkdirAll(archive, 0o750)
	var buf bytes.Buffer
	buf.Write(synthetic("D1", 1))
	buf.WriteString("\n")
	buf.WriteString("MSH|^~\\&|LAB|GENHOSP|CB|CB|20261101120000+0000||ORU^R01^ORU_R01|D2|P|2.5.1\rPID|1||M1^^^GENHOSP^MR||Doe^Jane\r\n")
	os.WriteFile(filepath.Join(archive, "mixed.hl7"), buf.Bytes(), 0o600)

	out, errOut, code := run(t, nil, "replay", "--dry-run", "--json", archive)
	if code != 1 || !strings.Contains(out, `"fine":1`) || !strings.Contains(errOut, "no map for ORU^R01 from sender LAB^GENHOSP") {
		t.Fatalf("dry run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// The same ADT with a mapping directory whose PID map fails on it.
	maps := filepath.Join(dir, "maps")
	broken := maps2(smallMappings)
	broken["messages/ADT.yaml"] = strings.Replace(broken["messages/ADT.yaml"], "A01: ADT_A01", "A01: ADT_A01\n  A08: ADT_A01", 1)
	broken["segments/PID-Patient.yaml"] += "  - {from: \"7\", to: birthDate, as: date, when: 'int(v[\"5.1\"]) > 0'}\n"
	writeFiles(t, maps, broken)
	out, errOut, code = run(t, nil, "replay", "--dry-run", "--mappings", maps, archive)
	if code != 1 || !strings.Contains(errOut, "mixed.hl7:1: mapping: PID") || !strings.Contains(errOut, "PID-Patient.yaml:") {
		t.Fatalf("dry run with a broken map: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// --mappings without --dry-run is a usage error.
	if _, errOut, code := run(t, nil, "replay", "--mappings", maps, "--data", filepath.Join(dir, "data"), archive); code != 2 || !strings.Contains(errOut, "--mappings is for --dry-run") {
		t.Fatalf("--mappings without --dry-run: exit %d\n%s", code, errOut)
	}
}

// maps2 copies a set of mapping files.
func maps2(files map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	maps.Copy(out, files)
	return out
}

// An archive from a sender that writes Latin-1 without MSH-18 is read as a
// configured listener with that charset reads it (--listener): the dry run
// finds no problem, the replay journals the messages under that listener,
// and processing decodes them alike. Without --listener they are not text
// in UTF-8, and said so.
func TestReplayAsAListenerWithItsCharset(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "archive")
	os.MkdirAll(archive, 0o750)
	msg := "MSH|^~\\&|LEGACY|GENHOSP|CB|CB|20261101120000+0000||ADT^A08^ADT_A01|L1|P|2.5.1\rEVN|A08|20261101120000+0000\rPID|1||L1^^^GENHOSP^MR||M\xfcller^J\xfcrgen||19700101|M\r"
	os.WriteFile(filepath.Join(archive, "legacy.hl7"), []byte(msg), 0o600)
	cfg := filepath.Join(dir, "carebridge.yaml")
	// data_dir is relative to the working directory: an absolute one keeps
	// the test out of the source tree.
	os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\nmllp:\n  - name: legacy\n    addr: 127.0.0.1:0\n    charset: 8859/1\n"), 0o600)

	if _, errOut, code := run(t, nil, "replay", "--dry-run", "--config", cfg, archive); code != 1 || !strings.Contains(errOut, "is not valid UNICODE UTF-8") {
		t.Fatalf("dry run without --listener: exit %d\n%s", code, errOut)
	}
	if out, errOut, code := run(t, nil, "replay", "--dry-run", "--config", cfg, "--listener", "legacy", archive); code != 0 {
		t.Fatalf("dry run as listener legacy: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := run(t, nil, "replay", "--dry-run", "--config", cfg, "--listener", "nope", archive); code != 2 || !strings.Contains(errOut, "listeners: legacy") {
		t.Fatalf("unknown listener: exit %d\n%s", code, errOut)
	}
	if out, errOut, code := run(t, nil, "replay", "--config", cfg, "--listener", "legacy", "--state", filepath.Join(dir, "state"), archive); code != 0 {
		t.Fatalf("replay as listener legacy: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--config", cfg, "--type", "ADT^A08"); code != 0 || !strings.Contains(out, "processed 1") {
		t.Fatalf("processing the replayed message: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := run(t, nil, "patients", "search", "--config", cfg, "--name", "müller"); code != 0 || !strings.Contains(out, "Jürgen Müller") {
		t.Fatalf("the record has the name decoded: exit %d\n%s", code, out)
	}
}

// TestReprocessNothingMatchesSaysSo: filters that match no message queue
// nothing, exit 0, and say so rather than only "queued 0".
func TestReprocessNothingMatchesSaysSo(t *testing.T) {
	dir := t.TempDir()
	data, msg := filepath.Join(dir, "data"), filepath.Join(dir, "m.hl7")
	os.WriteFile(msg, synthetic("NOMATCH1", 1), 0o600)
	if out, errOut, code := run(t, nil, "replay", "--data", data, msg); code != 0 {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--type", "FOO^BAR")
	if code != 0 || !strings.Contains(out, "queued 0 message(s)") || !strings.Contains(out, "note: no processed, failed or filtered message matches these filters") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestBenchPipelineListsFailures: bench pipeline names the messages that
// failed, with their error, so that the reason outlives a temporary data
// directory (here an ORU^R01 no map handles, waiting in the journal).
func TestBenchPipelineListsFailures(t *testing.T) {
	dir := t.TempDir()
	data, msg := filepath.Join(dir, "data"), filepath.Join(dir, "oru.hl7")
	os.WriteFile(msg, []byte("MSH|^~\\&|LAB|GENHOSP|CB|CB|20261101120000||ORU^R01^ORU_R01|BENCHORU1|P|2.5.1\rPID|1||E2E000001^^^GENHOSP^MR||Synthetic^Person||19900101|U\r"), 0o600)
	if out, errOut, code := run(t, nil, "replay", "--data", data, msg); code != 0 {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := run(t, nil, "bench", "pipeline", "--data", data, "--messages", "20", "--connections", "2")
	if code != 1 || !strings.Contains(out, "failed        entry 1 (ORU^R01): no map for ORU^R01") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
