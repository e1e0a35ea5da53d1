package archive

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// fixtures returns the project's synthetic messages, trailing terminator
// trimmed, segments joined with CR as in the files.
func fixtures(t testing.TB) [][]byte {
	t.Helper()
	paths, err := filepath.Glob("../../testdata/hl7/*.hl7")
	if err != nil || len(paths) < 3 {
		t.Fatalf("fixtures: %v (found %d)", err, len(paths))
	}
	var msgs [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bytes.TrimRight(b, "\r\n"))
	}
	return msgs
}

// withTerm rewrites a CR-separated message to use term between segments.
func withTerm(m []byte, term string) []byte {
	return bytes.ReplaceAll(m, []byte("\r"), []byte(term))
}

// scanned is what a scan produced.
type scanned struct {
	msgs     []Message // Raw copied
	warnings []Warning
	err      error
}

func scanAll(t testing.TB, r io.Reader, opts ...Option) scanned {
	t.Helper()
	var out scanned
	opts = append(opts, OnWarning(func(w Warning) { out.warnings = append(out.warnings, w) }))
	s := NewScanner(r, "test.hl7", opts...)
	for s.Scan() {
		m := s.Message()
		if m.Raw != nil {
			m.Raw = bytes.Clone(m.Raw)
		}
		out.msgs = append(out.msgs, m)
	}
	out.err = s.Err()
	return out
}

// want describes one expected message.
type want struct {
	raw []byte
	err error
}

