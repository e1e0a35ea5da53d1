package mappings

// The resources under construction: objects whose members are kept sorted
// by key and lists held by pointer. A Go map costs a hash per access, a
// table to grow, and a walk in random order plus a sort to encode; a list
// in an interface is re-boxed whenever its length changes. Objects of a
// few members kept in order avoid all of that, and encode as they stand.
// The map[string]any form Result.Resources gives is made from them only
// when it is asked for (see Resource.Body).

// node is a JSON object under construction: its members sorted by key
// (byte order, as the encoder sorts a map's keys). The members of a small
// object are held in the node itself (one allocation, not two).
type node struct {
	ms    []member
	small [smallNode]member
}

// smallNode is how many members a node holds in itself: most FHIR elements
// (a coding, a reference, an identifier) have no more.
const smallNode = 4

// list is a JSON array under construction. Its first element is held in
// the list itself: most lists of a resource hold one.
type list struct {
	els   []any
	first [1]any
}

// newList makes an empty list.
func newList() *list {
	l := &list{}
	l.els = l.first[:0]
	return l
}

// newNode makes an object with room for n members.
func newNode(n int) *node {
	nd := &node{}
	if n <= smallNode {
		nd.ms = nd.small[:0]
	} else {
		nd.ms = make([]member, 0, n)
	}
	return nd
}

// arena makes the nodes and lists of one message's resources in blocks,
// one allocation for many. The blocks then belong to the Result: an arena
// lives for one message (the state drops it when the message is done) and
// hands each node and list out once. A nil arena allocates one by one.
type arena struct {
	nodesLeft []node // what is left of the current block
	listsLeft []list
	// The size of the first block: what the message before took, so that
	// one block holds the message's nodes, and the count for the next.
	nodeBlock, listBlock int32
	usedNodes, usedLists int32
}

// arenaBlock is the size of a block after the first.
const arenaBlock = 16

// node makes an object with room for n members.
func (a *arena) node(n int) *node {
	if a == nil {
		return newNode(n)
	}
	if len(a.nodesLeft) == 0 {
		a.nodesLeft = make([]node, max(int(a.nodeBlock), arenaBlock))
		a.nodeBlock = arenaBlock
	}
	nd := &a.nodesLeft[0]
	a.nodesLeft = a.nodesLeft[1:]
	a.usedNodes++
	if n <= smallNode {
		nd.ms = nd.small[:0]
	} else {
		nd.ms = make([]member, 0, n)
	}
	return nd
}

// nodeOf makes an object of members given in key order.
func (a *arena) nodeOf(ms ...member) *node {
	n := a.node(len(ms))
	n.ms = append(n.ms, ms...)
	return n
}

// list makes an empty list.
func (a *arena) list() *list {
	if a == nil {
		return newList()
	}
	if len(a.listsLeft) == 0 {
		a.listsLeft = make([]list, max(int(a.listBlock), arenaBlock))
		a.listBlock = arenaBlock
	}
	l := &a.listsLeft[0]
	a.listsLeft = a.listsLeft[1:]
	a.usedLists++
	l.els = l.first[:0]
	return l
}

// newNodeOf makes an object of members given in key order.
func newNodeOf(ms ...member) *node {
	n := newNode(len(ms))
	n.ms = append(n.ms, ms...)
	return n
}

// find is the index of key k, or where it would be inserted.
func (n *node) find(k string) (int, bool) {
	if n == nil {
		return 0, false // an object not given reads as empty
	}
	lo, hi := 0, len(n.ms)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if keyLess(n.ms[mid].k, k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(n.ms) && n.ms[lo].k == k
}

// get is the value of member k.
func (n *node) get(k string) (any, bool) {
	if i, ok := n.find(k); ok {
		return n.ms[i].v, true
	}
	return nil, false
}

// put sets member k to v.
func (n *node) put(k string, v any) {
	i, ok := n.find(k)
	if ok {
		n.ms[i].v = v
		return
	}
	n.ms = append(n.ms, member{})
	copy(n.ms[i+1:], n.ms[i:])
	n.ms[i] = member{k, v}
}

// has reports whether n has member k.
func (n *node) has(k string) bool {
	_, ok := n.find(k)
	return ok
}

// toNodes converts the maps and lists of a value (as conversions and
// expressions make them) into nodes and lists, copying them: a value
// written to a resource is the resource's own.
func toNodes(a *arena, v any) any {
	switch x := v.(type) {
	case map[string]any:
		n := a.node(len(x))
		for k, e := range x {
			n.ms = append(n.ms, member{k, toNodes(a, e)})
		}
		sortMembers(n.ms)
		return n
	case []any:
		l := a.list()
		for _, e := range x {
			l.els = append(l.els, toNodes(a, e))
		}
		return l
	}
	return v
}

// plainValue converts the nodes and lists of a value into the maps and lists
// of the Result's bodies.
func plainValue(v any) any {
	switch x := v.(type) {
	case *node:
		return x.toMap()
	case *list:
		out := make([]any, len(x.els))
		for i, e := range x.els {
			out[i] = plainValue(e)
		}
		return out
	}
	return v
}

// toMap is n as a map, made afresh.
func (n *node) toMap() map[string]any {
	m := make(map[string]any, len(n.ms))
	for _, e := range n.ms {
		m[e.k] = plainValue(e.v)
	}
	return m
}

// memberOf reads member k of an object, a node or a map alike (the
// identifier functions read both: nodes from the resource being built,
// maps from expressions).
func memberOf(obj any, k string) any {
	switch o := obj.(type) {
	case *node:
		v, _ := o.get(k)
		return v
	case map[string]any:
		return o[k]
	}
	return nil
}

// elementsOf is the elements of a list, a list node or a slice alike.
func elementsOf(v any) []any {
	switch l := v.(type) {
	case *list:
		return l.els
	case []any:
		return l
	}
	return nil
}

// sortMembers sorts members by key: by insertion for the dozen members of
// a FHIR element.
func sortMembers(ms []member) {
	for i := 1; i < len(ms); i++ {
		m, j := ms[i], i
		for ; j > 0 && keyLess(m.k, ms[j-1].k); j-- {
			ms[j] = ms[j-1]
		}
		ms[j] = m
	}
}
