package hl7

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// EscapeText returns s in wire form for delimiters d: every delimiter in s is
// replaced by its escape sequence (\F\ \S\ \T\ \R\ \E\, and \P\ for the
// truncation character) and every line break (CR, LF or CRLF) by \.br\.
// Without an escape character in d, s is returned unchanged.
func EscapeText(s string, d Delimiters) string {
	if d.Escape == 0 || !needsEscape(s, d) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		var code string
		switch c {
		case d.Field:
			code = "F"
		case d.Component:
			code = "S"
		case d.SubComponent:
			code = "T"
		case d.Repetition:
			code = "R"
		case d.Escape:
			code = "E"
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			code = ".br"
		case '\n':
			code = ".br"
		default:
			if d.Truncation != 0 && c == d.Truncation {
				code = "P"
			} else {
				b.WriteByte(c)
				continue
			}
		}
		b.WriteByte(d.Escape)
		b.WriteString(code)
		b.WriteByte(d.Escape)
	}
	return b.String()
}

func needsEscape(s string, d Delimiters) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if d.isDelimiter(c) || c == '\r' || c == '\n' || (d.Truncation != 0 && c == d.Truncation) {
			return true
		}
	}
	return false
}

// UnescapeText resolves the escape sequences in s, a leaf value in wire form:
//
//   - \F\ \S\ \T\ \R\ \E\ (and \P\ when a truncation character is defined)
//     become the delimiter they stand for;
//   - \Xhhhh\ becomes the bytes it encodes, read as UTF-8 when valid and as
//     ISO 8859-1 otherwise (Message.Get uses the message's character set);
//   - \.br\ and \.sp\ become line breaks, \.sk n\ n spaces; the other
//     formatting commands (\.fi\ \.nf\ \.in n\ \.ti n\ \.ce\) and the
//     highlighting marks \H\ and \N\ are dropped;
//   - \Cxxyy\ and \Mxxyyzz\ switch the character set of the text that
//     follows; JIS X 0201/0208/0212 and the upper halves of ISO 8859 are
//     decoded, other sets are left as they are;
//   - anything else, including malformed sequences and \Z..\ (locally
//     defined), is kept verbatim.
func UnescapeText(s string, d Delimiters) string {
	return unescape(s, d, nil)
}

// unescape is UnescapeText with the message's character set for \X\.
func unescape(s string, d Delimiters, cs *charset) string {
	esc := d.Escape
	if esc == 0 {
		return s
	}
	i := strings.IndexByte(s, esc)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		// s[i] is an escape character.
		end := strings.IndexByte(s[i+1:], esc)
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+end]
		next := i + 1 + end + 1
		if rest, ok, known := resolveSwitch(&b, seq, s[next:], esc); ok {
			i = len(s) - len(rest)
		} else if known {
			// A character set switch whose text does not decode: keep it.
			b.WriteString(s[i:next])
			i = next
		} else if writeEscape(&b, seq, d, cs) {
			i = next
		} else {
			// Malformed or unknown: keep the escape character and look for
			// the next sequence right after it.
			b.WriteByte(esc)
			i++
		}
		j := strings.IndexByte(s[i:], esc)
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
	}
	return b.String()
}

// writeEscape writes the meaning of one escape sequence (without its escape
// characters) and reports whether it was recognised.
func writeEscape(b *strings.Builder, seq string, d Delimiters, cs *charset) bool {
	if seq == "" {
		return false
	}
	if len(seq) == 1 {
		switch seq[0] {
		case 'F':
			b.WriteByte(d.Field)
		case 'S':
			b.WriteByte(d.Component)
		case 'T':
			b.WriteByte(d.SubComponent)
		case 'R':
			b.WriteByte(d.Repetition)
		case 'E':
			b.WriteByte(d.Escape)
		case 'P':
			if d.Truncation == 0 {
				return false
			}
			b.WriteByte(d.Truncation)
		case 'H', 'N':
			// Highlighting on/off: no text of its own.
		default:
			return false
		}
		return true
	}
	switch seq[0] {
	case 'X':
		raw, ok := decodeHex(seq[1:])
		if !ok {
			return false
		}
		b.WriteString(cs.decodeBytes(raw))
		return true
	case '.':
		return writeFormatting(b, seq[1:])
	}
	return false
}

// maxFormattingRepeat bounds \.sp n\ and \.sk n\ so that a short input cannot
// expand without limit.
const maxFormattingRepeat = 100

func writeFormatting(b *strings.Builder, cmd string) bool {
	name, arg, hasArg := strings.Cut(cmd, " ")
	n := 1
	if hasArg {
		v, err := strconv.Atoi(strings.TrimSpace(arg))
		if err != nil {
			return false
		}
		n = v
	}
	if n < 0 {
		n = 0
	}
	n = min(n, maxFormattingRepeat)
	switch name {
	case "br":
		if hasArg {
			return false
		}
		b.WriteByte('\n')
	case "sp":
		b.WriteString(strings.Repeat("\n", n))
	case "sk":
		b.WriteString(strings.Repeat(" ", n))
	case "fi", "nf", "ce":
		if hasArg {
			return false
		}
	case "in", "ti":
		if !hasArg {
			return false
		}
	default:
		return false
	}
	return true
}

func decodeHex(h string) ([]byte, bool) {
	if len(h) == 0 || len(h)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(h)/2)
	for i := 0; i < len(h); i += 2 {
		hi, ok1 := hexVal(h[i])
		lo, ok2 := hexVal(h[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i/2] = hi<<4 | lo
	}
	return out, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// resolveSwitch handles a character set switch escape. The text it governs
// runs to the next escape character or the end of the value. When the switch
// is known and the text decodes cleanly it writes the decoded text and returns
// what follows; otherwise it reports false and nothing is written. known
// reports whether seq is a switch this package knows.
func resolveSwitch(b *strings.Builder, seq, after string, esc byte) (rest string, ok, known bool) {
	if len(seq) < 5 || (seq[0] != 'C' && seq[0] != 'M') {
		return "", false, false
	}
	prefix, enc, sevenBit, ok := charsetSwitch(seq)
	if !ok {
		return "", false, false
	}
	end := strings.IndexByte(after, esc)
	if end < 0 {
		end = len(after)
	}
	run := after[:end]
	if sevenBit {
		for i := 0; i < len(run); i++ {
			if run[i] >= 0x80 || run[i] == 0x1b {
				return "", false, true
			}
		}
		in := make([]byte, 0, len(prefix)+len(run)+3)
		in = append(append(append(in, prefix...), run...), "\x1b(B"...)
		out, err := enc.NewDecoder().Bytes(in)
		if err != nil || strings.ContainsRune(string(out), utf8.RuneError) {
			return "", false, true
		}
		b.Write(out)
		return after[end:], true, true
	}
	if utf8.ValidString(run) {
		// Already decoded (or plain ASCII): only the switch goes.
		b.WriteString(run)
		return after[end:], true, true
	}
	out, err := enc.NewDecoder().String(run)
	if err != nil {
		return "", false, true
	}
	b.WriteString(out)
	return after[end:], true, true
}