func TestScanner(t *testing.T) {
	fx := fixtures(t)
	m1, m2, m3 := fx[0], fx[1], fx[2]
	lf := func(m []byte) []byte { return withTerm(m, "\n") }
	crlf := func(m []byte) []byte { return withTerm(m, "\r\n") }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	s := func(x string) []byte { return []byte(x) }
	bomb := []byte{0xef, 0xbb, 0xbf}

	tests := []struct {
		name     string
		in       []byte
		max      int
		want     []want
		warnings []string // substrings, in order
	}{
		{name: "empty file", in: nil},
		{name: "only blank lines", in: s("\r\n\r\n\n")},
		{name: "one message without final terminator", in: m1, want: []want{{raw: m1}}},
		{name: "back to back CR", in: cat(m1, s("\r"), m2, s("\r"), m3, s("\r")),
			want: []want{{raw: m1}, {raw: m2}, {raw: m3}}},
		{name: "back to back LF", in: cat(lf(m1), s("\n"), lf(m2), s("\n")),
			want: []want{{raw: lf(m1)}, {raw: lf(m2)}}},
		{name: "back to back CRLF", in: cat(crlf(m1), s("\r\n"), crlf(m2), s("\r\n")),
			want: []want{{raw: crlf(m1)}, {raw: crlf(m2)}}},
		{name: "mixed terminators", in: cat(m1, s("\r"), lf(m2), s("\n"), crlf(m3), s("\r\n")),
			want: []want{{raw: m1}, {raw: lf(m2)}, {raw: crlf(m3)}}},
		{name: "BOM and blank lines between messages",
			in:   cat(bomb, s("\r\n"), m1, s("\r\n\r\n\n"), m2, s("\r\r\r")),
			want: []want{{raw: m1}, {raw: m2}}},
		{name: "BOM right before MSH", in: cat(bomb, m1, s("\r"), bomb, m2),
			want: []want{{raw: m1}, {raw: m2}}},
		{name: "a separator line between messages is not part of the first",
			in:       cat(m1, s("\r\n----- next -----\n\n"), m2, s("\r")),
			want:     []want{{raw: m1}, {raw: m2}},
			warnings: []string{"skipped 18 bytes after message 1 that are not segments"}},
		{name: "a line that is not a segment between segments stays in its message (the parser refuses it)",
			in:   cat(s("MSH|^~\\&|A|B\rPID|1||M1||Doe^Jo\n||19720304|F\rPV1|1|O\r"), m2),
			want: []want{{raw: s("MSH|^~\\&|A|B\rPID|1||M1||Doe^Jo\n||19720304|F\rPV1|1|O")}, {raw: m2}}},
		{name: "batch with matching counts",
			in:   cat(s("FHS|^~\\&|SYS\rBHS|^~\\&|SYS\r"), m1, s("\r"), m2, s("\rBTS|2\rFTS|1\r")),
			want: []want{{raw: m1}, {raw: m2}}},
		{name: "batch with LF terminators",
			in:   cat(s("BHS|^~\\&\n"), lf(m1), s("\n"), lf(m2), s("\nBTS|2|end\n")),
			want: []want{{raw: lf(m1)}, {raw: lf(m2)}}},
		{name: "batch count mismatch is a warning",
			in:       cat(s("BHS|^~\\&\r"), m1, s("\r"), m2, s("\rBTS|3\r")),
			want:     []want{{raw: m1}, {raw: m2}},
			warnings: []string{"BTS-1 says 3 messages, the BHS at offset 0 holds 2"}},
		{name: "nested batches",
			in: cat(s("FHS|^~\\&\rBHS|^~\\&\r"), m1, s("\rBTS|1\rBHS|^~\\&\r"), m2, s("\r"), m3,
				s("\rBTS|2\rFTS|2\r")),
			want: []want{{raw: m1}, {raw: m2}, {raw: m3}}},
		{name: "file count mismatch",
			in:       cat(s("FHS|^~\\&\rBHS|^~\\&\r"), m1, s("\rBTS|1\rFTS|2\r")),
			want:     []want{{raw: m1}},
			warnings: []string{"FTS-1 says 2 batches"}},
		{name: "batch count not a number",
			in:       cat(s("BHS|^~\\&\r"), m1, s("\rBTS|two\r")),
			want:     []want{{raw: m1}},
			warnings: []string{`BTS-1 "two" is not a count`}},
		{name: "batch without trailer",
			in:       cat(s("BHS|^~\\&\r"), m1, s("\r")),
			want:     []want{{raw: m1}},
			warnings: []string{"BHS without BTS"}},
		{name: "trailer without header",
			in:       cat(m1, s("\rBTS|1\r")),
			want:     []want{{raw: m1}},
			warnings: []string{"BTS without BHS"}},
		{name: "MLLP frames",
			in:   cat(s("\x0b"), m1, s("\r\x1c\r\x0b"), m2, s("\x1c\r")),
			want: []want{{raw: m1}, {raw: m2}}},
		{name: "MLLP frames with garbage between",
			in:       cat(s("noise\x0b"), m1, s("\r\x1c\rGET / HTTP/1.1\r\n\x00\x01\x0b"), m2, s("\r\x1c\r")),
			want:     []want{{raw: m1}, {raw: m2}},
			warnings: []string{"offset 0: skipped 5 bytes", "skipped 18 bytes"}},
		{name: "MLLP frame with LF segments",
			in:   cat(s("\x0b"), lf(m1), s("\n\x1c\r")),
			want: []want{{raw: lf(m1)}}},
		{name: "MLLP frame cut short by the next one",
			in:   cat(s("\x0b"), m1[:40], s("\x0b"), m2, s("\x1c\r")),
			want: []want{{raw: m1[:40], err: ErrUnterminatedFrame}, {raw: m2}}},
		{name: "MLLP frame cut short by the end",
			in:   cat(s("\x0b"), m1, s("\x1c\r\x0b"), m2[:50]),
			want: []want{{raw: m1}, {raw: m2[:50], err: ErrUnterminatedFrame}}},
		{name: "MLLP mixed with plain messages",
			in:   cat(m1, s("\r\x0b"), m2, s("\x1c\r"), m3, s("\r")),
			want: []want{{raw: m1}, {raw: m2}, {raw: m3}}},
		{name: "MLLP framed batch",
			in:   cat(s("\x0bBHS|^~\\&\r"), m1, s("\r"), m2, s("\rBTS|2\r\x1c\r")),
			want: []want{{raw: m1}, {raw: m2}}},
		{name: "leading garbage line",
			in:       cat(s("exported 2026-11-01\r\n"), m1, s("\r")),
			want:     []want{{raw: m1}},
			warnings: []string{"offset 0: skipped 21 bytes"}},
		{name: "unknown segments stay in the message",
			in:   cat(m1, s("\rZXT|1|custom\r"), m2),
			want: []want{{raw: cat(m1, s("\rZXT|1|custom"))}, {raw: m2}}},
		{name: "blank line inside a message is kept",
			in:   s("MSH|^~\\&|A\r\rPID|1\r"),
			want: []want{{raw: s("MSH|^~\\&|A\r\rPID|1")}}},
		{name: "message larger than the limit",
			in:   cat(m1, s("\r"), m2, s("\r"), m3, s("\r")),
			max:  len(m2),
			want: wantSized([][]byte{m1, m2, m3}, len(m2))},
		{name: "message exactly at the limit",
			in:   cat(m2, s("\r\r\r")),
			max:  len(m2),
			want: []want{{raw: m2}}},
		{name: "oversized framed message",
			in:   cat(s("\x0b"), m1, s("\x1c\r\x0b"), m2, s("\x1c\r")),
			max:  len(m2),
			want: wantSized([][]byte{m1, m2}, len(m2))},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte reads", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				var opts []Option
				if tt.max > 0 {
					opts = append(opts, MaxMessageSize(tt.max))
				}
				got := scanAll(t, rd.wrap(bytes.NewReader(tt.in)), opts...)
				if got.err != nil {
					t.Fatalf("Err() = %v", got.err)
				}
				checkMessages(t, tt.in, got.msgs, tt.want)
				checkWarnings(t, got.warnings, tt.warnings)
			})
		}
	}
}

// wantSized expects msgs, with those longer than max reported as too large.
func wantSized(msgs [][]byte, max int) []want {
	var w []want
	for _, m := range msgs {
		if len(m) > max {
			w = append(w, want{err: ErrTooLarge})
		} else {
			w = append(w, want{raw: m})
		}
	}
	return w
}

