package mappings

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/carebridge/carebridge/internal/jsonmap"
)

// appendJSON encodes the values mappings build (maps, lists, strings,
// numbers, booleans) as compact JSON with sorted keys, several times faster
// than encoding/json's reflection. Strings are escaped per RFC 8259 and
// invalid UTF-8 is replaced by U+FFFD, so any message text gives valid JSON.
func appendJSON(b []byte, v any) ([]byte, error) {
	var e jsonEncoder
	return e.append(b, v)
}

// jsonEncoder is appendJSON with a scratch stack for the members of the
// objects being encoded, reused from object to object (and, kept in a
// pooled mapState, from message to message) instead of a fresh array per
// object.
type jsonEncoder struct {
	members []member
}

// member is one key and value of an object being encoded.
type member struct {
	k string
	v any
}

func (e *jsonEncoder) append(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case *node:
		return e.appendNode(b, x)
	case *list:
		return e.appendList(b, x.els)
	case map[string]any:
		return e.appendObject(b, x)
	case []any:
		return e.appendList(b, x)
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
	}
	// Anything else (rare): let encoding/json decide.
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// appendObject encodes a map with its keys sorted: its members are taken in
// one pass over the map (no lookup per key) onto the scratch stack and
// sorted by insertion, which beats a general sort for the dozen keys of a
// FHIR element.
func (e *jsonEncoder) appendObject(b []byte, x map[string]any) ([]byte, error) {
	start := len(e.members)
	for k, v := range x {
		e.members = append(e.members, member{k, v})
	}
	ms := e.members[start:]
	if len(ms) > 24 {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.k, b.k) })
	} else {
		for i := 1; i < len(ms); i++ {
			m, j := ms[i], i
			for ; j > 0 && keyLess(m.k, ms[j-1].k); j-- {
				ms[j] = ms[j-1]
			}
			ms[j] = m
		}
	}
	b = append(b, '{')
	for i := range len(ms) {
		// Read through e.members: encoding a nested object may have
		// grown (moved) the stack.
		m := e.members[start+i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.k)
		b = append(b, ':')
		var err error
		if b, err = e.append(b, m.v); err != nil {
			e.members = e.members[:start]
			return nil, err
		}
	}
	e.members = e.members[:start]
	return append(b, '}'), nil
}

func (e *jsonEncoder) appendList(b []byte, l []any) ([]byte, error) {
	b = append(b, '[')
	for i, el := range l {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = e.append(b, el); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// appendNode encodes an object under construction: its members are
// already in key order.
func (e *jsonEncoder) appendNode(b []byte, n *node) ([]byte, error) {
	b = append(b, '{')
	for i, m := range n.ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.k)
		b = append(b, ':')
		var err error
		if b, err = e.append(b, m.v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// keyLess orders object keys as strings.Compare does, deciding on the
// first byte when it differs (as it does for most element names) without
// a call.
func keyLess(a, b string) bool {
	if a != "" && b != "" && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// reset drops the values the scratch stack still refers to (message text
// must not stay in a pooled state), keeping its memory.
func (e *jsonEncoder) reset() {
	clear(e.members[:cap(e.members)])
	e.members = e.members[:0]
}

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	return append(appendStringBody(b, s), '"')
}

// appendStringBody appends s escaped as in a JSON string, without quotes
// (encoding/json's escaping, without HTML escaping).
func appendStringBody(b []byte, s string) []byte { return jsonmap.AppendStringBody(b, s, false) }
