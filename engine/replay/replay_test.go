package replay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/archive"
)

// synthetic returns a synthetic ADT^A08 with control ID id.
func synthetic(id string) string {
	return "MSH|^~\\&|ARCHIVE|GENHOSP|CAREBRIDGE|CB|20260101120000||ADT^A08^ADT_A01|" + id + "|P|2.5.1\r" +
		"EVN|A08|20260101120000\r" +
		"PID|1||MRN" + id + "^^^GENHOSP^MR||Testperson^Synthetic||19800101|F\r" +
		"PV1|1|O"
}

// archiveSpec describes one generated archive file.
type archiveSpec struct {
	name  string // relative path; ".gz" gzips, ".mllp" frames
	count int
}

// writeArchives generates the files in dir and returns all control IDs.
func writeArchives(t testing.TB, dir string, specs ...archiveSpec) []string {
	t.Helper()
	var ids []string
	for fi, sp := range specs {
		var b bytes.Buffer
		for i := 1; i <= sp.count; i++ {
			id := fmt.Sprintf("F%dM%06d", fi, i)
			ids = append(ids, id)
			if strings.HasSuffix(sp.name, ".mllp") {
				b.WriteString("\x0b" + synthetic(id) + "\r\x1c\r")
			} else {
				b.WriteString(synthetic(id) + "\r\n")
			}
		}
		data := b.Bytes()
		if strings.HasSuffix(sp.name, ".gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data = z.Bytes()
		}
		p := filepath.Join(dir, sp.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// controlID returns MSH-10 of raw.
func controlID(raw []byte) string {
	seg, _, _ := bytes.Cut(raw, []byte("\r"))
	f := strings.Split(string(seg), "|")
	if len(f) < 10 {
		return ""
	}
	return f[9]
}

// fakeSink records deliveries. respond, when set, decides the result;
// after, when set, is called after each delivery with its number.
type fakeSink struct {
	mu      sync.Mutex
	seen    map[string]int
	order   map[string][]int
	calls   atomic.Int64
	respond func(id string) (Result, error)
	after   func(n int64)
}

func newFakeSink() *fakeSink {
	return &fakeSink{seen: make(map[string]int), order: make(map[string][]int)}
}

func (s *fakeSink) Deliver(ctx context.Context, m archive.Message) (Result, error) {
	n := s.calls.Add(1)
	id := controlID(m.Raw)
	s.mu.Lock()
	s.seen[id]++
	s.order[m.Source] = append(s.order[m.Source], m.Index)
	s.mu.Unlock()
	if s.after != nil {
		s.after(n)
	}
	if s.respond != nil {
		return s.respond(id)
	}
	return Result{Outcome: Accepted, AckCode: "AA"}, nil
}

var _ Sink = (*fakeSink)(nil)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func readState(t *testing.T, path string) *state {
	t.Helper()
	st, err := openState(path, true, "")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRunDeliversEachMessageOnce(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir,
		archiveSpec{"2026/01/adt.hl7", 300},
		archiveSpec{"2026/02/adt.hl7.gz", 250},
		archiveSpec{"2026/03/capture.mllp", 200},
		archiveSpec{"2026/03/empty.hl7", 0},
	)
	for _, conc := range []int{1, 2, 8, 64} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			sink := newFakeSink()
			stateFile := filepath.Join(t.TempDir(), "state")
			sum, err := Run(context.Background(), sink, Options{
				Paths: []string{dir}, Concurrency: conc, StateFile: stateFile,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(sink.seen) != len(ids) {
				t.Errorf("delivered %d distinct messages, want %d", len(sink.seen), len(ids))
			}
			for _, id := range ids {
				if sink.seen[id] != 1 {
					t.Errorf("message %s delivered %d times", id, sink.seen[id])
				}
			}
			if sum.Total != len(ids) || sum.Accepted != len(ids) || sum.Files != 4 {
				t.Errorf("summary = %+v, want %d accepted of %d in 4 files", sum, len(ids), len(ids))
			}
			if conc == 1 {
				for src, order := range sink.order {
					for i, idx := range order {
						if idx != i+1 {
							t.Fatalf("%s: delivery %d was message %d", src, i+1, idx)
						}
					}
				}
			}
			st := readState(t, stateFile)
			if !st.Complete || len(st.Files) != 4 {
				t.Errorf("state complete=%v with %d files, want complete with 4", st.Complete, len(st.Files))
			}
		})
	}
}

func TestRunOutcomes(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 20})
	// A message over the size limit (21), then message 22.
	f, err := os.OpenFile(filepath.Join(dir, "a.hl7"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s%s\r%s\r", synthetic("BIG"), strings.Repeat("|x", 400), synthetic("F0M000022"))
	f.Close()

	sink := newFakeSink()
	sink.respond = func(id string) (Result, error) {
		var n int
		fmt.Sscanf(id, "F0M%d", &n)
		switch n % 5 {
		case 1:
			return Result{Outcome: Duplicate, AckCode: "AA"}, nil
		case 2:
			return Result{Outcome: Rejected, AckCode: "AR", Detail: "PID-3 missing"}, nil
		case 3:
			return Result{Outcome: Failed, AckCode: "AE", Detail: "store busy"}, nil
		case 4:
			return Result{}, errors.New("connection reset")
		}
		return Result{Outcome: Accepted, AckCode: "AA"}, nil
	}
	var problems bytes.Buffer
	sum, err := Run(context.Background(), sink, Options{
		Paths: []string{dir}, Concurrency: 3, StateFile: filepath.Join(t.TempDir(), "state"),
		MaxMessageSize: 500, Problems: &problems,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Files: 1, Total: 22, Accepted: 4, Duplicates: 4, Rejected: 5, Failed: 8, Problems: 1}
	sum.Elapsed, sum.PerSecond = 0, 0
	if sum != want {
		t.Errorf("summary = %+v\nwant      %+v", sum, want)
	}
	out := problems.String()
	path := filepath.Join(dir, "a.hl7")
	for _, line := range []string{
		path + ":2: rejected (AR): PID-3 missing\n",
		path + ":3: failed (AE): store busy\n",
		path + ":4: failed: connection reset\n",
		path + ":21: message 21 at offset",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("problem lines lack %q:\n%s", line, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 5+8+1 {
		t.Errorf("got %d problem lines, want 14:\n%s", n, out)
	}
}

func TestRunResume(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir,
		archiveSpec{"a.hl7", 200}, archiveSpec{"b.hl7.gz", 200}, archiveSpec{"c.mllp", 200})
	for _, tc := range []struct {
		name        string
		cancelAfter int64
		concurrency int
	}{
		{"first message", 1, 4},
		{"inside the first file", 137, 4},
		{"at a file boundary", 200, 1},
		{"inside the last file", 555, 8},
		{"serial", 300, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stateFile := filepath.Join(t.TempDir(), "state")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := newFakeSink()
			first.after = func(n int64) {
				if n == tc.cancelAfter {
					cancel()
				}
			}
			opts := Options{Paths: []string{dir}, Concurrency: tc.concurrency, StateFile: stateFile}
			sum1, err := Run(ctx, first, opts)
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotStarted) {
				t.Fatalf("interrupted run: err = %v, want context.Canceled (and a started run)", err)
			}
			delivered := int(first.calls.Load())
			if delivered < int(tc.cancelAfter) || delivered >= len(ids) {
				t.Fatalf("interrupted run delivered %d messages", delivered)
			}
			if sum1.Accepted != delivered {
				t.Errorf("interrupted run: %d accepted, %d delivered", sum1.Accepted, delivered)
			}
			if readState(t, stateFile).Complete {
				t.Error("state of an interrupted run says complete")
			}

			second := newFakeSink()
			opts.Resume = true
			sum2, err := Run(context.Background(), second, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if n := first.seen[id] + second.seen[id]; n != 1 {
					t.Errorf("message %s delivered %d times over both runs", id, n)
				}
			}
			if sum2.Skipped != delivered || sum2.Accepted != len(ids)-delivered || sum2.Total != len(ids) {
				t.Errorf("resumed summary = %+v, want %d skipped and %d accepted", sum2, delivered, len(ids)-delivered)
			}
			if !readState(t, stateFile).Complete {
				t.Error("state of a complete run does not say complete")
			}

			third := newFakeSink()
			sum3, err := Run(context.Background(), third, opts)
			if err != nil {
				t.Fatal(err)
			}
			if third.calls.Load() != 0 || sum3.Skipped != len(ids) {
				t.Errorf("resume after completion delivered %d, skipped %d; want 0 and %d",
					third.calls.Load(), sum3.Skipped, len(ids))
			}
		})
	}
}

func TestRunResumeChangedFile(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 50}, archiveSpec{"b.hl7", 50})
	stateFile := filepath.Join(t.TempDir(), "state")
	opts := Options{Paths: []string{dir}, StateFile: stateFile}
	if _, err := Run(context.Background(), newFakeSink(), opts); err != nil {
		t.Fatal(err)
	}
	// Rewrite b.hl7 with the same size but different messages.
	b := filepath.Join(dir, "b.hl7")
	data, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, bytes.ReplaceAll(data, []byte("F1M"), []byte("F9M")), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		resume    bool
		delivered int
		skipped   int
	}{
		{name: "resume replays only the changed file", resume: true, delivered: 50, skipped: 50},
		{name: "without resume the state is overwritten", resume: false, delivered: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newFakeSink()
			var problems bytes.Buffer
			o := opts
			o.Resume, o.Problems = tt.resume, &problems
			sum, err := Run(context.Background(), sink, o)
			if err != nil {
				t.Fatal(err)
			}
			if int(sink.calls.Load()) != tt.delivered || sum.Skipped != tt.skipped {
				t.Errorf("delivered %d, skipped %d; want %d and %d", sink.calls.Load(), sum.Skipped, tt.delivered, tt.skipped)
			}
			if tt.resume {
				if sink.seen["F9M000001"] != 1 || sink.seen["F0M000001"] != 0 {
					t.Errorf("delivered the wrong file's messages: %v", sink.seen)
				}
				if !strings.Contains(problems.String(), b+": warning: changed since the state file was written") {
					t.Errorf("no warning about the changed file:\n%s", problems.String())
				}
			}
		})
	}
}

