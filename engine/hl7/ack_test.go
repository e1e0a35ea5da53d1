package hl7

import (
	"golang.org/x/text/encoding/simplifiedchinese"
	"strings"
	"testing"
	"time"
)

// fixedAcker makes acknowledgments reproducible.
var fixedAcker = Acker{
	Now:       func() time.Time { return time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("", 3600)) },
	ControlID: func() string { return "ACK0001" },
}

func TestAckGolden(t *testing.T) {
	m := mustParse(t, adt)
	got := string(fixedAcker.Ack(m, ApplicationError, "bad PID", ErrorDetail{
		Location: "PID^1^3", Code: CodeRequiredFieldMissing, Text: "PID-3 | missing"}))
	want := "MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20260203040506+0100||ACK^A01^ACK|ACK0001|P|2.5.1\r" +
		"MSA|AE|CTRL0001|bad PID\r" +
		"ERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 \\F\\ missing\r"
	if got != want {
		t.Errorf("Ack =\n%q\nwant\n%q", got, want)
	}
}

func TestAck(t *testing.T) {
	original := adt
	enhanced := strings.Replace(adt, "|P|2.5.1\r", "|P|2.5.1|||AL|NE\r", 1)
	legacy := "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A04|C9|T|2.3\rPID|1||1"
	odd := "MSH#$%@!#SA$X#SF#RA#RF#20260101##ORU$R01#C7#P#2.7\rOBX#1"
	tests := []struct {
		name     string
		msg      string
		outcome  Outcome
		code     AckCode
		errs     []ErrorDetail
		msgType  string
		wantERR  int
		legacyE1 bool
	}{
		{name: "original accept", msg: original, outcome: Accepted, code: ApplicationAccept, msgType: "ACK^A01^ACK"},
		{name: "original error", msg: original, outcome: Error, code: ApplicationError, msgType: "ACK^A01^ACK", wantERR: 1},
		{name: "original reject with two errors", msg: original, outcome: Rejected, code: ApplicationReject,
			errs:    []ErrorDetail{{Location: "MSH^1^12", Code: CodeUnsupportedVersionID}, {Location: "PID^1^3", Code: CodeRequiredFieldMissing, Severity: "W"}},
			msgType: "ACK^A01^ACK", wantERR: 2},
		{name: "enhanced commit accept", msg: enhanced, outcome: Accepted, code: CommitAccept, msgType: "ACK^A01^ACK"},
		{name: "enhanced commit error", msg: enhanced, outcome: Error, code: CommitError, msgType: "ACK^A01^ACK", wantERR: 1},
		{name: "enhanced commit reject", msg: enhanced, outcome: Rejected, code: CommitReject, msgType: "ACK^A01^ACK", wantERR: 1},
		{name: "v2.3 has ERR-1 and no structure", msg: legacy, outcome: Rejected, code: ApplicationReject,
			errs: []ErrorDetail{{Location: "PID^1^3", Code: CodeRequiredFieldMissing}}, msgType: "ACK^A04", wantERR: 1, legacyE1: true},
		{name: "odd delimiters", msg: odd, outcome: Error, code: ApplicationError,
			errs: []ErrorDetail{{Location: "OBX^1^5", Code: CodeDataType, Text: "a#b$c"}}, msgType: "ACK^R01^ACK", wantERR: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.msg)
			code := AckCodeFor(m, tt.outcome)
			if code != tt.code {
				t.Fatalf("AckCodeFor = %s, want %s", code, tt.code)
			}
			raw := Ack(m, code, "text", tt.errs...)
			if strings.Contains(string(raw), "\n") || !strings.HasSuffix(string(raw), "\r") {
				t.Errorf("segments not CR-terminated: %q", raw)
			}
			a, err := Parse(raw)
			if err != nil {
				t.Fatalf("ACK does not parse: %v\n%q", err, raw)
			}
			if a.Delimiters() != m.Delimiters() {
				t.Errorf("delimiters %+v, want %+v", a.Delimiters(), m.Delimiters())
			}
			checks := []struct{ what, got, want string }{
				{"MSH-3", a.Get("MSH-3"), m.Get("MSH-5")},
				{"MSH-4", a.Get("MSH-4"), m.Get("MSH-6")},
				{"MSH-5", a.Get("MSH-5"), m.Get("MSH-3")},
				{"MSH-6", a.Get("MSH-6"), m.Get("MSH-4")},
				{"MSH-9", strings.ReplaceAll(a.Get("MSH-9"), string(m.Delimiters().Component), "^"), tt.msgType},
				{"MSH-11", a.Get("MSH-11"), m.Get("MSH-11")},
				{"MSH-12", a.Get("MSH-12"), m.Get("MSH-12")},
				{"MSA-1", a.Get("MSA-1"), string(tt.code)},
				{"MSA-2", a.Get("MSA-2"), m.ControlID()},
				{"MSA-3", a.Get("MSA-3"), "text"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			if a.ControlID() == "" || a.ControlID() == m.ControlID() {
				t.Errorf("MSH-10 = %q, want a new control ID", a.ControlID())
			}
			if _, err := a.Time("MSH-7", nil); err != nil || a.Get("MSH-7") == "" {
				t.Errorf("MSH-7 = %q: %v", a.Get("MSH-7"), err)
			}
			errSegs := a.SegmentsNamed("ERR")
			if len(errSegs) != tt.wantERR {
				t.Fatalf("%d ERR segments, want %d:\n%q", len(errSegs), tt.wantERR, raw)
			}
			for i, e := range errSegs {
				code := e.Field(3).Component(1).String()
				if code == "" || e.Field(3).Component(3).String() != "HL70357" {
					t.Errorf("ERR-3 = %q", e.Field(3).Raw())
				}
				sev := e.Field(4).String()
				if i < len(tt.errs) {
					if code != tt.errs[i].Code || e.Field(2).Component(1).String() != strings.Split(tt.errs[i].Location, "^")[0] {
						t.Errorf("ERR %d = %q, want %+v", i, e.String(), tt.errs[i])
					}
					if want := tt.errs[i].Severity; want != "" && sev != want {
						t.Errorf("ERR-4 = %q, want %q", sev, want)
					}
					if tt.errs[i].Text != "" && e.Field(8).String() != tt.errs[i].Text {
						t.Errorf("ERR-8 = %q, want %q", e.Field(8).String(), tt.errs[i].Text)
					}
				} else if code != CodeApplicationInternalError || sev != "E" {
					t.Errorf("generic ERR = %q", e.String())
				}
				if hasE1 := e.Field(1).Raw() != ""; hasE1 != tt.legacyE1 {
					t.Errorf("ERR-1 = %q, want present %v", e.Field(1).Raw(), tt.legacyE1)
				}
				if tt.legacyE1 {
					if got := e.Field(1).Component(4).Component(1).String(); got != code {
						t.Errorf("ERR-1.4.1 = %q, want %q", got, code)
					}
					if got := e.Field(1).Component(3).String(); got != "3" {
						t.Errorf("ERR-1.3 = %q, want 3", got)
					}
				}
			}
		})
	}
}