func checkMessages(t *testing.T, in []byte, got []Message, want []want) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d messages, want %d", len(got), len(want))
		for i, m := range got {
			t.Logf("message %d: err=%v raw=%q", i+1, m.Err, m.Raw)
		}
		return
	}
	for i, m := range got {
		w := want[i]
		if m.Index != i+1 {
			t.Errorf("message %d: Index = %d", i+1, m.Index)
		}
		if m.Source != "test.hl7" {
			t.Errorf("message %d: Source = %q", i+1, m.Source)
		}
		if !errors.Is(m.Err, w.err) || (w.err == nil) != (m.Err == nil) {
			t.Errorf("message %d: Err = %v, want %v", i+1, m.Err, w.err)
		}
		if !bytes.Equal(m.Raw, w.raw) {
			t.Errorf("message %d: Raw =\n%q\nwant\n%q", i+1, m.Raw, w.raw)
		}
		if !bytes.HasPrefix(in[m.Offset:], []byte("MSH")) {
			t.Errorf("message %d: Offset %d does not point at MSH", i+1, m.Offset)
		}
		if m.Raw != nil && !bytes.HasPrefix(in[m.Offset:], m.Raw) {
			t.Errorf("message %d: Offset %d does not point at its bytes", i+1, m.Offset)
		}
	}
}

func checkWarnings(t *testing.T, got []Warning, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d warnings %v, want %d %q", len(got), got, len(want), want)
		return
	}
	for i, w := range got {
		if !strings.Contains(w.String(), want[i]) {
			t.Errorf("warning %d = %q, want it to contain %q", i+1, w.String(), want[i])
		}
	}
}

// TestScannerLargeStream checks that memory stays bounded: a stream far
// larger than the buffer, with an oversized message in the middle, scans
// with the buffer never growing much past the message limit.
func TestScannerLargeStream(t *testing.T) {
	fx := fixtures(t)
	const max = 4096
	big := append([]byte("MSH|^~\\&|BIG\r"), bytes.Repeat([]byte("OBX|1|TX|||"+strings.Repeat("x", 200)+"\r"), 10000)...)
	var in bytes.Buffer
	n := 0
	for i := 0; i < 5000; i++ {
		if i == 2500 {
			in.Write(big)
			n++
		}
		in.Write(fx[i%len(fx)])
		in.WriteString("\r")
		n++
	}
	s := NewScanner(&in, "large", MaxMessageSize(max))
	count, tooLarge := 0, 0
	for s.Scan() {
		count++
		if errors.Is(s.Message().Err, ErrTooLarge) {
			tooLarge++
			if s.Message().Index != 2501 {
				t.Errorf("too large message has Index %d, want 2501", s.Message().Index)
			}
		}
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if count != n || tooLarge != 1 {
		t.Errorf("got %d messages (%d too large), want %d (1 too large)", count, tooLarge, n)
	}
	if limit := 2 * (max + maxBlankRun + 2*readSize); len(s.buf) > limit {
		t.Errorf("buffer grew to %d bytes, want at most %d", len(s.buf), limit)
	}
}

func TestScannerReadError(t *testing.T) {
	fx := fixtures(t)
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(append(append([]byte{}, fx[0]...), '\r')),
		bytes.NewReader(fx[1][:30]), iotest.ErrReader(boom))
	got := scanAll(t, r)
	if !errors.Is(got.err, boom) {
		t.Errorf("Err() = %v, want %v", got.err, boom)
	}
	if len(got.msgs) != 1 || !bytes.Equal(got.msgs[0].Raw, fx[0]) {
		t.Errorf("got %d messages, want only the complete first one", len(got.msgs))
	}
}

// TestScannerCorpus reads the public HL7 v2 corpus shared beside the
// project, when present: every file must yield messages starting with MSH,
// as many as Count estimates.
func TestScannerCorpus(t *testing.T) {
	root := "../../../shared/corpus/hl7v2"
	if _, err := os.Stat(root); err != nil {
		t.Skip("shared corpus not present")
	}
	files, err := Files([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		if filepath.Ext(f) != ".hl7" {
			continue
		}
		s, c, err := Open(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for s.Scan() {
			m := s.Message()
			n++
			if m.Err != nil || !bytes.HasPrefix(m.Raw, []byte("MSH")) {
				t.Errorf("%s: message %d: err %v, raw %.20q", f, m.Index, m.Err, m.Raw)
			}
		}
		c.Close()
		if s.Err() != nil {
			t.Errorf("%s: %v", f, s.Err())
		}
		if n == 0 {
			t.Errorf("%s: no messages", f)
		}
		total += n
	}
	t.Logf("%d messages in the corpus", total)
}

func BenchmarkScan(b *testing.B) {
	fx := fixtures(b)
	var in bytes.Buffer
	const n = 20000
	for i := 0; i < n; i++ {
		in.Write(fx[i%len(fx)])
		in.WriteString("\r")
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r bytes.Reader
	for b.Loop() {
		r.Reset(data)
		s := NewScanner(&r, "bench")
		count := 0
		for s.Scan() {
			count++
		}
		if count != n {
			b.Fatalf("got %d messages, want %d", count, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