func TestRunResumeOutOfOrder(t *testing.T) {
	// A state whose watermark has a gap: messages 1-3 and 5 done.
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 8})
	path := filepath.Join(dir, "a.hl7")
	fp, err := fingerprintFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	st := &state{Version: stateVersion, Files: map[string]*fileState{
		stateKey(path): {fingerprint: fp, Done: 3, Above: []int{5}},
	}}
	if err := st.save(stateFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	sink := newFakeSink()
	sum, err := Run(context.Background(), sink, Options{Paths: []string{dir}, StateFile: stateFile, Resume: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := sink.order[path]
	if want := []int{4, 6, 7, 8}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if sum.Skipped != 4 {
		t.Errorf("skipped %d, want 4", sum.Skipped)
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker(&fileState{})
	for _, i := range []int{2, 3, 5} {
		tr.mark(i)
	}
	tr.sync()
	if tr.st.Done != 0 || fmt.Sprint(tr.st.Above) != "[2 3 5]" {
		t.Errorf("after 2,3,5: done %d above %v", tr.st.Done, tr.st.Above)
	}
	tr.mark(1)
	tr.sync()
	if tr.st.Done != 3 || fmt.Sprint(tr.st.Above) != "[5]" {
		t.Errorf("after 1: done %d above %v", tr.st.Done, tr.st.Above)
	}
	tr.end(5)
	if tr.st.Complete {
		t.Error("complete with message 4 missing")
	}
	tr.mark(4)
	if !tr.st.Complete || tr.st.Done != 5 {
		t.Errorf("after 4: complete %v done %d", tr.st.Complete, tr.st.Done)
	}
}

func TestLimiter(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name    string
		rate    float64
		advance []time.Duration // before each reservation
		want    []time.Duration
	}{
		{name: "one per second, no burst", rate: 1,
			advance: []time.Duration{0, 0, 0, 0},
			want:    []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}},
		{name: "burst of a twentieth of the rate, then queued", rate: 100,
			advance: []time.Duration{0, 0, 0, 0, 0, 0, 0},
			want:    []time.Duration{0, 0, 0, 0, 0, 10 * time.Millisecond, 20 * time.Millisecond}},
		{name: "tokens refill with time, up to the burst", rate: 10,
			advance: []time.Duration{0, 0, time.Second, 0, 50 * time.Millisecond},
			want:    []time.Duration{0, 100 * time.Millisecond, 0, 100 * time.Millisecond, 150 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.rate, clock.Now)
			for i := range tt.want {
				clock.Advance(tt.advance[i])
				if got := l.reserve(); (got - tt.want[i]).Abs() > time.Microsecond {
					t.Errorf("reservation %d waits %v, want %v", i+1, got, tt.want[i])
				}
			}
		})
	}
}

