package mllp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// frame wraps payload in MLLP framing bytes.
func frame(payload string) string { return "\x0b" + payload + "\x1c\x0d" }

// readResult is one ReadFrame outcome in a comparable form.
type readResult struct {
	payload string
	err     string // "" for a frame, otherwise a short kind
}

func errKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrFrameTooLarge):
		return "too large"
	case err == io.EOF:
		return "eof"
	case err == io.ErrUnexpectedEOF:
		return "unexpected eof"
	default:
		return "other: " + err.Error()
	}
}

// readAll reads frames until io.EOF or an error other than ErrFrameTooLarge.
func readAll(r *Reader) []readResult {
	var out []readResult
	for i := 0; i < 10000; i++ {
		p, err := r.ReadFrame()
		out = append(out, readResult{string(p), errKind(err)})
		if err != nil && !errors.Is(err, ErrFrameTooLarge) {
			return out
		}
	}
	panic("reader made no progress")
}

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []readResult
		skipped int64
	}{
		{
			name: "simple",
			in:   frame("MSH|^~\\&|A"),
			want: []readResult{{"MSH|^~\\&|A", ""}, {"", "eof"}},
		},
		{
			name: "empty input",
			in:   "",
			want: []readResult{{"", "eof"}},
		},
		{
			name: "empty payload",
			in:   frame(""),
			want: []readResult{{"", ""}, {"", "eof"}},
		},
		{
			name: "two frames back to back",
			in:   frame("one") + frame("two"),
			want: []readResult{{"one", ""}, {"two", ""}, {"", "eof"}},
		},
		{
			name:    "garbage before start",
			in:      "junk\r\n" + frame("one"),
			want:    []readResult{{"one", ""}, {"", "eof"}},
			skipped: 6,
		},
		{
			name:    "garbage between frames and at the end",
			in:      frame("one") + "xy" + frame("two") + "zz",
			want:    []readResult{{"one", ""}, {"two", ""}, {"", "eof"}},
			skipped: 4,
		},
		{
			name: "no trailing CR",
			in:   "\x0bone\x1c\x0btwo\x1c",
			want: []readResult{{"one", ""}, {"two", ""}, {"", "eof"}},
		},
		{
			name: "CR LF after the end block is framing",
			in:   "\x0bone\x1c\r\n\x0btwo\x1c\r",
			want: []readResult{{"one", ""}, {"two", ""}, {"", "eof"}},
		},
		{
			name:    "only one CR after end block is framing",
			in:      "\x0bone\x1c\r\r\x0btwo\x1c\r",
			want:    []readResult{{"one", ""}, {"two", ""}, {"", "eof"}},
			skipped: 1,
		},
		{
			name: "end block without CR ends the frame",
			in:   "\x0bMSH|a\x1c\x0bMSH|b\x1c\nMSH|c",
			want: []readResult{{"MSH|a", ""}, {"MSH|b", ""}, {"", "eof"}},
			// The next frame's start block, or a line feed, end it too;
			// "MSH|c" sits outside any frame.
			skipped: 5,
		},
		{
			name: "segments keep their CRs",
			in:   frame("MSH|a\rPID|b\r"),
			want: []readResult{{"MSH|a\rPID|b\r", ""}, {"", "eof"}},
		},
		{
			name:    "start block restarts an unfinished frame",
			in:      "\x0bhalf\x0bwhole\x1c\r",
			want:    []readResult{{"whole", ""}, {"", "eof"}},
			skipped: 5,
		},
		{
			name: "EOF inside a frame",
			in:   "\x0bMSH|trunc",
			want: []readResult{{"", "unexpected eof"}},
		},
		{
			name: "EOF right after the start block",
			in:   frame("one") + "\x0b",
			want: []readResult{{"one", ""}, {"", "unexpected eof"}},
		},
		{
			name: "oversized then normal",
			in:   frame("0123456789") + frame("ok"),
			max:  5,
			want: []readResult{{"", "too large"}, {"ok", ""}, {"", "eof"}},
		},
		{
			name: "exactly the limit",
			in:   frame("01234"),
			max:  5,
			want: []readResult{{"01234", ""}, {"", "eof"}},
		},
		{
			name: "oversized and truncated",
			in:   "\x0b0123456789",
			max:  5,
			want: []readResult{{"", "unexpected eof"}},
		},
		{
			name:    "oversized frame abandoned for a new one",
			in:      "\x0b0123456789\x0bok\x1c\r",
			max:     5,
			want:    []readResult{{"ok", ""}, {"", "eof"}},
			skipped: 11,
		},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReader(rd.wrap(strings.NewReader(tt.in)), WithMaxFrameSize(tt.max))
				got := readAll(r)
				if len(got) != len(tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("result %d: got %q, want %q (all: %q)", i, got[i], tt.want[i], got)
					}
				}
				if r.Skipped() != tt.skipped {
					t.Errorf("Skipped() = %d, want %d", r.Skipped(), tt.skipped)
				}
			})
		}
	}
}

