package mappings

//go:generate go run gen_v2structure.go -spec ../../shared/spec/v2-to-fhir

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The HL7 v2 structure the loader checks source paths against: how many
// fields a segment has and how many components a data type has, so that
// PID-99, PID-3.99 or 3.1.1 (CX.1 is an ST) are load errors rather than
// values that are never there. v2structure_table.go is generated from the
// v2-to-FHIR IG's mapping tables (v2.9, whose fields include v2.5.1's);
// v2Extra adds what those tables lack. A segment or data type known to
// neither (Z-segments, segments no table lists in full) is not bounded.

// v2Extra completes the generated tables: segments and data types the
// shipped maps read that the IG's tables do not list in full, from HL7
// v2.5.1 (chapter 6 for FT1, chapter 2A for the data types), with v2.5.1's
// CE and IS widened to the CWE later versions use. A trailing "..." leaves
// the fields past the list unbounded (later versions add fields to FT1 that
// these tables do not hold).
var v2Extra = map[string]string{
	"FT1": "SI ST ST DR DTM CWE CWE ST ST NM CP CP CWE CWE CP PL CWE CWE CWE XCN XCN CP EI XCN CWE CWE CWE CWE CNE CX SI ...",
	"TS":  "DTM ID",
	"CP":  "MO ID NM NM CWE ID",
	"MO":  "NM ID",
	"FC":  "CWE DTM",
	"JCC": "CWE CWE TX",
	"AUI": "ST DT ST",
}

// v2Primitives are the data types without components.
var v2Primitives = []string{"ST", "ID", "IS", "NM", "SI", "DT", "DTM", "TM", "TX", "FT", "GTS", "SNM", "NUL"}

type v2Structure struct {
	types map[string][]string // segment fields or data type components
	open  map[string]bool     // fields past the list are not bounded
}

var v2 = sync.OnceValue(func() *v2Structure {
	s := &v2Structure{types: map[string][]string{}, open: map[string]bool{}}
	for _, t := range []map[string]string{v2SegmentFields, v2Components, v2Extra} {
		for name, list := range t {
			f := strings.Fields(list)
			if f[len(f)-1] == "..." {
				f, s.open[name] = f[:len(f)-1], true
			}
			s.types[name] = f
		}
	}
	return s
})

// v2Segment reports whether seg is a segment the tables know.
func v2Segment(seg string) bool { return slices.Contains(v2SegmentNames(), seg) }

// v2SegmentNames lists the segments the tables know, for did-you-mean.
var v2SegmentNames = sync.OnceValue(func() []string {
	names := strings.Fields(v2SegmentList)
	if !slices.Contains(names, "FT1") {
		names = append(names, "FT1")
	}
	return names
})

// checkPositions checks the field, component and sub-component numbers of
// a path into segment seg (field > 0) or into a value of data type dt
// (field 0), against the tables. It returns "" when they may exist, else
// what is wrong, with a hint.
func checkPositions(seg, dt string, field, comp, sub int) (msg, hint string) {
	s := v2()
	what := dt // what the path reads: a field or the value of dt
	if field > 0 {
		fields, known := s.types[seg]
		if !known {
			return "", ""
		}
		if field > len(fields) {
			if s.open[seg] {
				return "", ""
			}
			return fmt.Sprintf("%s has no field %d", seg, field), fmt.Sprintf("%s has %d fields (HL7 v2.5.1 to v2.9)", seg, len(fields))
		}
		dt = fields[field-1]
		what = fmt.Sprintf("%s-%d (%s)", seg, field, dt)
	}
	if comp == 0 {
		return "", ""
	}
	comps, known := s.types[dt]
	if slices.Contains(v2Primitives, dt) {
		// N.1 of a primitive reads the value itself (versions differ: PID-8
		// is an IS in v2.5.1 and a CWE later); nothing lies below it.
		switch {
		case comp > 1:
			return fmt.Sprintf("%s has no component %d: %s has no components", what, comp, dt), "read the whole value"
		case sub > 0:
			return fmt.Sprintf("%s has no sub-components: %s has no components", what, dt), "read the whole value"
		}
		return "", ""
	}
	if !known {
		return "", ""
	}
	if comp > len(comps) {
		return fmt.Sprintf("%s has no component %d", what, comp), fmt.Sprintf("%s has %d components", dt, len(comps))
	}
	if sub == 0 {
		return "", ""
	}
	cdt := comps[comp-1]
	subs, known := s.types[cdt]
	switch {
	case slices.Contains(v2Primitives, cdt):
		return fmt.Sprintf("%s.%d is a %s, which has no sub-components", dt, comp, cdt), fmt.Sprintf("read component %d whole", comp)
	case known && sub > len(subs):
		return fmt.Sprintf("%s.%d (%s) has no component %d", dt, comp, cdt, sub), fmt.Sprintf("%s has %d components", cdt, len(subs))
	}
	return "", ""
}
