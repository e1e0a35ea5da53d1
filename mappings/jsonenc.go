package mappings

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendJSON encodes the values mappings build (maps, lists, strings,
// numbers, booleans) as compact JSON with sorted keys, several times faster
// than encoding/json's reflection. Strings are escaped per RFC 8259 and
// invalid UTF-8 is replaced by U+FFFD, so any message text gives valid JSON.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("json: unsupported number %v", x)
		}
		return strconv.AppendFloat(b, x, 'f', -1, 64), nil
	case json.Number:
		if !json.Valid([]byte(x)) {
			return nil, fmt.Errorf("json: invalid number %q", string(x))
		}
		return append(b, x...), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		return appendObject(b, x)
	}
	// Anything else (rare): let encoding/json decide.
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// member is one key and value of an object being encoded.
type member struct {
	k string
	v any
}

// appendObject encodes a map with its keys sorted: its members are taken in
// one pass over the map (no lookup per key) and sorted by insertion, which
// beats a general sort for the dozen keys of a FHIR element.
func appendObject(b []byte, x map[string]any) ([]byte, error) {
	var buf [24]member
	ms := buf[:0]
	for k, v := range x {
		ms = append(ms, member{k, v})
	}
	if len(ms) > len(buf) {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.k, b.k) })
	} else {
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && ms[j].k < ms[j-1].k; j-- {
				ms[j], ms[j-1] = ms[j-1], ms[j]
			}
		}
	}
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.k)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, m.v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	return append(appendStringBody(b, s), '"')
}

// plainByte marks the bytes a JSON string holds as they are: printable
// ASCII other than '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendStringBody appends s escaped as in a JSON string, without quotes.
func appendStringBody(b []byte, s string) []byte {
	i := 0
	for i < len(s) && plainByte[s[i]] {
		i++
	}
	if i == len(s) { // the common case: nothing to escape
		return append(b, s...)
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainByte[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
