package fhirstore

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// MaxCount is the largest page a Query may ask for; larger Counts are
// lowered to it.
const MaxCount = 1000

// Clause is one parameter of a prepared query, its values parsed by kind.
// The values are ORed; the clauses of a query are ANDed.
type Clause struct {
	Param    *SearchParam
	Modifier string // "", "exact", "contains", "not", "missing", or a resource type for a reference
	Tokens   []TokenValue
	// Strings are normalized (NormalizeString) values, or the values as
	// given with the exact modifier.
	Strings []string
	Dates   []DateValue
	Refs    []ReferenceValue
	// Missing, with the missing modifier, is true to find resources without
	// a value for the parameter and false for those with one.
	Missing bool
}

// PreparedQuery is a Query checked against the search parameter table,
// with its values parsed: what a backend turns into its query language.
type PreparedQuery struct {
	Type    string
	Clauses []Clause
	Count   int          // 1..MaxCount
	Sort    *SearchParam // _lastUpdated when the query did not say
	Desc    bool         // descending order
	// After: only ids after this one, in id order (keyset paging).
	After string
	// Unordered: any Count matches, in no order (Sort is nil).
	Unordered bool
}

// PrepareQuery checks q and parses its values. Errors wrap ErrBadQuery and
// name the parameter at fault.
func PrepareQuery(q Query) (*PreparedQuery, error) {
	if !isResourceTypeName(q.Type) {
		return nil, fmt.Errorf("%w: %q is not a resource type", ErrBadQuery, q.Type)
	}
	pq := &PreparedQuery{Type: q.Type, Count: q.Count}
	switch {
	case q.Count < 0:
		return nil, fmt.Errorf("%w: _count %d is negative", ErrBadQuery, q.Count)
	case q.Count == 0:
		pq.Count = DefaultCount
	case q.Count > MaxCount:
		pq.Count = MaxCount
	}
	if q.Unordered && (q.Sort != "" || q.After != "") {
		return nil, fmt.Errorf("%w: an unordered search has no _sort and no page after an id", ErrBadQuery)
	}
	if q.After != "" && q.Sort != "" && q.Sort != ParamID {
		return nil, fmt.Errorf("%w: a page after an id is in id order (_sort %q)", ErrBadQuery, q.Sort)
	}
	pq.After, pq.Unordered = q.After, q.Unordered
	sortName := q.Sort
	switch {
	case q.After != "":
		sortName = ParamID
	case sortName == "":
		sortName = "-" + ParamLastUpdated
	}
	desc := strings.HasPrefix(sortName, "-")
	sp, ok := LookupSearchParam(q.Type, strings.TrimPrefix(sortName, "-"))
	if !ok {
		return nil, fmt.Errorf("%w: _sort: %s has no search parameter %q", ErrBadQuery, q.Type, strings.TrimPrefix(sortName, "-"))
	}
	if sp.Kind != KindDate && sp.Kind != KindString && sp.Name != ParamID {
		return nil, fmt.Errorf("%w: _sort: cannot sort by %s parameter %q", ErrBadQuery, sp.Kind, sp.Name)
	}
	pq.Sort, pq.Desc = sp, desc
	for _, p := range q.Params {
		c, err := prepareClause(q.Type, p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadQuery, paramLabel(p), err)
		}
		pq.Clauses = append(pq.Clauses, c)
	}
	return pq, nil
}

func paramLabel(p Param) string {
	if p.Modifier != "" {
		return p.Name + ":" + p.Modifier
	}
	return p.Name
}

