package mappings

// Per-message state kept between messages by the pool: the positions rows
// read, the fields read, and the sizes objects grow to.

import (
	"sync/atomic"

	"github.com/carebridge/carebridge/engine/hl7"
)

// posSet is the set of message positions rows read (for the unused-field
// report): an open-addressing hash set of packed positions, cheaper than a
// Go map for the few hundred marks of a message and reusable across
// messages (reset keeps its memory).
type posSet struct {
	slots []uint64 // packed position + 1; 0 is a free slot
	n     int
}

const posSetMinSlots = 256 // a power of two

func (s *posSet) hash(k uint64) int {
	return int((k * 0x9E3779B97F4A7C15) >> 32 & uint64(len(s.slots)-1))
}

// add marks position k.
func (s *posSet) add(k posKey) {
	if s.slots == nil {
		s.slots = make([]uint64, posSetMinSlots)
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	s.insert(k.pack() + 1)
}

func (s *posSet) insert(key uint64) {
	mask := len(s.slots) - 1
	for i := s.hash(key); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case key:
			return
		case 0:
			s.slots[i] = key
			s.n++
			return
		}
	}
}

func (s *posSet) grow() {
	old := s.slots
	s.slots, s.n = make([]uint64, 2*len(old)), 0
	for _, k := range old {
		if k != 0 {
			s.insert(k)
		}
	}
}

// has reports whether position k was marked.
func (s *posSet) has(k posKey) bool {
	if s.n == 0 {
		return false
	}
	key := k.pack() + 1
	mask := len(s.slots) - 1
	for i := s.hash(key); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case key:
			return true
		case 0:
			return false
		}
	}
}

// reset empties the set, keeping its memory.
func (s *posSet) reset() {
	if s.n > 0 {
		clear(s.slots)
		s.n = 0
	}
}

// segmentAt finds the n-th (1-based) segment named name and its index in
// the message, or nil.
func segmentAt(msg *hl7.Message, name string, n int) (*hl7.Segment, int) {
	n = max(n, 1)
	for i, s := range msg.Segments() {
		if s.Name() == name {
			n--
			if n == 0 {
				return s, i
			}
		}
	}
	return nil, -1
}

// field returns field n of seg, the idx-th segment of the message: the
// segment is split once per message, on its first read (rows read the same
// fields many times: every component, every datatype row).
func (st *mapState) field(idx int, seg *hl7.Segment, n int) hl7.Field {
	if idx < 0 || idx >= len(st.fields) || n < 1 {
		return seg.Field(n)
	}
	fields := st.segFields(idx, seg)
	if n >= len(fields) {
		n = len(fields) - 1
	}
	return fields[n]
}

// segFields is every field of seg (the idx-th segment, idx within the
// cache): fields 0 to FieldCount, and one more standing for every field
// past the last (all empty alike).
func (st *mapState) segFields(idx int, seg *hl7.Segment) []hl7.Field {
	fields := st.fields[idx]
	if len(fields) == 0 {
		fields = seg.AppendFields(fields)
		past := fields[0] // empty at field level, as Field(n) past the last (and field 0)
		if len(fields) <= 2 && seg.Name() == "MSH" {
			past = seg.Field(len(fields)) // MSH-1 and MSH-2 are literals
		}
		fields = append(fields, past)
		st.fields[idx] = fields
	}
	return fields
}

// resetFields sizes the field cache for msg (emptied, memory kept).
func (st *mapState) resetFields(msg *hl7.Message) {
	n := len(msg.Segments())
	for i := range st.fields {
		st.fields[i] = st.fields[i][:0] // cleared when the state was released
	}
	for len(st.fields) < n {
		st.fields = append(st.fields, nil)
	}
}

// sizeHint remembers how many members the last object built by a rule or
// row had, so that the next one is made at that size instead of growing
// through every size on the way (a Patient has twenty-odd elements).
type sizeHint struct{ n atomic.Int32 }

// newObject makes an object sized for what the last one held.
func (h *sizeHint) newObject(a *arena) *node {
	return a.node(max(int(h.n.Load()), 4))
}

// note records the size of an object just built.
func (h *sizeHint) note(obj *node) {
	if n := int32(len(obj.ms)); n != h.n.Load() {
		h.n.Store(n)
	}
}

// newBuilt takes the next resource under construction from the state's,
// reused from message to message with the memory of its lists of refs and
// clears (nothing of a built outlives Map: the Result keeps its object).
func (st *mapState) newBuilt() *built {
	if st.nBuilt == len(st.builts) {
		st.builts = append(st.builts, &built{})
	}
	b := st.builts[st.nBuilt]
	st.nBuilt++
	*b = built{refs: b.refs[:0], clears: b.clears[:0]}
	return b
}

// releaseBuilts empties the builts the message used (message text and
// resources must not stay in the pool), keeping their memory.
func (st *mapState) releaseBuilts() {
	for _, b := range st.builts[:st.nBuilt] {
		clear(b.refs[:cap(b.refs)])
		clear(b.clears[:cap(b.clears)])
		*b = built{refs: b.refs[:0], clears: b.clears[:0]}
	}
	st.nBuilt = 0
}

// newContext takes an empty segment context from the state's, reused from
// message to message (nothing of a context outlives Map).
func (st *mapState) newContext() *segContext {
	if st.nCtx == len(st.ctxs) {
		st.ctxs = append(st.ctxs, &segContext{})
	}
	ctx := st.ctxs[st.nCtx]
	st.nCtx++
	return ctx // emptied by releaseContexts
}

// releaseContexts empties the contexts the message used (they point into
// the message).
func (st *mapState) releaseContexts() {
	for _, c := range st.ctxs[:st.nCtx] {
		*c = segContext{}
	}
	st.nCtx = 0
}
