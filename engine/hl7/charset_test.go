package hl7

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

func encodeWith(t *testing.T, enc encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

func TestCharsets(t *testing.T) {
	header := func(charset string) string {
		return "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5||||||" + charset + "\r"
	}
	tests := []struct {
		name     string
		enc      encoding.Encoding // wire encoding of the whole message
		charset  string            // MSH-18
		fallback string
		family   string // PID-5.1 as written (UTF-8)
		given    string
		check    func(t *testing.T, wire []byte)
	}{
		{
			name: "GB 18030", enc: simplifiedchinese.GB18030, charset: "GB 18030", family: "张", given: "伟",
		},
		{
			// 乗 in GB 18030 is 0x81 0x5C: its trailing byte is '\'.
			name: "GB 18030 trailing byte equals escape", enc: simplifiedchinese.GB18030, charset: "GB 18030",
			family: "乗丂", given: "伟|",
			check: func(t *testing.T, wire []byte) {
				if !bytes.Contains(wire, []byte{0x81, 0x5C}) {
					t.Fatalf("test data no longer has a backslash trail byte: % x", wire)
				}
			},
		},
		{
			// 功 in Big5 is 0xA5 0x5C.
			name: "Big5 trailing byte equals escape", enc: traditionalchinese.Big5, charset: "BIG-5", family: "許功蓋", given: "王",
			check: func(t *testing.T, wire []byte) {
				if !bytes.Contains(wire, []byte{0xA5, 0x5C}) {
					t.Fatalf("test data no longer has a backslash trail byte: % x", wire)
				}
			},
		},
		{name: "8859/1", enc: charmap.ISO8859_1, charset: "8859/1", family: "Müller", given: "Éloïse"},
		{name: "8859/15", enc: charmap.ISO8859_15, charset: "8859/15", family: "Euro€", given: "Œdipe"},
		{name: "8859/5", enc: charmap.ISO8859_5, charset: "8859/5", family: "Иванов", given: "Иван"},
		{name: "Windows-1252", enc: charmap.Windows1252, charset: "WINDOWS-1252", family: "O’Brien", given: "Zoë"},
		{name: "KS X 1001", enc: korean.EUCKR, charset: "KS X 1001", family: "김", given: "민준"},
		{name: "ISO IR14 half-width katakana", enc: japanese.ShiftJIS, charset: "ISO IR14", family: "ﾀﾅｶ", given: "ﾀﾛｳ"},
		{name: "ISO IR87 as alternate", enc: japanese.ISO2022JP, charset: "~ISO IR87", family: "山田", given: "太郎"},
		{name: "UTF-8", enc: nil, charset: "UNICODE UTF-8", family: "张", given: "Zoë"},
		{name: "empty means UTF-8", enc: nil, charset: "", family: "张", given: "Zoë"},
		{name: "fallback 8859/1", enc: charmap.ISO8859_1, charset: "", fallback: "8859/1", family: "Dvořák"[:3] + "é", given: "José"},
		{name: "fallback GB 18030", enc: simplifiedchinese.GB18030, charset: "", fallback: "GB 18030", family: "张", given: "伟"},
		{name: "MSH-18 wins over fallback", enc: charmap.ISO8859_1, charset: "8859/1", fallback: "GB 18030", family: "é", given: "è"},
		{name: "UTF-16 with BOM", enc: unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), charset: "UNICODE UTF-16", family: "张", given: "伟"},
		{name: "UTF-16 without BOM", enc: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), charset: "UNICODE UTF-16", family: "张", given: "伟"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := header(tt.charset) + "PID|1||42||" + EscapeText(tt.family, DefaultDelimiters()) + "^" +
				EscapeText(tt.given, DefaultDelimiters()) + "||19800101|F\r"
			wire := []byte(text)
			if tt.enc != nil {
				wire = encodeWith(t, tt.enc, text)
			}
			if tt.check != nil {
				tt.check(t, wire)
			}
			m, err := ParseWithOptions(wire, ParseOptions{FallbackCharset: tt.fallback})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := m.Get("PID-5.1"); got != tt.family {
				t.Errorf("PID-5.1 = %q, want %q", got, tt.family)
			}
			if got := m.Get("PID-5.2"); got != tt.given {
				t.Errorf("PID-5.2 = %q, want %q", got, tt.given)
			}
			if got := m.Get("PID-7"); got != "19800101" {
				t.Errorf("PID-7 = %q: fields shifted", got)
			}
			want := tt.charset
			if want == "" {
				want = tt.fallback
			}
			if got := m.Charset(); got != want {
				t.Errorf("Charset() = %q, want %q", got, want)
			}
			if !bytes.Equal(m.Raw(), wire) {
				t.Errorf("Raw() is not the received bytes")
			}
			if got := m.Encode(); !bytes.Equal(got, wire) {
				t.Errorf("Encode() = % x\nwant       % x", got, wire)
			}
		})
	}
}

func TestCharsetHexEscapeUsesMessageCharset(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rPID|1||1||Ren\\XE9\\")
	if got := m.Get("PID-5"); got != "René" {
		t.Errorf("PID-5 = %q, want René", got)
	}
}

func TestCharsetNames(t *testing.T) {
	tests := []struct {
		name    string
		wantErr bool
	}{
		{"ASCII", false}, {"8859/1", false}, {"8859/2", false}, {"8859/9", false}, {"8859/15", false},
		{"UNICODE", false}, {"UNICODE UTF-8", false}, {"UNICODE UTF-16", false}, {"UNICODE UTF-32", false},
		{"GB 18030", false}, {"ISO IR6", false}, {"ISO IR14", false}, {"ISO IR87", false}, {"ISO IR159", false},
		{"KS X 1001", false}, {"BIG-5", false}, {"WINDOWS-1252", false}, {"unicode utf-8", false},
		{"ISO-8859-1", false}, {"Shift_JIS", false}, {"EUC-JP", false},
		{"CNS 11643-1992", true}, {"KLINGON", true},
	}
	for _, tt := range tests {
		_, err := lookupCharset(tt.name)
		if (err != nil) != tt.wantErr {
			t.Errorf("lookupCharset(%q) error = %v, want error %v", tt.name, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnknownCharset) {
			t.Errorf("lookupCharset(%q) error %v does not wrap ErrUnknownCharset", tt.name, err)
		}
	}
}

func TestCheckCharset(t *testing.T) {
	if err := CheckCharset("GB 18030"); err != nil {
		t.Errorf("CheckCharset(GB 18030) = %v", err)
	}
	if err := CheckCharset("KLINGON"); !errors.Is(err, ErrUnknownCharset) {
		t.Errorf("CheckCharset(KLINGON) = %v, want ErrUnknownCharset", err)
	}
}
