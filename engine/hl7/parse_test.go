package hl7

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adt is a small synthetic ADT^A01 used across the tests.
const adt = "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260101120000+0100||ADT^A01^ADT_A01|CTRL0001|P|2.5.1\r" +
	"EVN|A01|20260101115900\r" +
	"PID|1||MRN1^^^HOSP^MR~NHS9^^^NHS^NH||Doe&van^Jan^Piet^^Mr||19700101|M|||1 Test Lane^^Testville^^1234AB^NLD^H||+31-20-5550000^PRN^PH~jan@example.org^NET^Internet\r" +
	"PV1|1|I|WARD1^12^B^HOSP||||DOC1^Arts^Anna\r" +
	"OBX|1|TX|CODE1||first\r" +
	"OBX|2|TX|CODE2||second value\r"

func mustParse(t testing.TB, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseDelimiters(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Delimiters
		get  map[string]string
	}{
		{
			name: "standard",
			raw:  "MSH|^~\\&|A|B|||||ADT^A01|1|P|2.5\rPID|1||X^Y~Z",
			want: Delimiters{'|', '^', '~', '\\', '&', 0},
			get:  map[string]string{"MSH-1": "|", "MSH-2": "^~\\&", "PID-3": "X^Y", "PID-3(2)": "Z", "PID-3.2": "Y"},
		},
		{
			name: "truncation character",
			raw:  "MSH|^~\\&#|A|B|||||ADT^A01|1|P|2.7\rPID|1||a#b^c",
			want: Delimiters{'|', '^', '~', '\\', '&', '#'},
			get:  map[string]string{"MSH-2": "^~\\&#", "PID-3.1": "a#b", "MSH-3": "A"},
		},
		{
			name: "odd characters",
			raw:  "MSH#$%@!#A#B#####ORU$R01#7#P#2.3\rOBX#1##a$b%c$d!e@f",
			want: Delimiters{'#', '$', '%', '@', '!', 0},
			get: map[string]string{"MSH-1": "#", "MSH-2": "$%@!", "MSH-9.2": "R01", "OBX-3(1).2": "b",
				"OBX-3(2).1": "c", "OBX-3(2).2.2": "e@f", "OBX-3.2": "b"},
		},
		{
			name: "doubled escape character is repaired",
			raw:  "MSH|^~\\\\&|A|B|||||ADT^A01|1|P|2.6\rPID|1||X&Y",
			want: Delimiters{'|', '^', '~', '\\', '&', 0},
			get:  map[string]string{"MSH-2": "^~\\\\&", "PID-3.1.2": "Y"},
		},
		{
			name: "three encoding characters",
			raw:  "MSH|^~\\|A|B|||||ADT^A01|1|P|2.1\rPID|1||X&Y",
			want: Delimiters{'|', '^', '~', '\\', 0, 0},
			get:  map[string]string{"PID-3.1": "X&Y", "PID-3.1.2": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			if got := m.Delimiters(); got != tt.want {
				t.Errorf("Delimiters() = %q, want %q", got.EncodingCharacters(), tt.want.EncodingCharacters())
				t.Errorf("Delimiters() = %+v, want %+v", got, tt.want)
			}
			for p, want := range tt.get {
				if got := m.Get(p); got != want {
					t.Errorf("Get(%q) = %q, want %q", p, got, want)
				}
			}
			if got, want := string(m.Encode()), tt.raw+"\r"; got != want {
				t.Errorf("Encode() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseFraming(t *testing.T) {
	body := []string{"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|42|P|2.4", "PID|1||123", "PV1|1|O"}
	tests := []struct {
		name string
		raw  string
	}{
		{"CR", strings.Join(body, "\r")},
		{"LF", strings.Join(body, "\n")},
		{"CRLF", strings.Join(body, "\r\n") + "\r\n"},
		{"mixed", body[0] + "\r\n" + body[1] + "\n" + body[2] + "\r"},
		{"BOM", "\xEF\xBB\xBF" + strings.Join(body, "\r")},
		{"surrounding whitespace", "\r\n  \t" + strings.Join(body, "\r") + "\r\n \t\r\n\r\n  \n  "},
		{"empty lines between", body[0] + "\r\r\n\n" + body[1] + "\r  \r" + body[2]},
		{"indented segments", body[0] + "\n  " + body[1] + "\n\t" + body[2]},
		{"DOS end-of-file mark", strings.Join(body, "\r\n") + "\r\n\x1a"},
	}
	want := strings.Join(body, "\r") + "\r"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			if got := string(m.Encode()); got != want {
				t.Errorf("Encode() = %q, want %q", got, want)
			}
			if !bytes.Equal(m.Raw(), []byte(tt.raw)) {
				t.Errorf("Raw() changed")
			}
			if n := len(m.Segments()); n != 3 {
				t.Errorf("%d segments, want 3", n)
			}
			if got := m.Get("PID-3"); got != "123" {
				t.Errorf("PID-3 = %q", got)
			}
		})
	}
}

// TestParseRejectsLinesThatAreNotSegments: a line that is not a segment
// is an error (code 100, naming the line), by default: most often it is
// the rest of a segment after an unescaped line break, whose fields would
// be lost. Lenient parsing (for acknowledgements) skips it.
func TestParseRejectsLinesThatAreNotSegments(t *testing.T) {
	msh := "MSH|^~\\&|A|B|C|D|20260101||ADT^A08|42|P|2.4"
	for _, tc := range []struct {
		raw        string
		line, segs int // the line at fault; the segments a lenient parse keeps
	}{
		{msh + "\rjunk\rPID|1", 2, 2},
		{msh + "\r\"\rPID|1||123\rthis is not a segment\rPV1|1|O", 2, 3},
		{msh + "\rpid|1\rPID|1||123\rPV1|1|O", 2, 3},
		{msh + "\rPID|1||M1^^^H^MR||Linefeed^Lena\n||19720304|F\r", 3, 2},
		{msh + "\rPID|1||M1^^^H^MR||Carriage^Cara\r||19720304|F\r", 3, 2},
	} {
		_, err := ParseWithOptions([]byte(tc.raw), ParseOptions{})
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Code != CodeSegmentSequence || !errors.Is(err, ErrSegment) || pe.Line != tc.line {
			t.Errorf("%q: err = %v, want a ParseError 100 at line %d wrapping ErrSegment", tc.raw, err, tc.line)
		}
		m, err := ParseWithOptions([]byte(tc.raw), ParseOptions{Lenient: true})
		if err != nil || len(m.Segments()) != tc.segs {
			t.Errorf("%q lenient: %v", tc.raw, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		code  string
		field int
		is    error
	}{
		{"empty", "", CodeSegmentSequence, 0, ErrNoHeader},
		{"blank", " \r\n ", CodeSegmentSequence, 0, ErrNoHeader},
		{"garbage", "hello world", CodeSegmentSequence, 0, ErrNoHeader},
		{"PID first", "PID|1||2\rMSH|^~\\&|A", CodeSegmentSequence, 0, ErrNoHeader},
		{"MSH only", "MSH", CodeSegmentSequence, 0, ErrNoHeader},
		{"a batch", "FHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rBTS|1\rFTS|1", CodeSegmentSequence, 0, ErrNoHeader},
		{"no encoding characters", "MSH||A|B", CodeDataType, 2, ErrEncodingCharacters},
		{"alphanumeric separator", "MSHX^~\\&XAXB", CodeDataType, 1, ErrEncodingCharacters},
		{"duplicate encoding character", "MSH|^^\\&|A", CodeDataType, 2, ErrEncodingCharacters},
		{"encoding characters too long", "MSH|^~\\&#$|A", CodeDataType, 2, ErrEncodingCharacters},
		{"unknown charset", "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||KLINGON", CodeTableValueNotFound, 18, ErrUnknownCharset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err == nil {
				t.Fatalf("Parse succeeded with %d segments", len(m.Segments()))
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %T %v is not a *ParseError", err, err)
			}
			if pe.Code != tt.code || pe.Field != tt.field || !errors.Is(err, tt.is) {
				t.Errorf("err = %+v (%v), want code %s field %d wrapping %v", pe, err, tt.code, tt.field, tt.is)
			}
			if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
				t.Errorf("error %q is not lower-case", err)
			}
		})
	}
}

func TestBatchErrorSaysSo(t *testing.T) {
	_, err := Parse([]byte("BHS|^~\\&|A\rMSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rBTS|1"))
	if err == nil || !strings.Contains(err.Error(), "a batch (FHS/BHS) is not accepted here") {
		t.Fatalf("err = %v, want it to say batches are not accepted", err)
	}
}

func TestUnknownCharsetErrorNamesIt(t *testing.T) {
	_, err := Parse([]byte("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||KLINGON"))
	if err == nil || !strings.Contains(err.Error(), "KLINGON") {
		t.Fatalf("err = %v, want it to name KLINGON", err)
	}
}

func TestStructure(t *testing.T) {
	m := mustParse(t, adt)
	tests := map[string]string{
		"MSH-1":         "|",
		"MSH-2":         "^~\\&",
		"MSH-3":         "SENDAPP",
		"MSH-9":         "ADT^A01^ADT_A01",
		"MSH-9.1":       "ADT",
		"MSH-9.2":       "A01",
		"MSH-9.3":       "ADT_A01",
		"MSH-9.4":       "",
		"MSH-10":        "CTRL0001",
		"MSH-12":        "2.5.1",
		"MSH-13":        "",
		"PID-3":         "MRN1^^^HOSP^MR",
		"PID-3(1)":      "MRN1^^^HOSP^MR",
		"PID-3(2)":      "NHS9^^^NHS^NH",
		"PID-3(3)":      "",
		"PID-3(2).1":    "NHS9",
		"PID-3(2).4":    "NHS",
		"PID-3.5":       "MR",
		"PID-5":         "Doe&van^Jan^Piet^^Mr",
		"PID-5.1":       "Doe&van",
		"PID-5.1.1":     "Doe",
		"PID-5.1.2":     "van",
		"PID-5.1.3":     "",
		"PID-5.2":       "Jan",
		"PID-5.2.1":     "Jan",
		"PID-5.2.2":     "",
		"PID-13(2).1":   "jan@example.org",
		"PID-99":        "",
		"OBX-5":         "first",
		"OBX(1)-5":      "first",
		"OBX(2)-5":      "second value",
		"OBX(3)-5":      "",
		"ZZZ-1":         "",
		"not a path":    "",
		"PV1-3.1":       "WARD1",
		"PV1-7.2":       "Arts",
		"/PID-3(2)-1":   "NHS9",
		"PID[1]-3[2].4": "NHS",
	}
	for p, want := range tests {
		if got := m.Get(p); got != want {
			t.Errorf("Get(%q) = %q, want %q", p, got, want)
		}
	}
	if n := len(m.SegmentsNamed("OBX")); n != 2 {
		t.Errorf("SegmentsNamed(OBX) = %d, want 2", n)
	}
	if s := m.Segment("OBX", 2); s == nil || s.Field(5).String() != "second value" {
		t.Errorf("Segment(OBX, 2) wrong: %v", s)
	}
	if s := m.Segment("OBX", 3); s != nil {
		t.Errorf("Segment(OBX, 3) = %v, want nil", s)
	}
	if got := m.Segment("MSH", 1).FieldCount(); got != 12 {
		t.Errorf("MSH FieldCount = %d, want 12", got)
	}
	if got := m.Segment("PID", 1).Field(3).RepetitionCount(); got != 2 {
		t.Errorf("PID-3 repetitions = %d, want 2", got)
	}
}

func TestHeaderAccessors(t *testing.T) {
	m := mustParse(t, adt)
	checks := []struct{ name, got, want string }{
		{"ControlID", m.ControlID(), "CTRL0001"},
		{"Type", m.Type(), "ADT^A01"},
		{"MessageCode", m.MessageCode(), "ADT"},
		{"TriggerEvent", m.TriggerEvent(), "A01"},
		{"Structure", m.Structure(), "ADT_A01"},
		{"Version", m.Version(), "2.5.1"},
		{"SendingApplication", m.SendingApplication(), "SENDAPP"},
		{"SendingFacility", m.SendingFacility(), "SENDFAC"},
		{"ReceivingApplication", m.ReceivingApplication(), "RECVAPP"},
		{"ReceivingFacility", m.ReceivingFacility(), "RECVFAC"},
		{"Charset", m.Charset(), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s() = %q, want %q", c.name, c.got, c.want)
		}
	}

	odd := mustParse(t, "MSH|^~\\&|^1.2.3^ISO|FAC^1.2^ISO|||||ACK|9|P|2.5.1^^^^||||||UNICODE UTF-8")
	checks = []struct{ name, got, want string }{
		{"SendingApplication without namespace", odd.SendingApplication(), "^1.2.3^ISO"},
		{"SendingFacility HD.1", odd.SendingFacility(), "FAC"},
		{"Type without trigger", odd.Type(), "ACK"},
		{"Version with components", odd.Version(), "2.5.1"},
		{"Charset", odd.Charset(), "UNICODE UTF-8"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// normalizeWire turns a message file into the form Encode produces.
func normalizeWire(b []byte) string {
	s := strings.TrimPrefix(string(b), "\xEF\xBB\xBF")
	s = strings.ReplaceAll(s, "\r\n", "\r")
	s = strings.ReplaceAll(s, "\n", "\r")
	var out []string
	for _, line := range strings.Split(s, "\r") {
		if strings.TrimSpace(line) != "" {
			out = append(out, strings.TrimLeft(line, " \t"))
		}
	}
	return strings.Join(out, "\r") + "\r"
}

func checkIdentity(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got, want := string(m.Encode()), normalizeWire(raw); got != want {
		t.Errorf("%s: Encode differs from input\n got %q\nwant %q", path, got, want)
	}
	if m.ControlID() == "" && m.MessageCode() == "" {
		t.Errorf("%s: header not read", path)
	}
}

func TestEncodeIdentityTestdata(t *testing.T) {
	files, err := filepath.Glob("../../testdata/hl7/*.hl7")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			checkIdentity(t, f)
			raw, _ := os.ReadFile(f)
			if !bytes.HasSuffix(raw, []byte("\r")) {
				return
			}
			m, _ := Parse(raw)
			if !bytes.Equal(m.Encode(), raw) {
				t.Errorf("Encode is not byte-identical to the CR-terminated file")
			}
		})
	}
}

const corpusDir = "../../../shared/corpus/hl7v2"

func corpusFiles(t testing.TB) []string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not present: %v", err)
	}
	var files []string
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".hl7") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("corpus holds no .hl7 files")
	}
	return files
}