// An end block followed by more of the message (a stray 0x1C inside it)
// does not cut the message short: the frame is refused whole, up to its
// real end, and the next one is read. (Only what has arrived can be looked
// at: an end block that is the last byte received ends the frame, as the
// sender may be waiting for its ACK.)
func TestReadFrameStrayEndBlock(t *testing.T) {
	for _, msg := range []string{
		"MSH|^~\\&|A|B\rPID|1||M1||Emb\x1cFs^Three\rPV1|1|I\r",
		"MSH|^~\\&|A|B\rPID|1||M1||Emb\x1c\rPV1|1|I\r", // at the end of a segment
	} {
		testStrayEndBlock(t, msg)
	}
}

func testStrayEndBlock(t *testing.T, msg string) {
	for _, rd := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	} {
		t.Run(rd.name, func(t *testing.T) {
			r := NewReader(rd.wrap(strings.NewReader("\x0b" + msg + "\x1c\r" + frame("next"))))
			_, err := r.ReadFrame()
			var stray *StrayEndBlockError
			if !errors.As(err, &stray) || !errors.Is(err, ErrStrayEndBlock) {
				t.Fatalf("ReadFrame: %v, want a StrayEndBlockError", err)
			}
			if want := int64(strings.IndexByte(msg, 0x1c)); stray.Offset != want || string(stray.Head) != msg {
				t.Errorf("offset %d head %q, want %d and the whole message", stray.Offset, stray.Head, want)
			}
			if got := readAll(r); len(got) != 2 || got[0] != (readResult{"next", ""}) {
				t.Errorf("after the refused frame: %q, want next then eof", got)
			}
			if r.Skipped() != 0 {
				t.Errorf("Skipped() = %d, want 0", r.Skipped())
			}
		})
	}
}

func TestReadFrameLargeAcrossBuffers(t *testing.T) {
	big := strings.Repeat("MSH|0123456789\r", 3*readBufferSize/15)
	in := frame(big) + frame("next")
	r := NewReader(iotest.HalfReader(strings.NewReader(in)))
	got := readAll(r)
	want := []readResult{{big, ""}, {"next", ""}, {"", "eof"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("large frame not read back intact (%d results)", len(got))
	}
}

func TestFrameTooLargeError(t *testing.T) {
	payload := "MSH|^~\\&|SEND|FAC|" + strings.Repeat("x", 3*OversizeHeadSize)
	r := NewReader(iotest.OneByteReader(strings.NewReader(frame(payload)+frame("ok"))), WithMaxFrameSize(OversizeHeadSize+10))
	_, err := r.ReadFrame()
	var tl *FrameTooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("ReadFrame error = %v, want *FrameTooLargeError", err)
	}
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("error does not match ErrFrameTooLarge")
	}
	if tl.Size != int64(len(payload)) || tl.Limit != OversizeHeadSize+10 {
		t.Errorf("Size, Limit = %d, %d; want %d, %d", tl.Size, tl.Limit, len(payload), OversizeHeadSize+10)
	}
	if string(tl.Head) != payload[:OversizeHeadSize] {
		t.Errorf("Head is not the first %d payload bytes", OversizeHeadSize)
	}
	if strings.Contains(err.Error(), "SEND") {
		t.Errorf("error message leaks payload: %s", err)
	}
	p, err := r.ReadFrame()
	if err != nil || string(p) != "ok" {
		t.Fatalf("after oversized frame: %q, %v; want \"ok\"", p, err)
	}
}

