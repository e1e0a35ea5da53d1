package fhirvalid

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// scanResult is what the structural pass learns about the document.
type scanResult struct {
	syntaxErr bool   // the JSON is unusable; nothing else was checked
	rootType  string // the root's resourceType, if a string
}

// relProblem is a problem with a path relative to the value being scanned
// ("" for the value itself, ".key..." or "[i]..." below it).
type relProblem struct {
	rel, code, msg string
}

// errFatal aborts the scan: syntax error or too deep.
type errFatal struct {
	msg string
}

func (e *errFatal) Error() string { return e.msg }

// scanStructure checks the rules that FHIR's JSON format states but
// jsonformat does not: no empty strings/arrays/objects, no null outside
// primitive-extension arrays, no duplicate property names, well-formed
// Narrative XHTML. It also reports JSON syntax errors with their offset
// (jsonformat's own message would quote the input).
func scanStructure(b []byte, c *collector) scanResult {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	s := &scanner{dec: dec}
	var res scanResult
	fatal := func(err error) scanResult {
		c.add("", CodeStructure, syntaxMessage(err, dec))
		res.syntaxErr = true
		return res
	}
	tok, err := dec.Token()
	if err != nil {
		return fatal(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		c.add("", CodeStructure, "a FHIR resource must be a JSON object")
		res.syntaxErr = true
		return res
	}
	probs, rt, err := s.object(0)
	if err != nil {
		return fatal(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		c.add("", CodeStructure, fmt.Sprintf("unexpected data after the resource at offset %d", dec.InputOffset()))
		res.syntaxErr = true
		return res
	}
	res.rootType = rt
	for _, p := range probs {
		// object() already prefixed the root's resourceType.
		c.add(strings.TrimPrefix(p.rel, "."), p.code, p.msg)
	}
	return res
}

func syntaxMessage(err error, dec *json.Decoder) string {
	var fe *errFatal
	if errors.As(err, &fe) {
		return fe.msg
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d: %s", se.Offset, se.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("invalid JSON: unexpected end of input at offset %d", dec.InputOffset())
	}
	return fmt.Sprintf("invalid JSON at offset %d", dec.InputOffset())
}

type scanner struct {
	dec *json.Decoder
}

// object scans the members of an object whose '{' was consumed. It returns
// the problems below it and its resourceType (if it is a resource).
func (s *scanner) object(depth int) ([]relProblem, string, error) {
	if depth > maxDepth {
		return nil, "", &errFatal{msg: fmt.Sprintf("elements nested deeper than %d levels", maxDepth)}
	}
	var (
		probs []relProblem
		rt    string
		keys  = make(map[string]struct{}, 8)
		n     int
	)
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return nil, "", err
		}
		key, _ := tok.(string)
		n++
		if _, dup := keys[key]; dup {
			probs = append(probs, relProblem{"." + key, CodeStructure, fmt.Sprintf("duplicate JSON property %q", key)})
		}
		keys[key] = struct{}{}
		if key == "resourceType" {
			vt, err := s.dec.Token()
			if err != nil {
				return nil, "", err
			}
			str, ok := vt.(string)
			if !ok {
				if d, isDelim := vt.(json.Delim); isDelim {
					if err := s.skip(d); err != nil {
						return nil, "", err
					}
				}
				probs = append(probs, relProblem{".resourceType", CodeStructure, "resourceType must be a string"})
				continue
			}
			rt = str
			continue
		}
		sub, err := s.value(key, false, depth+1)
		if err != nil {
			return nil, "", err
		}
		for _, p := range sub {
			p.rel = "." + key + p.rel
			probs = append(probs, p)
		}
	}
	if _, err := s.dec.Token(); err != nil { // '}'
		return nil, "", err
	}
	if n == 0 {
		probs = append(probs, relProblem{"", CodeStructure, "empty object is not allowed"})
	}
	if rt != "" {
		for i := range probs {
			probs[i].rel = "." + rt + probs[i].rel
		}
	}
	return probs, rt, nil
}

// value scans one value of the property key.
func (s *scanner) value(key string, inArray bool, depth int) ([]relProblem, error) {
	tok, err := s.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			probs, _, err := s.object(depth)
			return probs, err
		case '[':
			if inArray {
				if err := s.skip(t); err != nil {
					return nil, err
				}
				return []relProblem{{"", CodeStructure, "nested arrays are not allowed"}}, nil
			}
			return s.array(key, depth)
		}
		return nil, &errFatal{msg: "invalid JSON"}
	case string:
		if t == "" {
			return []relProblem{{"", CodeInvalid, "empty string is not allowed (omit the element instead)"}}, nil
		}
		if key == "div" && !inArray {
			if msg := checkXHTML(t); msg != "" {
				return []relProblem{{"", CodeInvalid, msg}}, nil
			}
		}
	case nil:
		if !inArray {
			return []relProblem{{"", CodeStructure, "null is not allowed (omit the element instead)"}}, nil
		}
	}
	return nil, nil
}

func (s *scanner) array(key string, depth int) ([]relProblem, error) {
	if depth > maxDepth {
		return nil, &errFatal{msg: fmt.Sprintf("elements nested deeper than %d levels", maxDepth)}
	}
	var probs []relProblem
	i := 0
	for s.dec.More() {
		sub, err := s.value(key, true, depth+1)
		if err != nil {
			return nil, err
		}
		for _, p := range sub {
			p.rel = fmt.Sprintf("[%d]%s", i, p.rel)
			probs = append(probs, p)
		}
		i++
	}
	if _, err := s.dec.Token(); err != nil { // ']'
		return nil, err
	}
	if i == 0 {
		probs = append(probs, relProblem{"", CodeStructure, "empty array is not allowed (omit the element instead)"})
	}
	return probs, nil
}

// skip consumes the rest of a container whose opening delimiter was read.
func (s *scanner) skip(json.Delim) error {
	depth := 1
	for depth > 0 {
		tok, err := s.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
	}
	return nil
}

const xhtmlNS = "http://www.w3.org/1999/xhtml"

// forbiddenXHTML are the elements txt-1 excludes from narrative.
var forbiddenXHTML = map[string]bool{
	"head": true, "body": true, "script": true, "form": true, "base": true,
	"link": true, "frame": true, "frameset": true, "iframe": true,
	"object": true, "applet": true, "embed": true, "style": true,
	"input": true, "button": true, "meta": true,
}

// checkXHTML returns "" when s is acceptable Narrative.div content.
func checkXHTML(s string) string {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	depth := 0
	seenRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "narrative div is not well-formed XHTML"
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if seenRoot {
					return "narrative div must be a single <div> element"
				}
				seenRoot = true
				if t.Name.Local != "div" || t.Name.Space != xhtmlNS {
					return `narrative div must be a <div> element in the XHTML namespace (xmlns="` + xhtmlNS + `")`
				}
			} else if forbiddenXHTML[strings.ToLower(t.Name.Local)] {
				return fmt.Sprintf("narrative div must not contain <%s> elements", strings.ToLower(t.Name.Local))
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return "narrative div must be a single <div> element"
			}
		case xml.Directive:
			return "narrative div must not contain a DOCTYPE or other directive"
		}
	}
	if !seenRoot {
		return "narrative div must be a <div> element"
	}
	return ""
}