func TestCorpus(t *testing.T) {
	for _, f := range corpusFiles(t) {
		name, _ := filepath.Rel(corpusDir, f)
		t.Run(name, func(t *testing.T) {
			checkIdentity(t, f)
			raw, _ := os.ReadFile(f)
			m, err := Parse(raw)
			if err != nil {
				return
			}
			// Some corpus messages leave MSH-10 empty; anything else is a
			// false alarm.
			for _, e := range Validate(m) {
				if e.Location != "MSH^1^10" {
					t.Errorf("Validate: %+v", e)
				}
			}
			ack, err := Parse(Ack(m, ApplicationAccept, ""))
			if err != nil {
				t.Fatalf("ACK does not parse: %v", err)
			}
			if ack.Get("MSA-2") != m.ControlID() {
				t.Errorf("MSA-2 = %q, want %q", ack.Get("MSA-2"), m.ControlID())
			}
		})
	}
}

func TestStrayEscapeAfterMSH(t *testing.T) {
	// Like a message saved on Windows by a tool that wrote a literal \r"
	// at the end of MSH: CRLF terminators and an unterminated escape.
	raw := "MSH|^~\\\\&|APP|FAC|RCV|RFAC|20120912011230||ADT^A01|102|T|2.6|||AL|NE|764|ASCII||||||^4086::132:2A57:3C28^IPv6\\r\"\r\n" +
		"EVN||201209122222\r\n" +
		"PID|0010||PID1234^5^M11^A^MR^HOSP||Sample^Sam\r\n"
	m := mustParse(t, raw)
	if got := m.Get("MSH-24.3"); got != `IPv6\r"` {
		t.Errorf("MSH-24.3 = %q, want the text kept verbatim", got)
	}
	if got := m.Get("PID-3.1"); got != "PID1234" || len(m.Segments()) != 3 {
		t.Errorf("PID-3.1 = %q, %d segments", got, len(m.Segments()))
	}
	if got, want := string(m.Encode()), normalizeWire([]byte(raw)); got != want {
		t.Errorf("Encode() = %q, want %q", got, want)
	}
}