func TestReadFrameOwnership(t *testing.T) {
	r := NewReader(strings.NewReader(frame("one") + frame("two")))
	a, _ := r.ReadFrame()
	b, _ := r.ReadFrame()
	if string(a) != "one" || string(b) != "two" {
		t.Fatalf("a payload was overwritten by the next read: %q, %q", a, b)
	}
}

func TestReadFrameUnderlyingError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.ErrReader(boom))
	if _, err := r.ReadFrame(); !errors.Is(err, boom) {
		t.Fatalf("ReadFrame error = %v, want it to wrap %v", err, boom)
	}
	r = NewReader(io.MultiReader(strings.NewReader("\x0bpart"), iotest.ErrReader(boom)))
	if _, err := r.ReadFrame(); !errors.Is(err, boom) {
		t.Fatalf("mid-frame ReadFrame error = %v, want it to wrap %v", err, boom)
	}
}

func TestFrameStartCallback(t *testing.T) {
	starts := 0
	r := NewReader(strings.NewReader("junk"+frame("a")+frame("b")), WithFrameStart(func() { starts++ }))
	readAll(r)
	if starts != 2 {
		t.Fatalf("frame start called %d times, want 2", starts)
	}
}

// writeCounter counts Write calls.
type writeCounter struct {
	bytes.Buffer
	calls int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

func TestWriteFrame(t *testing.T) {
	var w writeCounter
	if err := WriteFrame(&w, []byte("MSH|a\rPID|b\r")); err != nil {
		t.Fatal(err)
	}
	if got, want := w.String(), frame("MSH|a\rPID|b\r"); got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if w.calls != 1 {
		t.Errorf("WriteFrame made %d Write calls, want 1", w.calls)
	}
	for _, bad := range []string{"a\x0bb", "a\x1cb"} {
		w.Reset()
		if err := WriteFrame(&w, []byte(bad)); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("WriteFrame(%q) = %v, want ErrInvalidPayload", bad, err)
		}
		if w.Len() != 0 {
			t.Errorf("WriteFrame(%q) wrote %d bytes", bad, w.Len())
		}
	}
	boom := errors.New("boom")
	if err := WriteFrame(failWriter{boom}, []byte("x")); !errors.Is(err, boom) {
		t.Errorf("WriteFrame to failing writer = %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// splitReader returns its input in chunks of pseudo-random sizes.
type splitReader struct {
	data []byte
	rng  *rand.Rand
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(s.data), 1+s.rng.IntN(9))
	copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(frame("MSH|a")+frame("MSH|b")), uint64(1))
	f.Add([]byte("junk\x0bhalf\x0bwhole\x1c\rtail"), uint64(2))
	f.Add([]byte("\x0b0123456789012345678901234567890123\x1c\x0bok\x1c"), uint64(3))
	f.Add([]byte("\x1c\r\x0b\x0b\x1c\x1c\r\r"), uint64(4))
	f.Add([]byte("\x0bMSH|a\x1cPID|b\x1c\r\x0bok\x1c\r"), uint64(5))
	const max = 32
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Arbitrary input: the same outcome however it is split, and no frame
		// above the limit or containing framing bytes.
		// (An end block followed by more of a message is told from the end
		// of the frame only when that byte has arrived: where the input has
		// one, how it is split matters.)
		whole := NewReader(bytes.NewReader(data), WithMaxFrameSize(max))
		want := readAll(whole)
		split := NewReader(&splitReader{data, rand.New(rand.NewPCG(seed, 0))}, WithMaxFrameSize(max))
		got := readAll(split)
		for _, res := range [][]readResult{want, got} {
			for _, r := range res {
				if len(r.payload) > max {
					t.Fatalf("frame of %d bytes exceeds limit %d", len(r.payload), max)
				}
				if strings.ContainsAny(r.payload, "\x0b\x1c") {
					t.Fatalf("payload %q contains framing bytes", r.payload)
				}
			}
		}
		if !hasStrayEndBlock(data) {
			if len(got) != len(want) {
				t.Fatalf("split read gave %q, whole read %q", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("result %d: split read %q, whole read %q", i, got[i], want[i])
				}
			}
			if whole.Skipped() != split.Skipped() {
				t.Fatalf("Skipped: split %d, whole %d", split.Skipped(), whole.Skipped())
			}
		}

		// Valid frames built from the input come back exactly.
		var framed bytes.Buffer
		var payloads []string
		for _, p := range bytes.Split(data, []byte{'|'}) {
			clean := make([]byte, 0, len(p))
			for _, c := range p {
				if c != StartBlock && c != EndBlock {
					clean = append(clean, c)
				}
			}
			p = clean[:min(len(clean), max)]
			payloads = append(payloads, string(p))
			if err := WriteFrame(&framed, p); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
		}
		r := NewReader(&splitReader{framed.Bytes(), rand.New(rand.NewPCG(seed, 1))}, WithMaxFrameSize(max))
		for i, p := range payloads {
			got, err := r.ReadFrame()
			if err != nil || string(got) != p {
				t.Fatalf("frame %d: got %q, %v; want %q", i, got, err, p)
			}
		}
		if _, err := r.ReadFrame(); err != io.EOF {
			t.Fatalf("after all frames: %v, want io.EOF", err)
		}
		if r.Skipped() != 0 {
			t.Fatalf("valid frames skipped %d bytes", r.Skipped())
		}
	})
}