func TestRunRateLimit(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 21})
	clock := newFakeClock()
	var slept atomic.Int64
	sum, err := Run(context.Background(), newFakeSink(), Options{
		Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"),
		Rate: 10, Concurrency: 1, Clock: clock.Now,
		sleep: func(ctx context.Context, d time.Duration) error {
			slept.Add(int64(d))
			clock.Advance(d)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 21 messages at 10/s: the first at once, then one every 100ms.
	if sum.Elapsed != 2*time.Second || time.Duration(slept.Load()) != 2*time.Second {
		t.Errorf("elapsed %v, slept %v; want 2s", sum.Elapsed, time.Duration(slept.Load()))
	}
	if sum.PerSecond != 10.5 {
		t.Errorf("PerSecond = %v, want 10.5", sum.PerSecond)
	}
}

func TestRunDryRun(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 10}, archiveSpec{"b.mllp", 5})
	badFile := filepath.Join(dir, "c.hl7")
	os.WriteFile(badFile, []byte(synthetic("OK1")+"\rMSH|broken\r"), 0o644)
	check := func(raw []byte) error {
		if bytes.HasSuffix(raw, []byte("|broken")) {
			return errors.New("MSH-2: missing encoding characters")
		}
		if id := controlID(raw); id == "F0M000004" || id == "F1M000005" {
			return fmt.Errorf("PID-3: no identifier in %s", id)
		}
		return nil
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json %v", asJSON), func(t *testing.T) {
			var problems bytes.Buffer
			sum, err := Run(context.Background(), nil, Options{
				Paths: []string{dir}, DryRun: true, Check: check, Problems: &problems,
				StateFile: stateFile, JSON: asJSON,
			})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Total != 17 || sum.Fine != 14 || sum.Problems != 3 || !sum.DryRun {
				t.Errorf("summary = %+v, want 17 messages, 14 fine, 3 problems", sum)
			}
			// Deliveries run concurrently: lines come in completion order.
			lines := strings.Split(strings.TrimSpace(problems.String()), "\n")
			slices.Sort(lines)
			if len(lines) != 3 {
				t.Fatalf("got %d problem lines, want 3:\n%s", len(lines), problems.String())
			}
			if asJSON {
				var got []problemLine
				for _, l := range lines {
					var p problemLine
					if err := json.Unmarshal([]byte(l), &p); err != nil {
						t.Fatalf("line %q: %v", l, err)
					}
					got = append(got, p)
				}
				want := problemLine{File: filepath.Join(dir, "a.hl7"), Index: 4, Error: "PID-3: no identifier in F0M000004"}
				if !slices.Contains(got, want) {
					t.Errorf("problems = %+v, want one %+v", got, want)
				}
			} else {
				want := []string{
					filepath.Join(dir, "a.hl7") + ":4: PID-3: no identifier in F0M000004",
					filepath.Join(dir, "b.mllp") + ":5: PID-3: no identifier in F1M000005",
					badFile + ":2: MSH-2: missing encoding characters",
				}
				if strings.Join(lines, "\n") != strings.Join(want, "\n") {
					t.Errorf("problem lines:\n%s\nwant:\n%s", problems.String(), strings.Join(want, "\n"))
				}
			}
			if _, err := os.Stat(stateFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a dry run wrote the state file: %v", err)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name                   string
		done, completed, total int64
		elapsed                time.Duration
		want                   string
	}{
		{"under way", 12000, 12000, 100000, time.Second / 2,
			"replay: 12000/100000 msgs 12.0% 24000 msg/s eta 4s\n"},
		{"resumed: rate from this run only", 60000, 10000, 100000, time.Second,
			"replay: 60000/100000 msgs 60.0% 10000 msg/s eta 4s\n"},
		{"long eta", 1000, 1000, 1000000, 10 * time.Second,
			"replay: 1000/1000000 msgs 0.1% 100 msg/s eta 2h46m30s\n"},
		{"done", 500, 500, 500, 2 * time.Second,
			"replay: 500/500 msgs 100.0% 250 msg/s eta 0s\n"},
		{"nothing yet", 0, 0, 100, 0,
			"replay: 0/100 msgs 0.0% 0 msg/s eta ?\n"},
		{"total unknown", 4200, 4200, -1, 2 * time.Second,
			"replay: 4200 msgs 2100 msg/s\n"},
		{"count too low", 120, 120, 100, time.Second,
			"replay: 120/120 msgs 100.0% 120 msg/s eta 0s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressLine(tt.done, tt.completed, tt.total, tt.elapsed); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRunProgress(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 10})
	for _, interactive := range []bool{false, true} {
		t.Run(fmt.Sprintf("interactive %v", interactive), func(t *testing.T) {
			clock := newFakeClock()
			sink := newFakeSink()
			sink.after = func(int64) { clock.Advance(100 * time.Millisecond) }
			var progress bytes.Buffer
			_, err := Run(context.Background(), sink, Options{
				Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"), Concurrency: 1,
				Progress: &progress, Interactive: interactive, Clock: clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			const last = "replay: 10/10 msgs 100.0% 10 msg/s eta 0s\n"
			if !strings.HasSuffix(progress.String(), last) {
				t.Errorf("progress output ends %q, want %q", progress.String(), last)
			}
		})
	}
}

func TestSummaryOutput(t *testing.T) {
	sum := Summary{Files: 3, Total: 1000, Accepted: 900, Duplicates: 50, Rejected: 20, Failed: 10,
		Skipped: 15, Problems: 5, Warnings: 2, Elapsed: 2500 * time.Millisecond, PerSecond: 394}
	var js bytes.Buffer
	if err := sum.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, js.String())
	}
	want := map[string]any{"files": 3.0, "total": 1000.0, "accepted": 900.0, "duplicates": 50.0,
		"rejected": 20.0, "failed": 10.0, "skipped": 15.0, "fine": 0.0, "problems": 5.0, "warnings": 2.0,
		"file_errors": 0.0, "dry_run": false, "elapsed_seconds": 2.5, "per_second": 394.0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("JSON summary = %v\nwant %v", got, want)
	}
	if strings.Count(js.String(), "\n") != 1 {
		t.Errorf("JSON summary is not one line: %q", js.String())
	}

	var text bytes.Buffer
	sum.WriteText(&text)
	for _, s := range []string{"replay: 1000 messages from 3 files in 2.5s (394 msg/s)", "rejected    20", "skipped     15"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text summary lacks %q:\n%s", s, text.String())
		}
	}
	text.Reset()
	Summary{DryRun: true, Total: 10, Fine: 8, Problems: 2, Files: 1, Elapsed: time.Second, PerSecond: 10}.WriteText(&text)
	if want := "dry run: 10 messages from 1 files checked in 1s (10 msg/s): 8 fine, 2 problems, 0 warnings, 0 file errors\n"; text.String() != want {
		t.Errorf("dry run summary %q, want %q", text.String(), want)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 1})
	tests := []struct {
		name string
		sink Sink
		opts Options
		want string
	}{
		{"no paths", newFakeSink(), Options{}, "no paths"},
		{"no sink", nil, Options{Paths: []string{dir}}, "no sink"},
		{"missing path", newFakeSink(), Options{Paths: []string{filepath.Join(dir, "nope")}}, "nope"},
		{"negative concurrency", newFakeSink(), Options{Paths: []string{dir}, Concurrency: -1}, "concurrency"},
		{"state in a missing directory", newFakeSink(),
			Options{Paths: []string{dir}, StateFile: filepath.Join(dir, "no", "such", "state")}, "write state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.sink, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
			if !errors.Is(err, ErrNotStarted) {
				t.Errorf("err = %v does not match ErrNotStarted", err)
			}
		})
	}
	t.Run("corrupt state", func(t *testing.T) {
		stateFile := filepath.Join(t.TempDir(), "state")
		os.WriteFile(stateFile, []byte("{not json"), 0o644)
		_, err := Run(context.Background(), newFakeSink(), Options{Paths: []string{dir}, StateFile: stateFile, Resume: true})
		if err == nil || !strings.Contains(err.Error(), "read state") || !errors.Is(err, ErrNotStarted) {
			t.Errorf("err = %v, want a state read error matching ErrNotStarted", err)
		}
	})
}

