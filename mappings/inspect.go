package mappings

import (
	"path"
	"slices"
)

// RowInfo describes one compiled row, for coverage reports.
type RowInfo struct {
	ID   int    // index into Result.Hits
	At   string // file:line:col
	To   string
	From string
}

// Rows lists every row of the set, in load order.
func (s *Set) Rows() []RowInfo {
	out := make([]RowInfo, len(s.rows))
	for i, r := range s.rows {
		out[i] = RowInfo{ID: r.id, At: r.at, To: r.row.To, From: r.row.From}
	}
	return out
}

// Hits reports, by RowInfo.ID, which rows this mapping applied.
func (r *Result) Hits() []bool { return r.hits }

// ExampleRef is an example declared in a message map, with its paths
// resolved relative to the set's root.
type ExampleRef struct {
	Map    string // the message map file
	At     string // file:line:col of the example
	Name   string
	Input  string // path of the HL7 v2 message
	Expect string // path of the expected Bundle (JSON)
	Sender string // sender profile to use, if any
}

// Examples lists the examples of every message map, in file order.
func (s *Set) Examples() []ExampleRef {
	var out []ExampleRef
	for _, name := range s.files {
		for _, mm := range s.messages {
			if mm.path != name {
				continue
			}
			dir := path.Dir(mm.path)
			for _, ex := range mm.file.Examples {
				out = append(out, ExampleRef{Map: mm.path, At: at(ex.Pos), Name: ex.Name,
					Input: path.Join(dir, ex.Input), Expect: path.Join(dir, ex.Expect), Sender: ex.Sender})
			}
		}
	}
	return out
}

// MessageCodes lists the message codes (MSH-9.1) the set has a map for, sorted.
func (s *Set) MessageCodes() []string {
	out := make([]string, 0, len(s.messages))
	for code := range s.messages {
		out = append(out, code)
	}
	slices.Sort(out)
	return out
}
