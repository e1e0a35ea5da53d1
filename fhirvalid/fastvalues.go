package fhirvalid

import (
	"bytes"
	"encoding/base64"
	"time"

	d4pb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// The fast path's checks of primitive values. Each accepts a subset of
// what jsonformat v0.7.4 (parse, then fhirvalidate) accepts for the type;
// values outside the subset make the fast path defer to the full path.
// fastvalues_test.go compares them with the full path's rules.

// numberOK checks a JSON number for a numeric primitive.
func numberOK(k primKind, num []byte) bool {
	switch k {
	case primDecimal:
		return true // value_regex is the JSON number grammar
	case primInteger:
		neg := num[0] == '-'
		if neg {
			num = num[1:]
		}
		n, ok := plainUint(num)
		if !ok {
			return false
		}
		if neg {
			return n <= 1<<31 && n != 0
		}
		return n <= 1<<31-1
	case primPositiveInt, primUnsignedInt:
		n, ok := plainUint(num)
		if !ok || n > 1<<31-1 {
			return false
		}
		return k == primUnsignedInt || n > 0
	}
	return false
}

// plainUint parses 0 or [1-9][0-9]{0,9}.
func plainUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 10 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// idOK is the id value_regex [A-Za-z0-9\-\.]{1,64}.
func idOK(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// codeOK is the code value_regex [^\s]+(\s[^\s]+)*: no leading, trailing
// or doubled white space (RE2's \s is [\t\n\f\r ]; the scanner has already
// refused \f).
func codeOK(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	prevSpace := true
	for _, c := range b {
		sp := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
		if sp && prevSpace {
			return false
		}
		prevSpace = sp
	}
	return !prevSpace
}

// uriOK accepts URIs that net/url.Parse certainly accepts (fhirvalidate's
// check for uri, url and canonical): printable ASCII without spaces, '%'
// only in complete escapes; with a scheme, any opaque part or path, and an authority of a
// plain host name with an optional numeric port; without a scheme, a
// relative path whose first segment has no ':' and no authority.
func uriOK(b []byte) bool {
	for i, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
		// An escape must be complete (the authority check below refuses
		// '%' in host names, where escapes are restricted further).
		if c == '%' && (i+2 >= len(b) || hexVal(b[i+1]) < 0 || hexVal(b[i+2]) < 0) {
			return false
		}
	}
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		b = b[:i]
	}
	scheme := 0 // length of "scheme:" or 0
	for i, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			continue
		}
		if isDigit(c) || c == '+' || c == '-' || c == '.' {
			if i == 0 {
				break
			}
			continue
		}
		if c == ':' {
			if i == 0 {
				return false
			}
			scheme = i + 1
		}
		break
	}
	rest := b[scheme:]
	if i := bytes.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	if scheme == 0 {
		seg := rest
		if i := bytes.IndexByte(seg, '/'); i >= 0 {
			seg = seg[:i]
		}
		return bytes.IndexByte(seg, ':') < 0 && !bytes.HasPrefix(rest, []byte("//"))
	}
	if !bytes.HasPrefix(rest, []byte("//")) {
		return true
	}
	auth := rest[2:]
	if i := bytes.IndexByte(auth, '/'); i >= 0 {
		auth = auth[:i]
	}
	host, port, hasPort := bytes.Cut(auth, []byte(":"))
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	if hasPort {
		for _, c := range port {
			if !isDigit(c) {
				return false
			}
		}
	}
	return true
}

// base64OK accepts base64Binary values that jsonformat's parseBinary
// decodes: standard base64 with padding, on the raw JSON string (it does
// not unescape). Values with its space-separated stride are left to the
// full path.
func (s *fastScan) base64OK(raw []byte) bool {
	n := base64.StdEncoding.DecodedLen(len(raw))
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	for _, c := range raw {
		if c == '\r' || c == '\n' || c == ' ' {
			return false
		}
	}
	_, err := base64.StdEncoding.Decode(s.buf[:n], raw)
	return err == nil
}