// BenchmarkReplay replays 100,000 synthetic messages into a sink that does
// nothing, to measure the dispatch overhead per message.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	const files, per = 10, 10000
	var specs []archiveSpec
	for i := range files {
		specs = append(specs, archiveSpec{fmt.Sprintf("day%02d.hl7", i), per})
	}
	writeArchives(b, dir, specs...)
	stateFile := filepath.Join(b.TempDir(), "state")
	b.ReportAllocs()
	for b.Loop() {
		sum, err := Run(context.Background(), nopSink{}, Options{Paths: []string{dir}, StateFile: stateFile, NoCount: true})
		if err != nil || sum.Accepted != files*per {
			b.Fatalf("accepted %d, err %v", sum.Accepted, err)
		}
	}
	b.ReportMetric(float64(files*per*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

type nopSink struct{}

func (nopSink) Deliver(context.Context, archive.Message) (Result, error) {
	return Result{Outcome: Accepted}, nil
}

func TestRunDrainTimeout(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir, archiveSpec{"a.hl7", 10})
	stateFile := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	secondStarted := make(chan struct{})
	hanging := &hangingSink{fakeSink: newFakeSink(), started: secondStarted, cancel: cancel}
	sum, err := Run(ctx, hanging, Options{
		Paths: []string{dir}, StateFile: stateFile, Concurrency: 2, DrainTimeout: time.Millisecond,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sum.Accepted != 1 || sum.Failed != 0 || sum.Total != 1 {
		t.Errorf("summary = %+v, want only message 1 accepted, the cut-off one not counted", sum)
	}
	resumed := newFakeSink()
	sum, err = Run(context.Background(), resumed, Options{Paths: []string{dir}, StateFile: stateFile, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.seen[ids[0]] != 0 || resumed.seen[ids[1]] != 1 || sum.Accepted != len(ids)-1 {
		t.Errorf("resume delivered %v, want all but the first", resumed.seen)
	}
}

// hangingSink accepts message 1 once message 2 is being delivered, then
// cancels the run; message 2 hangs until its context ends.
type hangingSink struct {
	*fakeSink
	started chan struct{}
	cancel  func()
}

func (s *hangingSink) Deliver(ctx context.Context, m archive.Message) (Result, error) {
	switch m.Index {
	case 1:
		<-s.started
		s.cancel()
		return s.fakeSink.Deliver(ctx, m)
	case 2:
		close(s.started)
		<-ctx.Done()
		return Result{}, ctx.Err()
	}
	return Result{}, fmt.Errorf("message %d should not be delivered", m.Index)
}

func TestRunWarnings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "batch.hl7")
	body := "BHS|^~\\&\r" + synthetic("B1") + "\r" + synthetic("B2") + "\r"
	os.WriteFile(path, []byte(body+"BTS|3\r"), 0o644)
	var problems bytes.Buffer
	sum, err := Run(context.Background(), newFakeSink(), Options{
		Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"), Problems: &problems,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 2 || sum.Warnings != 1 {
		t.Errorf("summary = %+v, want 2 accepted, 1 warning", sum)
	}
	want := fmt.Sprintf("%s: offset %d: warning: BTS-1 says 3 messages, the BHS at offset 0 holds 2\n", path, len(body))
	if problems.String() != want {
		t.Errorf("problems = %q, want %q", problems.String(), want)
	}
}

func TestRunUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir, archiveSpec{"a.hl7.gz", 400}, archiveSpec{"b.hl7", 5})
	a := filepath.Join(dir, "a.hl7.gz")
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a, data[:len(data)*2/3], 0o644) // truncated gzip stream
	stateFile := filepath.Join(t.TempDir(), "state")
	sink := newFakeSink()
	var problems bytes.Buffer
	sum, err := Run(context.Background(), sink, Options{Paths: []string{dir}, StateFile: stateFile, Problems: &problems})
	if err != nil {
		t.Fatal(err)
	}
	if sum.FileErrors != 1 || !strings.Contains(problems.String(), a+": read "+a+": unexpected EOF") {
		t.Errorf("file errors %d, problems %q; want the truncated file reported", sum.FileErrors, problems.String())
	}
	if sum.Accepted < 5 || sum.Accepted >= len(ids) || sink.seen[ids[len(ids)-1]] != 1 {
		t.Errorf("accepted %d; want the readable part of a and all of b", sum.Accepted)
	}
	st := readState(t, stateFile)
	if st.Complete || st.Files[stateKey(a)].Complete || !st.Files[stateKey(filepath.Join(dir, "b.hl7"))].Complete {
		t.Errorf("state: run complete %v, a complete %v; want only b complete", st.Complete, st.Files[stateKey(a)].Complete)
	}
}

func TestRunResumeChecksTarget(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir, archiveSpec{"a.hl7", 5})
	stateFile := filepath.Join(t.TempDir(), "state")
	const a, b = "mllp://10.0.0.1:2575", "journal:/var/lib/carebridge/carebridge.db"
	if _, err := Run(context.Background(), newFakeSink(), Options{Paths: []string{dir}, StateFile: stateFile, Target: a}); err != nil {
		t.Fatal(err)
	}
	if got := readState(t, stateFile).Target; got != a {
		t.Fatalf("state records target %q, want %q", got, a)
	}

	// Resuming into another destination would skip everything as
	// delivered although nothing was delivered there.
	other := newFakeSink()
	_, err := Run(context.Background(), other, Options{Paths: []string{dir}, StateFile: stateFile, Target: b, Resume: true})
	if !errors.Is(err, ErrOtherTarget) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Fatalf("resume to another target: err = %v, want ErrOtherTarget naming %s and %s", err, a, b)
	}
	if other.calls.Load() != 0 {
		t.Fatalf("refused resume delivered %d messages", other.calls.Load())
	}
	if got := readState(t, stateFile).Target; got != a {
		t.Fatalf("refused resume changed the state's target to %q", got)
	}

	// The same destination resumes; a fresh run elsewhere starts afresh.
	sum, err := Run(context.Background(), newFakeSink(), Options{Paths: []string{dir}, StateFile: stateFile, Target: a, Resume: true})
	if err != nil || sum.Skipped != len(ids) {
		t.Fatalf("resume to the same target: %+v, %v; want %d skipped", sum, err, len(ids))
	}
	fresh := newFakeSink()
	if _, err := Run(context.Background(), fresh, Options{Paths: []string{dir}, StateFile: stateFile, Target: b}); err != nil {
		t.Fatal(err)
	}
	if fresh.calls.Load() != int64(len(ids)) || readState(t, stateFile).Target != b {
		t.Fatalf("fresh run to %s delivered %d, state target %q", b, fresh.calls.Load(), readState(t, stateFile).Target)
	}
}
