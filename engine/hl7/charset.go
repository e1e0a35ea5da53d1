package hl7

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// charset is the wire character set of a message. A nil enc means the bytes
// are used as they are (ASCII and UTF-8).
type charset struct {
	enc encoding.Encoding
}

// decode converts wire bytes to UTF-8 text.
func (c *charset) decode(b []byte) (string, error) {
	if c == nil || c.enc == nil {
		return string(b), nil
	}
	out, err := c.enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// encode converts UTF-8 text to wire bytes; characters the set cannot
// represent are replaced.
func (c *charset) encode(b []byte) []byte {
	if c == nil || c.enc == nil {
		return b
	}
	out, err := encoding.ReplaceUnsupported(c.enc.NewEncoder()).Bytes(b)
	if err != nil {
		return b
	}
	return out
}

// decodeBytes turns the bytes of a \Xhh\ escape into text. Without a charset
// they are UTF-8 when valid and ISO 8859-1 otherwise.
func (c *charset) decodeBytes(b []byte) string {
	if c != nil && c.enc != nil {
		if s, err := c.decode(b); err == nil {
			return s
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return latin1(b)
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// normalizeCharsetName upper-cases name and drops blanks, '-' and '_', so
// that "UNICODE UTF-8", "unicode utf8" and "GB18030" compare equal.
func normalizeCharsetName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == ' ' || c == '-' || c == '_' || c == '\t':
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lookupCharset maps an HL7 table 0211 value (MSH-18), or a common IANA name,
// to an encoding. A nil encoding with a nil error means ASCII/UTF-8, which need
// no conversion.
func lookupCharset(name string) (encoding.Encoding, error) {
	switch name { // the common spellings, without allocating
	case "", "ASCII", "UNICODE UTF-8", "UTF-8":
		return nil, nil
	case "8859/1":
		return charmap.ISO8859_1, nil
	}
	switch normalizeCharsetName(name) {
	case "", "ASCII", "ISOIR6", "UNICODE", "UNICODEUTF8", "UTF8", "USASCII":
		return nil, nil
	case "8859/1":
		return charmap.ISO8859_1, nil
	case "8859/2":
		return charmap.ISO8859_2, nil
	case "8859/3":
		return charmap.ISO8859_3, nil
	case "8859/4":
		return charmap.ISO8859_4, nil
	case "8859/5":
		return charmap.ISO8859_5, nil
	case "8859/6":
		return charmap.ISO8859_6, nil
	case "8859/7":
		return charmap.ISO8859_7, nil
	case "8859/8":
		return charmap.ISO8859_8, nil
	case "8859/9":
		return charmap.ISO8859_9, nil
	case "8859/10":
		return charmap.ISO8859_10, nil
	case "8859/13":
		return charmap.ISO8859_13, nil
	case "8859/14":
		return charmap.ISO8859_14, nil
	case "8859/15":
		return charmap.ISO8859_15, nil
	case "8859/16":
		return charmap.ISO8859_16, nil
	case "UNICODEUTF16", "UTF16":
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM), nil
	case "UNICODEUTF32", "UTF32":
		return utf32.UTF32(utf32.BigEndian, utf32.UseBOM), nil
	case "GB18030":
		return simplifiedchinese.GB18030, nil
	case "GB2312", "GBK":
		return simplifiedchinese.GBK, nil
	case "ISOIR14", "SHIFTJIS", "SJIS":
		// ISO IR14 is JIS X 0201 (roman and half-width katakana), which is
		// the single-byte part of Shift-JIS.
		return japanese.ShiftJIS, nil
	case "ISOIR87", "ISOIR159", "ISO2022JP":
		// JIS X 0208 and JIS X 0212 travel as ISO 2022 escape sequences.
		return japanese.ISO2022JP, nil
	case "EUCJP":
		return japanese.EUCJP, nil
	case "KSX1001", "KSC5601", "EUCKR":
		return korean.EUCKR, nil
	case "BIG5":
		return traditionalchinese.Big5, nil
	case "WINDOWS1252", "CP1252":
		return charmap.Windows1252, nil
	case "WINDOWS1250", "CP1250":
		return charmap.Windows1250, nil
	case "WINDOWS1251", "CP1251":
		return charmap.Windows1251, nil
	}
	enc, err := ianaindex.IANA.Encoding(strings.TrimSpace(name))
	if err != nil || enc == nil {
		return nil, fmt.Errorf("character set %q: %w", name, ErrUnknownCharset)
	}
	if enc == unicode.UTF8 {
		return nil, nil
	}
	return enc, nil
}

// isJapaneseAlternate reports whether an MSH-18 repetition names one of the
// JIS sets that are announced as alternates ("~ISO IR87") and switched to by
// ISO 2022 escape sequences within ASCII text.
func isJapaneseAlternate(name string) bool {
	switch normalizeCharsetName(name) {
	case "ISOIR87", "ISOIR159":
		return true
	}
	return false
}

// utf16Layout reports whether b looks like UTF-16 (by a byte order mark or by
// the zero bytes of "MSH"), and returns the matching encoding.
func utf16Layout(b []byte) (encoding.Encoding, bool) {
	switch {
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), true
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), true
	case bytes.HasPrefix(b, []byte{0, 'M', 0, 'S', 0, 'H'}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), true
	case bytes.HasPrefix(b, []byte{'M', 0, 'S', 0, 'H', 0}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), true
	}
	return nil, false
}

// charsetSwitch returns the decoder for an ISO 2022 character set switch
// escape (\Cxxyy\ or \Mxxyyzz\, given as "C2D41" or "M2442"). sevenBit means
// the text that follows is 7-bit and decodes with the escape sequence itself
// (ISO-2022-JP); otherwise it is the upper half of an ISO 8859 set.
func charsetSwitch(seq string) (esc []byte, enc encoding.Encoding, sevenBit bool, ok bool) {
	switch seq {
	case "C2842": // ESC ( B: ASCII
		return []byte("\x1b(B"), japanese.ISO2022JP, true, true
	case "C284A": // ESC ( J: JIS X 0201 roman
		return []byte("\x1b(J"), japanese.ISO2022JP, true, true
	case "C2849": // ESC ( I: JIS X 0201 katakana
		return []byte("\x1b(I"), japanese.ISO2022JP, true, true
	case "M2442": // ESC $ B: JIS X 0208
		return []byte("\x1b$B"), japanese.ISO2022JP, true, true
	case "M2440": // ESC $ @: JIS C 6226-1978
		return []byte("\x1b$@"), japanese.ISO2022JP, true, true
	case "M242844": // ESC $ ( D: JIS X 0212
		return []byte("\x1b$(D"), japanese.ISO2022JP, true, true
	case "C2D41":
		return nil, charmap.ISO8859_1, false, true
	case "C2D42":
		return nil, charmap.ISO8859_2, false, true
	case "C2D43":
		return nil, charmap.ISO8859_3, false, true
	case "C2D44":
		return nil, charmap.ISO8859_4, false, true
	case "C2D4C":
		return nil, charmap.ISO8859_5, false, true
	case "C2D47":
		return nil, charmap.ISO8859_6, false, true
	case "C2D46":
		return nil, charmap.ISO8859_7, false, true
	case "C2D48":
		return nil, charmap.ISO8859_8, false, true
	case "C2D4D":
		return nil, charmap.ISO8859_9, false, true
	}
	return nil, nil, false, false
}