func TestAckCharsetFollowsMessage(t *testing.T) {
	wire := encodeWith(t, simplifiedchinese.GB18030, "MSH|^~\\&|A|B|C|D|1||ADT^A01|X1|P|2.5||||||GB 18030\rPID|1")
	m, err := Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	raw := Ack(m, ApplicationError, "", ErrorDetail{Code: CodeDataType, Text: "姓名 张伟 无效"})
	a, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a.Charset() != "GB 18030" || a.Get("ERR-8") != "姓名 张伟 无效" {
		t.Errorf("charset %q ERR-8 %q", a.Charset(), a.Get("ERR-8"))
	}
	if strings.Contains(string(raw), "张") {
		t.Errorf("ACK was written as UTF-8, not GB 18030")
	}
}

func TestAckWanted(t *testing.T) {
	base := "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5|||%s|%s\rPID|1"
	tests := []struct {
		msh15, msh16     string
		enhanced         bool
		success, failure bool // AcceptAckWanted
		appSucc, appFail bool // ApplicationAckWanted
	}{
		{"", "", false, true, true, true, true},
		{"AL", "NE", true, true, true, false, false},
		{"NE", "AL", true, false, false, true, true},
		{"ER", "SU", true, false, true, true, false},
		{"SU", "ER", true, true, false, false, true},
		{"", "AL", true, true, true, true, true},
		{"al", "", true, true, true, true, true},
	}
	for _, tt := range tests {
		m := mustParse(t, strings.Replace(strings.Replace(base, "%s", tt.msh15, 1), "%s", tt.msh16, 1))
		name := tt.msh15 + "/" + tt.msh16
		if m.IsEnhancedMode() != tt.enhanced {
			t.Errorf("%s: IsEnhancedMode = %v", name, !tt.enhanced)
		}
		if AcceptAckWanted(m, true) != tt.success || AcceptAckWanted(m, false) != tt.failure {
			t.Errorf("%s: AcceptAckWanted(true,false) = %v,%v want %v,%v", name,
				AcceptAckWanted(m, true), AcceptAckWanted(m, false), tt.success, tt.failure)
		}
		if ApplicationAckWanted(m, true) != tt.appSucc || ApplicationAckWanted(m, false) != tt.appFail {
			t.Errorf("%s: ApplicationAckWanted wrong", name)
		}
	}
}