func TestConcurrentReads(t *testing.T) {
	m := mustParse(t, adt)
	done := make(chan string)
	for range 8 {
		go func() {
			v := ""
			for range 100 {
				v = m.Get("PID-3(2).1") + m.Get("PID-5.1.2") + string(m.Encode()[:3])
				_ = m.CX("PID-3")
			}
			done <- v
		}()
	}
	for range 8 {
		if v := <-done; v != "NHS9vanMSH" {
			t.Errorf("concurrent read = %q", v)
		}
	}
}

// TestAppendFieldsAgreesWithField checks that AppendFields gives every
// field as Field does, for parsed segments (MSH included), a modified one,
// segments without fields and the corpus.
func TestAppendFieldsAgreesWithField(t *testing.T) {
	msgs := []*Message{
		mustParse(t, adt),
		mustParse(t, "MSH|^~\\&\rZZZ\rZZ1|\rPID|||x||\r"),
		mustParse(t, "MSH|^~\\&|\r"),
	}
	mod := mustParse(t, adt)
	if err := mod.Set("PID-5.2", "Jo"); err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, mod)
	for _, f := range corpusFiles(t) {
		raw, _ := os.ReadFile(f)
		if m, err := Parse(raw); err == nil {
			msgs = append(msgs, m)
		}
	}
	for _, m := range msgs {
		for _, s := range m.Segments() {
			got := s.AppendFields([]Field{{raw: "before"}})
			if len(got) != s.FieldCount()+2 || got[0].raw != "before" {
				t.Fatalf("%s: %d fields, want %d after the one before", s, len(got)-1, s.FieldCount()+1)
			}
			for n, f := range got[1:] {
				if f != s.Field(n) {
					t.Errorf("%s: field %d = %+v, Field gives %+v", s, n, f, s.Field(n))
				}
			}
		}
	}
}