// parseDateTime checks a date, dateTime or instant as jsonformat parses it
// (its regular expression, then time.Parse) and returns the value in
// microseconds since the epoch (dates at UTC midnight, as the Validator's
// unmarshaller reads them) and the precision. Years before 0001 and more
// than nine fractional digits are left to the full path.
func parseDateTime(b []byte, k primKind) (int64, d4pb.DateTime_Precision, bool) {
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if !isDigit(c) {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	n := len(b)
	if n < 4 {
		return 0, 0, false
	}
	year := num(b[:4])
	if year < 1 {
		return 0, 0, false
	}
	month, day := 1, 1
	prec := d4pb.DateTime_YEAR
	if n > 4 {
		if n < 7 || b[4] != '-' {
			return 0, 0, false
		}
		month, prec = num(b[5:7]), d4pb.DateTime_MONTH
		if month < 1 || month > 12 {
			return 0, 0, false
		}
	}
	if n > 7 {
		if n < 10 || b[7] != '-' {
			return 0, 0, false
		}
		day, prec = num(b[8:10]), d4pb.DateTime_DAY
		if day < 1 || day > daysIn(month, year) {
			return 0, 0, false
		}
	}
	if n <= 10 {
		if k == primInstant || (k == primDate && n > 10) {
			return 0, 0, false
		}
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).UnixMicro(), prec, true
	}
	if k == primDate || n < 20 || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	hh, mm, ss := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 {
		return 0, 0, false
	}
	i, nsec := 19, 0
	prec = d4pb.DateTime_SECOND
	if b[i] == '.' {
		i++
		d := i
		for i < n && isDigit(b[i]) {
			i++
		}
		digits := i - d
		if digits == 0 || digits > 9 {
			return 0, 0, false
		}
		nsec = num(b[d:i])
		for j := digits; j < 9; j++ {
			nsec *= 10
		}
		prec = d4pb.DateTime_MILLISECOND
		if digits > 3 {
			prec = d4pb.DateTime_MICROSECOND
		}
	}
	offset := 0
	switch {
	case i == n-1 && b[i] == 'Z':
	case i == n-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, om := num(b[i+1:i+3]), num(b[i+4:i+6])
		if oh < 0 || om < 0 || om > 59 || oh > 14 || (oh == 14 && om != 0) {
			return 0, 0, false
		}
		offset = oh*3600 + om*60
		if b[i] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, false
	}
	t := time.Date(year, time.Month(month), day, hh, mm, ss, nsec, time.UTC)
	return t.UnixMicro() - int64(offset)*1e6, prec, true
}

// timeOK checks a time: hh:mm:ss with up to nine fractional digits.
func timeOK(b []byte) bool {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return false
	}
	for _, j := range []int{0, 1, 3, 4, 6, 7} {
		if !isDigit(b[j]) {
			return false
		}
	}
	if b[0] > '2' || (b[0] == '2' && b[1] > '3') || b[3] > '5' || b[6] > '5' {
		return false
	}
	if len(b) == 8 {
		return true
	}
	frac := b[9:]
	if b[8] != '.' || len(frac) == 0 || len(frac) > 9 {
		return false
	}
	for _, c := range frac {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// referenceOK applies jsonformat's normalization of Reference.reference
// and the checks both paths make: a typed "Type/id[/_history/vid]" needs
// valid ids and a target type the field allows; anything else follows
// rawReferenceProblem.
func (s *fastScan) referenceOK(ref []byte, allowed []string) bool {
	if ref[0] == '#' {
		return true
	}
	var parts [4][]byte
	n, rest := 0, ref
	for n < 4 {
		p, r, more := bytes.Cut(rest, []byte("/"))
		parts[n], rest = p, r
		n++
		if !more {
			break
		}
		if n == 4 {
			n = 5 // more than four parts
		}
	}
	if n == 2 || n == 4 && string(parts[2]) == "_history" {
		if target, typed := s.sc.typedRef[string(parts[0])]; typed {
			if !idOK(parts[1]) || (n == 4 && !idOK(parts[3])) {
				return false
			}
			if len(allowed) == 0 {
				return true
			}
			for _, t := range allowed {
				if t == target {
					return true
				}
			}
			return false
		}
	}
	return rawReferenceProblem(string(ref)) == ""
}
