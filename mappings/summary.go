package mappings

import (
	"slices"
	"strconv"
)

// Summary says what a Set holds, for reports such as `carebridge mapping
// check`.
type Summary struct {
	Files        int              // mapping files loaded
	Messages     []MessageSummary // message maps, by message code
	SegmentMaps  int
	DatatypeMaps int
	CodeMaps     int
	// Senders names the sender profiles, most specific first; the last is
	// the default profile (built in when the set declares none).
	Senders  []string
	Rows     int // rows of every map, the unit of example coverage
	Examples int // examples declared in message maps
	Hash     string
}

// MessageSummary is one message map: its code (MSH-9.1), the file it was
// loaded from and the trigger events it handles, sorted.
type MessageSummary struct {
	Code   string
	File   string
	Events []string
}

// Summary counts the set's maps, profiles, rows and examples.
func (s *Set) Summary() Summary {
	sum := Summary{
		Files: len(s.files), SegmentMaps: len(s.segments), DatatypeMaps: len(s.datatypes),
		CodeMaps: len(s.codes), Rows: len(s.rows), Hash: s.hash,
	}
	for code, mm := range s.messages {
		evs := make([]string, 0, len(mm.events))
		for e := range mm.events {
			evs = append(evs, e)
		}
		slices.Sort(evs)
		sum.Messages = append(sum.Messages, MessageSummary{Code: code, File: mm.path, Events: evs})
		sum.Examples += len(mm.file.Examples)
	}
	slices.SortFunc(sum.Messages, func(a, b MessageSummary) int {
		if a.Code < b.Code {
			return -1
		}
		if a.Code > b.Code {
			return 1
		}
		return 0
	})
	for _, p := range s.senders {
		sum.Senders = append(sum.Senders, p.file.Sender)
	}
	return sum
}

// HasSender reports whether the set has a sender profile of this name, as
// Options.Sender would name it.
func (s *Set) HasSender(name string) bool {
	for _, p := range s.senders {
		if p.file.Sender == name {
			return true
		}
	}
	return false
}

// RowSource describes where the row with this RowInfo.ID takes its value,
// for people: the From path (with the datatype or code map applied to it),
// or `const "…"`, `value EXPR` or `ref NAME`. It is "" for an unknown id.
func (s *Set) RowSource(id int) string {
	if id < 0 || id >= len(s.rows) {
		return ""
	}
	r := s.rows[id].row
	switch {
	case r.From != "":
		src := r.From
		if r.Via != "" {
			src += " via " + r.Via
		}
		if r.Code != "" {
			src += " code " + r.Code
		}
		if r.Value.Src != "" {
			src += " value " + r.Value.Src
		}
		return src
	case r.Const != "":
		return "const " + strconv.Quote(r.Const)
	case r.Ref != "":
		return "ref " + r.Ref
	case r.Value.Src != "":
		return "value " + r.Value.Src
	case r.As != "":
		return "as " + r.As
	}
	return ""
}
