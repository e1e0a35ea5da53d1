package hl7

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/hl7/*.hl7")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		adt, typed,
		"MSH|^~\\&#|A|B|||||ORU^R01|1|P|2.7\rOBX|1|ST|||a\\P\\b\\X41\\\\.br\\",
		"MSH#$%@!#A#B#####ORU$R01#7#P#2.3\rOBX#1##a$b%c$d!e@f",
		"MSH|^~\\\\&|A\r\n\"\r\nPID|1\n",
		"\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5||||||8859/1\rPID|1||\xe9",
		"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5||||||GB 18030\rPID|1||\x81\x5c|",
		"MSH|^~\\&|||||||||||||||~ISO IR87\rPID|\\M2442\\$\"\\C2842\\",
		"MSH|",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks that Parse never panics and that what it parses
// survives Encode and a second Parse.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			// The NAK of input that does not parse must itself be readable
			// by its sender, with the control ID salvaged when there is one.
			for _, cs := range []string{"", "8859/1"} {
				nak := Acker{Charset: cs}.AckFromRaw(raw, ApplicationReject)
				a, err := ParseWithOptions(nak, ParseOptions{Lenient: true, FallbackCharset: cs})
				if err != nil {
					t.Fatalf("NAK does not parse: %v\nin  %q\nout %q", err, raw, nak)
				}
				if c := a.Get("MSA-1"); c != "AR" && c != "CR" {
					t.Fatalf("NAK MSA-1 = %q\nin  %q\nout %q", c, raw, nak)
				}
			}
			return
		}
		for _, p := range []string{"MSH-9", "MSH-10", "PID-3(2).1", "PID-5.1.1", "OBX(2)-5"} {
			_ = m.Get(p)
		}
		_ = Validate(m)
		_ = m.CX("PID-3")
		enc := m.Encode()
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of Encode output failed: %v\nin  %q\nout %q", err, raw, enc)
		}
		for _, p := range []string{"MSH-9", "MSH-10"} {
			a, b := m.Get(p), again.Get(p)
			if a != b && !strings.ContainsRune(a, utf8.RuneError) {
				t.Fatalf("%s = %q, after Encode and Parse %q\nin  %q\nout %q", p, a, b, raw, enc)
			}
		}
		ack, err := Parse(Ack(m, ApplicationError, "x", ErrorDetail{Location: "PID^1^3", Code: "101", Text: string(raw)}))
		if err != nil {
			t.Fatalf("ACK does not parse: %v", err)
		}
		if got, want := ack.Field("MSA-2").Raw(), m.Field("MSH-10").Raw(); got != want && !strings.ContainsRune(want, utf8.RuneError) {
			t.Fatalf("MSA-2 = %q, want %q", got, want)
		}
	})
}

// FuzzUnescape checks that UnescapeText never panics and undoes EscapeText.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\F\b`, `\X41\`, `\.br\`, `\.sp 3\`, `\H\x\N\`, `\M2442\$"`, `\C2D41\x`, `\`, `\\`, "plain"} {
		f.Add(s)
	}
	d := DefaultDelimiters()
	d.Truncation = '#'
	f.Fuzz(func(t *testing.T, s string) {
		_ = UnescapeText(s, d)
		plain := strings.ReplaceAll(s, "\r", "")
		if got := UnescapeText(EscapeText(plain, d), d); got != plain {
			t.Fatalf("UnescapeText(EscapeText(%q)) = %q", plain, got)
		}
	})
}

// FuzzParseTime checks that TS/DTM parsing never panics and that what it
// accepts prints back in a form it accepts again with the same instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026", "202611", "20261101", "2026110112", "202611011230", "20261101123045",
		"20261101123045.1234", "20261101123045+0100", "20261101123045.5-0530", "2026110112+01", "", "x", "20261399"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s, time.UTC)
		if err != nil {
			return
		}
		again, err := ParseTime(tm.String(), time.UTC)
		if err != nil {
			t.Fatalf("ParseTime(%q) = %v, whose String %q does not parse: %v", s, tm, tm.String(), err)
		}
		if !again.Time.Equal(tm.Time) {
			t.Fatalf("ParseTime(%q) = %v; round trip gives %v", s, tm.Time, again.Time)
		}
	})
}

// FuzzCompilePath checks that terser paths never panic the compiler or Get.
func FuzzCompilePath(f *testing.F) {
	for _, s := range []string{"PID-3", "PID-3(2).1", "PID-5.1.1", "OBX(2)-5", "MSH-9.2", "MSH-1", "MSH-2", "ZZZ-999.9.9", "-", "PID-0"} {
		f.Add(s)
	}
	msg, err := Parse([]byte("MSH|^~\\&|A|B|C|D|20261101||ADT^A01|1|P|2.5.1\rPID|1||X^^^H^MR~Y||N^G\r"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CompilePath(s)
		if err != nil {
			return
		}
		_ = msg.GetPath(p)
		_ = msg.Get(s)
	})
}