func TestAckFromRaw(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		code    string // ERR-3.1
		msa2    string
		sendApp string // expected MSH-5 of the ACK
		delims  Delimiters
		version string
	}{
		{name: "garbage", raw: "\x00\x01 not hl7 at all", code: CodeSegmentSequence, delims: DefaultDelimiters(), version: "2.5.1"},
		{name: "empty", raw: "", code: CodeSegmentSequence, delims: DefaultDelimiters(), version: "2.5.1"},
		{name: "unknown charset salvaged", raw: "MSH|^~\\&|SA|SF|RA|RF|1||ADT^A01|C42|P|2.4||||||KLINGON\rPID|1",
			code: CodeTableValueNotFound, msa2: "C42", sendApp: "SA", delims: DefaultDelimiters(), version: "2.4"},
		{name: "junk before MSH", raw: "garbage\rMSH#$%@!#SA#SF#RA#RF#1##ADT$A01#C43#P#2.6#######BAD",
			code: CodeSegmentSequence, msa2: "C43", sendApp: "SA", delims: Delimiters{'#', '$', '%', '@', '!', 0}, version: "2.6"},
		// Broken MSH-2: the fields are still read by the field separator,
		// so that the NAK says which message it refuses and to whom.
		{name: "bad encoding characters", raw: "MSH|^^\\&|SA|SF|RA|RF|1||ADT^A01|C44|P|2.4\rPID|1",
			code: CodeDataType, msa2: "C44", sendApp: "SA", delims: DefaultDelimiters(), version: "2.4"},
		{name: "bad encoding characters, other field separator", raw: "MSH#^^\\&#SA#SF#RA#RF#1##ADT^A01#C45#P#2.5.1\rPID#1",
			code: CodeDataType, msa2: "C45", sendApp: "SA", delims: Delimiters{'#', '^', '~', '\\', '&', 0}, version: "2.5.1"},
		{name: "bad encoding characters, unusable field separator", raw: "MSH^^~\\&^SA^SF", code: CodeDataType, delims: DefaultDelimiters(), version: "2.5.1"},
		{name: "parses fine", raw: adt, code: CodeApplicationInternalError, msa2: "CTRL0001", sendApp: "SENDAPP", delims: DefaultDelimiters(), version: "2.5.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := fixedAcker.AckFromRaw([]byte(tt.raw), ApplicationReject)
			a, err := Parse(raw)
			if err != nil {
				t.Fatalf("ACK does not parse: %v\n%q", err, raw)
			}
			if a.Get("MSA-1") != "AR" || a.Get("MSA-2") != tt.msa2 {
				t.Errorf("MSA = %q", a.Segment("MSA", 1).String())
			}
			if got := a.Get("ERR-3.1"); got != tt.code {
				t.Errorf("ERR-3.1 = %q, want %q (%q)", got, tt.code, raw)
			}
			if a.Get("MSH-5") != tt.sendApp || a.Delimiters() != tt.delims || a.Version() != tt.version {
				t.Errorf("header = %q", a.Segment("MSH", 1).String())
			}
		})
	}
	custom := AckFromRaw([]byte("junk"), CommitReject, ErrorDetail{Code: CodeUnsupportedMessageType, Text: "no"})
	if a := mustParse(t, string(custom)); a.Get("ERR-3.1") != CodeUnsupportedMessageType || a.Get("MSA-1") != "CR" || a.Get("MSA-3") != "no" {
		t.Errorf("custom errors ignored: %q", custom)
	}
}