// TestAppendComponentsAgreesWithComponent checks that AppendComponents
// gives every part as Component does, at every level, for every field of
// the test messages and the corpus.
func TestAppendComponentsAgreesWithComponent(t *testing.T) {
	msgs := []*Message{mustParse(t, adt), mustParse(t, "MSH|^~\\&|A^B&C||||||ADT^A01|1|P|2.5\rPID|||1^^^H&1.2&ISO^MR~2||a&b^c\r")}
	for _, f := range corpusFiles(t) {
		raw, _ := os.ReadFile(f)
		if m, err := Parse(raw); err == nil {
			msgs = append(msgs, m)
		}
	}
	var check func(where string, v Field, depth int)
	check = func(where string, v Field, depth int) {
		parts := v.AppendComponents([]Field{{raw: "before"}})[1:]
		if len(parts) == 0 {
			t.Fatalf("%s: no parts", where)
		}
		for n := 1; n <= len(parts)+1; n++ {
			want := v.Component(n)
			got := Field{d: want.d, cs: want.cs, level: want.level} // past the parts: empty
			if n <= len(parts) {
				got = parts[n-1]
			}
			if got != want {
				t.Errorf("%s: part %d = %+v, Component gives %+v", where, n, got, want)
			}
			if depth < 3 && n <= len(parts) {
				check(where+"."+string(rune('0'+n%10)), want, depth+1)
			}
		}
	}
	for _, m := range msgs {
		for _, s := range m.Segments() {
			for n := 0; n <= s.FieldCount(); n++ {
				f := s.Field(n)
				check(s.Name(), f, 0)
				for r := 1; r <= f.RepetitionCount(); r++ {
					check(s.Name()+"(r)", f.Repetition(r), 0)
				}
			}
		}
	}
}