func prepareClause(typ string, p Param) (Clause, error) {
	def, ok := LookupSearchParam(typ, p.Name)
	if !ok {
		return Clause{}, fmt.Errorf("%s has no search parameter %q", typ, p.Name)
	}
	c := Clause{Param: def, Modifier: p.Modifier}
	if len(p.Values) == 0 {
		return Clause{}, fmt.Errorf("no value")
	}
	if p.Modifier == "missing" {
		if def.Special() {
			return Clause{}, fmt.Errorf("every resource has %s", def.Name)
		}
		if len(p.Values) != 1 || (p.Values[0] != "true" && p.Values[0] != "false") {
			return Clause{}, fmt.Errorf("missing takes true or false")
		}
		c.Missing = p.Values[0] == "true"
		return c, nil
	}
	badModifier := func() (Clause, error) {
		return Clause{}, fmt.Errorf("modifier %q is not supported for %s parameters", p.Modifier, def.Kind)
	}
	for _, v := range p.Values {
		if v == "" {
			return Clause{}, fmt.Errorf("empty value")
		}
		if len(v) > 1024 {
			return Clause{}, fmt.Errorf("value longer than 1024 bytes")
		}
		switch def.Kind {
		case KindToken:
			if p.Modifier != "" && p.Modifier != "not" {
				return badModifier()
			}
			t, err := ParseToken(v)
			if err != nil {
				return Clause{}, err
			}
			if def.Name == ParamID && (!t.AnySystem || !validID(t.Code)) {
				return Clause{}, fmt.Errorf("%q is not a resource id", v)
			}
			c.Tokens = append(c.Tokens, t)
		case KindString:
			switch p.Modifier {
			case "exact":
				c.Strings = append(c.Strings, v)
			case "", "contains":
				n := NormalizeString(v)
				if n == "" {
					return Clause{}, fmt.Errorf("value %q has no letters or digits to search", v)
				}
				c.Strings = append(c.Strings, n)
			default:
				return badModifier()
			}
		case KindDate:
			if p.Modifier != "" {
				return badModifier()
			}
			d, err := ParseDate(v)
			if err != nil {
				return Clause{}, err
			}
			c.Dates = append(c.Dates, d)
		case KindReference:
			if p.Modifier != "" && !isResourceTypeName(p.Modifier) {
				return badModifier()
			}
			r, err := ParseReference(v)
			if err != nil {
				return Clause{}, err
			}
			if p.Modifier != "" {
				if r.Type != "" && r.Type != p.Modifier {
					return Clause{}, fmt.Errorf("%q is not a %s reference", v, p.Modifier)
				}
				r.Type = p.Modifier
			}
			if def.Target != "" {
				if r.Type != "" && r.Type != def.Target {
					return Clause{}, fmt.Errorf("%q is not a %s reference", v, def.Target)
				}
				r.Type = def.Target
			}
			c.Refs = append(c.Refs, r)
		}
	}
	return c, nil
}

// ParseQuery turns the query string of a FHIR search URL (GET
// [base]/Patient?name=a,b&birthdate=ge2000) into a Query for resource type
// typ, and checks it as Search would. Repeated parameters are ANDed,
// comma-separated values ORed ("\," is a comma inside a value); "name:exact"
// gives the modifier; _count and _sort are understood, _format and _pretty
// ignored. Errors wrap ErrBadQuery and name the parameter at fault.
func ParseQuery(typ string, v url.Values) (Query, error) {
	q := Query{Type: typ}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := v[k]
		switch k {
		case "_format", "_pretty":
			continue
		case "_count":
			if len(vals) != 1 {
				return Query{}, fmt.Errorf("%w: _count given %d times", ErrBadQuery, len(vals))
			}
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 {
				return Query{}, fmt.Errorf("%w: _count %q is not a non-negative number", ErrBadQuery, vals[0])
			}
			q.Count = n
			continue
		case "_sort":
			if len(vals) != 1 || strings.Contains(vals[0], ",") {
				return Query{}, fmt.Errorf("%w: _sort takes one parameter", ErrBadQuery)
			}
			q.Sort = vals[0]
			continue
		}
		name, mod, _ := strings.Cut(k, ":")
		for _, val := range vals {
			q.Params = append(q.Params, Param{Name: name, Modifier: mod, Values: splitOr(val)})
		}
	}
	if _, err := PrepareQuery(q); err != nil {
		return Query{}, err
	}
	return q, nil
}

// splitOr splits a search value at unescaped commas, unescaping "\," and
// keeping the other escapes for the kind's own parser.
func splitOr(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ',':
			b.WriteByte(',')
			i++
		case s[i] == '\\' && i+1 < len(s):
			b.WriteByte(s[i])
			b.WriteByte(s[i+1])
			i++
		case s[i] == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}
