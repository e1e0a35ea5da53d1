package archive

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// FuzzScanner checks, for any input, that the scanner neither panics nor
// returns a message over its limit, that every message's Offset points at
// its bytes and that no framing byte leaks into a message; and, for input
// built from message bodies joined by CR, that those bodies come back
// exactly.
func FuzzScanner(f *testing.F) {
	paths, _ := filepath.Glob("../../testdata/hl7/*.hl7")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(300), false)
		f.Add(append(append([]byte("\x0bjunk\x0b"), b...), "\x1c\rBTS|1\r"...), uint16(1000), true)
	}
	f.Add([]byte("FHS|^~\\&\rBHS|\rMSH|1\r\x1c\rMSH|2\nPID\r\nBTS|x\rFTS\r"), uint16(5), true)
	f.Add([]byte("\xef\xbb\xbfMSH|a\r\xef\xbb\xbf\r\nMSH\x0b\x1c"), uint16(0), false)

	f.Fuzz(func(t *testing.T, data []byte, limit uint16, oneByte bool) {
		max := int(limit%2048) + 1
		var r io.Reader = bytes.NewReader(data)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		s := NewScanner(r, "fuzz", MaxMessageSize(max), OnWarning(func(Warning) {}))
		index := 0
		for s.Scan() {
			m := s.Message()
			index++
			if m.Index != index {
				t.Fatalf("Index = %d, want %d", m.Index, index)
			}
			if len(m.Raw) > max {
				t.Fatalf("message %d has %d bytes, over the limit %d", m.Index, len(m.Raw), max)
			}
			if m.Raw == nil && m.Err == nil {
				t.Fatalf("message %d has neither bytes nor error", m.Index)
			}
			if m.Raw != nil && !bytes.HasPrefix(data[m.Offset:], m.Raw) {
				t.Fatalf("message %d: Offset %d does not point at its bytes", m.Index, m.Offset)
			}
			if bytes.ContainsAny(m.Raw, "\x0b\x1c") {
				t.Fatalf("message %d contains framing bytes: %q", m.Index, m.Raw)
			}
		}
		if s.Err() != nil {
			t.Fatalf("Err() = %v", s.Err())
		}

		// Round trip: bodies made safe and joined by CR come back as they were.
		var bodies [][]byte
		for _, part := range bytes.Split(data, []byte{'|', '|', '|'}) {
			body := bytes.Map(func(r rune) rune {
				switch r {
				case '\r', '\n', 0x0b, 0x1c, 0xfeff:
					return '_'
				}
				return r
			}, part)
			bodies = append(bodies, append([]byte("MSH|"), body...))
		}
		joined := bytes.Join(bodies, []byte("\r"))
		s = NewScanner(bytes.NewReader(joined), "joined", MaxMessageSize(len(joined)+1))
		var got [][]byte
		for s.Scan() {
			if err := s.Message().Err; err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("round trip: %v", err)
			}
			got = append(got, bytes.Clone(s.Message().Raw))
		}
		if len(got) != len(bodies) {
			t.Fatalf("round trip: got %d messages, want %d", len(got), len(bodies))
		}
		for i := range got {
			if !bytes.Equal(got[i], bodies[i]) {
				t.Fatalf("round trip: message %d = %q, want %q", i+1, got[i], bodies[i])
			}
		}
	})
}