func TestSalvage(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want SalvagedHeader
	}{
		{"unknown character set", "MSH|^~\\&|ADT1^X|HOSP^Y|CB|CB|20261201120000||ADT^A01^ADT_A01|BAD00009|P|2.5.1|||||KLINGON\rPID|1\r",
			SalvagedHeader{SendingApplication: "ADT1", SendingFacility: "HOSP", MessageType: "ADT^A01", MessageTime: "20261201120000", ControlID: "BAD00009"}},
		{"other delimiters", "MSH#!@$%#LAB#HOSP#CB#CB#20261201#@#ORU!R01#C7#P#2.4\r",
			SalvagedHeader{SendingApplication: "LAB", SendingFacility: "HOSP", MessageType: "ORU^R01", MessageTime: "20261201", ControlID: "C7"}},
		{"no MSH", "PID|1||X\r", SalvagedHeader{}},
		{"MSH only inside a field", "PID|1||X|MSH|^~\\&|A|B|C|D|2026||ADT^A01|LEAK|P|2.5\r", SalvagedHeader{}},
		{"byte-order mark first", "\xef\xbb\xbfMSH|^~\\&|A|B|C|D|2026||ADT^A01|C3|P|2.5\r", SalvagedHeader{SendingApplication: "A", SendingFacility: "B", MessageType: "ADT^A01", MessageTime: "2026", ControlID: "C3"}},
		{"junk line first", "garbage\r\nMSH|^~\\&|A|B|C|D|2026||ADT^A01|C2|P|2.5\r", SalvagedHeader{SendingApplication: "A", SendingFacility: "B", MessageType: "ADT^A01", MessageTime: "2026", ControlID: "C2"}},
		{"no trigger", "MSH|^~\\&|A|B|C|D|2026||ACK|C1|P|2.5\r", SalvagedHeader{SendingApplication: "A", SendingFacility: "B", MessageType: "ACK", MessageTime: "2026", ControlID: "C1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Salvage([]byte(tc.raw)); got != tc.want {
				t.Errorf("Salvage = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAckFromRawSalvagesModeAndCharset: the NAK of a message that does not
// parse is CR in enhanced mode, names the message's character set (or the
// Acker's, when the message names none it knows) and is encoded in it, with
// the fields it copies decoded from it.
func TestAckFromRawSalvagesModeAndCharset(t *testing.T) {
	broken := "\rPID|1||P1\rnot a segment\r"
	gb := simplifiedchinese.GB18030.NewEncoder()
	fac, err := gb.String("东院")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, raw, charset string
		code               AckCode
		charsetField       string
		wantRecvFac        string
	}{
		{"original, no MSH-18", "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A01|C1|P|2.5.1" + broken, "", ApplicationReject, "", "SF"},
		{"original, listener charset", "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A01|C1|P|2.5.1" + broken, "8859/1", ApplicationReject, "8859/1", "SF"},
		{"enhanced MSH-15", "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A01|C1|P|2.5.1|||AL" + broken, "", CommitReject, "", "SF"},
		{"enhanced MSH-16 only", "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A01|C1|P|2.5.1||||ER" + broken, "", CommitReject, "", "SF"},
		{"GB 18030 names", "MSH|^~\\&|SA|" + fac + "|RA|RF|20260101||ADT^A01|C1|P|2.5.1|||AL|NE||GB 18030" + broken, "UNICODE UTF-8", CommitReject, "GB 18030", "东院"},
		{"unknown MSH-18: the listener's", "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A01|C1|P|2.5.1||||||KLINGON" + broken, "UNICODE UTF-8", ApplicationReject, "UNICODE UTF-8", "SF"},
		{"UTF-16 named on ASCII bytes: not used", "MSH|^~\\&|SA|SF|RA|RF|20260101||ADT^A01|C1|P|2.5.1||||||UNICODE UTF-16" + broken, "", ApplicationReject, "", "SF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseWithOptions([]byte(tc.raw), ParseOptions{FallbackCharset: tc.charset}); err == nil {
				t.Fatal("the test message parses")
			}
			ack := Acker{Charset: tc.charset}.AckFromRaw([]byte(tc.raw), ApplicationReject)
			a, err := ParseWithOptions(ack, ParseOptions{FallbackCharset: tc.charset})
			if err != nil {
				t.Fatalf("ACK %q does not parse: %v", ack, err)
			}
			if got := a.Get("MSA-1"); got != string(tc.code) {
				t.Errorf("MSA-1 = %s, want %s: %q", got, tc.code, ack)
			}
			if got := a.Get("MSH-18"); got != tc.charsetField {
				t.Errorf("MSH-18 = %q, want %q", got, tc.charsetField)
			}
			if got := a.Get("MSH-6"); got != tc.wantRecvFac {
				t.Errorf("MSH-6 = %q, want %q: %q", got, tc.wantRecvFac, ack)
			}
			if a.Get("MSA-2") != "C1" || a.Get("ERR-3.1") == "" {
				t.Errorf("MSA-2 %q, ERR-3 %q: %q", a.Get("MSA-2"), a.Get("ERR-3.1"), ack)
			}
		})
	}
}