// Bytes that are not text in the message's character set are refused (they
// would reach the record as U+FFFD): Latin-1 sent without MSH-18 to a UTF-8
// listener, invalid UTF-8 under MSH-18 UTF-8, an invalid GB 18030 sequence.
func TestInvalidTextIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, raw, fallback, where string
	}{
		{"latin-1 without MSH-18", "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||1||M\xfcller^J\xfcrgen", "", "byte 47 is not valid UNICODE UTF-8 (assumed: the message has no MSH-18)"},
		{"invalid UTF-8 under MSH-18", "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||1||Bad\xff^X", "", "is not valid UNICODE UTF-8 (the message's MSH-18)"},
		{"invalid GB 18030", "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||GB 18030\rPID|1||1||\x81\x20^X", "", "segment 2 is not valid GB 18030"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWithOptions([]byte(tc.raw), ParseOptions{FallbackCharset: tc.fallback})
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidText) || pe.Field != 18 || pe.Code != CodeDataType || !strings.Contains(err.Error(), tc.where) {
				t.Fatalf("err = %v, want ErrInvalidText at MSH-18 saying %q", err, tc.where)
			}
		})
	}
	// The same Latin-1 bytes under the listener's 8859/1 are text.
	m, err := ParseWithOptions([]byte("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||1||M\xfcller^J\xfcrgen"), ParseOptions{FallbackCharset: "8859/1"})
	if err != nil || m.Get("PID-5.1") != "Müller" {
		t.Fatalf("under 8859/1: %v %q", err, m.Get("PID-5.1"))
	}
}