// hasStrayEndBlock reports whether data holds an end block followed by
// what does not end a frame (see Reader.strayEnd).
func hasStrayEndBlock(data []byte) bool {
	for i := 0; i+1 < len(data); i++ {
		if data[i] != EndBlock {
			continue
		}
		switch rest := data[i+1:]; rest[0] {
		case '\n', StartBlock:
		case CarriageReturn:
			rest = rest[1:]
			if len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
			if segmentStart(rest) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("MSH|^~\\&|A|B\rPID|1\r"))
	f.Add([]byte(""))
	f.Add([]byte("\x1c"))
	f.Add([]byte("\r\r\x0d"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var buf bytes.Buffer
		err := WriteFrame(&buf, payload)
		if bytes.ContainsAny(payload, "\x0b\x1c") {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("WriteFrame accepted a payload with framing bytes: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(iotest.HalfReader(&buf))
		got, err := r.ReadFrame()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("round trip: got %q, %v; want %q", got, err, payload)
		}
		if _, err := r.ReadFrame(); err != io.EOF {
			t.Fatalf("after frame: %v, want io.EOF", err)
		}
	})
}

func BenchmarkReadFrame(b *testing.B) {
	msg := []byte("MSH|^~\\&|HIS|GENHOSP|CAREBRIDGE|CB|20240102030405||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r" +
		"EVN|A01|20240102030405\r" +
		"PID|1||123456^^^GENHOSP^MR||DOE^JANE^Q||19800101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||555-0100\r" +
		"PV1|1|I|WARD1^101^A|||||||MED||||||||V0001\r")
	var stream bytes.Buffer
	const frames = 1000
	for range frames {
		if err := WriteFrame(&stream, msg); err != nil {
			b.Fatal(err)
		}
	}
	data := stream.Bytes()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	src := bytes.NewReader(data)
	r := NewReader(src)
	for i := 0; b.Loop(); i++ {
		if i%frames == 0 {
			src.Reset(data)
		}
		if _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
