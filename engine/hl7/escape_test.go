package hl7

import (
	"strings"
	"testing"
)

func TestUnescapeText(t *testing.T) {
	d := DefaultDelimiters()
	d7 := d
	d7.Truncation = '#'
	tests := []struct {
		name string
		in   string
		d    Delimiters
		want string
	}{
		{"plain", "hello", d, "hello"},
		{"field", `a\F\b`, d, "a|b"},
		{"component", `a\S\b`, d, "a^b"},
		{"subcomponent", `a\T\b`, d, "a&b"},
		{"repetition", `a\R\b`, d, "a~b"},
		{"escape", `C:\E\temp`, d, `C:\temp`},
		{"truncation", `a\P\b`, d7, "a#b"},
		{"truncation undefined", `a\P\b`, d, `a\P\b`},
		{"all together", `\F\\S\\T\\R\\E\`, d, `|^&~\`},
		{"hex ascii", `\X41424344\`, d, "ABCD"},
		{"hex utf-8", `caf\XC3A9\`, d, "café"},
		{"hex latin-1", `caf\XE9\`, d, "café"},
		{"hex lower case", `\X6a6b\`, d, "jk"},
		{"hex odd digits", `\X414\`, d, `\X414\`},
		{"hex not hex", `\XZZ\`, d, `\XZZ\`},
		{"empty hex", `\X\`, d, `\X\`},
		{"line break", `one\.br\two`, d, "one\ntwo"},
		{"space lines", `one\.sp 2\two`, d, "one\n\ntwo"},
		{"skip", `a\.sk 3\b`, d, "a   b"},
		{"indent dropped", `\.in 4\text`, d, "text"},
		{"fill dropped", `\.fi\a\.nf\b\.ce\c`, d, "abc"},
		{"unknown formatting", `\.zz\x`, d, `\.zz\x`},
		{"bad sp argument", `\.sp x\y`, d, `\.sp x\y`},
		{"highlight stripped", `normal \H\bold\N\ normal`, d, "normal bold normal"},
		{"locally defined kept", `\Zabc\x`, d, `\Zabc\x`},
		{"unknown kept", `\Q\x`, d, `\Q\x`},
		{"unterminated", `IPv6\r"`, d, `IPv6\r"`},
		{"empty sequence", `a\\b`, d, `a\\b`},
		{"bad then good", `a\q\F\`, d, `a\q|`},
		{"trailing escape char", `abc\`, d, `abc\`},
		{"charset switch latin-1 kept", `\C2D41\café`, d, "café"},
		{"charset switch latin-1 bytes", "\\C2D41\\caf\xe9\\C2842\\ ok", d, "café ok"},
		{"jis x 0208 undecodable kept", "\\M2442\\F\\C2842\\ end", d, "\\M2442\\F end"},
		{"jis x 0208 decoded", "\\M2442\\$\"$+\\C2842\\!", d, "あか!"},
		{"unknown switch kept", `\C9999\x`, d, `\C9999\x`},
		{"odd delimiters", `a@F@b@S@c`, Delimiters{'#', '$', '%', '@', '!', 0}, "a#b$c"},
		{"no escape character", `a\F\b`, Delimiters{Field: '|', Component: '^'}, `a\F\b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnescapeText(tt.in, tt.d); got != tt.want {
				t.Errorf("UnescapeText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEscapeText(t *testing.T) {
	d := DefaultDelimiters()
	d7 := d
	d7.Truncation = '#'
	tests := []struct {
		name string
		in   string
		d    Delimiters
		want string
	}{
		{"plain", "hello", d, "hello"},
		{"delimiters", `a|b^c&d~e\f`, d, `a\F\b\S\c\T\d\R\e\E\f`},
		{"truncation", "a#b", d7, `a\P\b`},
		{"hash without truncation", "a#b", d, "a#b"},
		{"line breaks", "a\nb\r\nc\rd", d, `a\.br\b\.br\c\.br\d`},
		{"unicode untouched", "张伟 café", d, "张伟 café"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EscapeText(tt.in, tt.d); got != tt.want {
				t.Errorf("EscapeText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	delims := map[string]Delimiters{
		"default":    DefaultDelimiters(),
		"truncation": {'|', '^', '~', '\\', '&', '#'},
		"odd":        {'#', '$', '%', '@', '!', 0},
	}
	texts := []string{"", "plain", `every|^~\&#$%@! char`, "line\none", `\F\ literal`, "张伟", "a\\", "\\"}
	for name, d := range delims {
		for _, s := range texts {
			esc := EscapeText(s, d)
			for i := 0; i < len(esc); i++ {
				if c := esc[i]; c != d.Escape && (d.isDelimiter(c) || (d.Truncation != 0 && c == d.Truncation)) {
					t.Errorf("%s: EscapeText(%q) = %q leaves delimiter %q", name, s, esc, c)
				}
			}
			if got := UnescapeText(esc, d); got != s {
				t.Errorf("%s: round trip of %q gave %q (escaped %q)", name, s, got, esc)
			}
		}
	}
}

func TestGetUnescapes(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\r"+
		"OBX|1|FT|X||line one\\.br\\line two \\T\\ more^second\\S\\part|~\\E\\")
	tests := map[string]string{
		"OBX-5.1":  "line one\nline two & more",
		"OBX-5.2":  "second^part",
		"OBX-5":    `line one\.br\line two \T\ more^second\S\part`,
		"OBX-6":    "",
		"OBX-6(2)": `\`,
	}
	for p, want := range tests {
		if got := m.Get(p); got != want {
			t.Errorf("Get(%q) = %q, want %q", p, got, want)
		}
	}
	f := m.Field("OBX-5")
	if got := f.Repetition(1).Text(); !strings.Contains(got, "\n") {
		t.Errorf("Text() = %q, want escapes resolved", got)
	}
}
