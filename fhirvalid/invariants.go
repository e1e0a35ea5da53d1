package fhirvalid

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The FHIRPath invariants jsonformat does not check and that Carebridge's
// resources can break; each is checked on the resource and, in a Bundle, on
// every entry's resource. Others are not checked (see the package doc).
var invariants = map[string][]func(r map[string]json.RawMessage) (key, msg string, ok bool){
	"Appointment": {
		// app-2: Either start and end are specified, or neither.
		func(r map[string]json.RawMessage) (string, string, bool) {
			_, s := r["start"]
			_, e := r["end"]
			return "app-2", "either start and end are specified, or neither", s == e
		},
		// app-3: Only proposed or cancelled appointments can be missing
		// start/end dates.
		func(r map[string]json.RawMessage) (string, string, bool) {
			_, s := r["start"]
			_, e := r["end"]
			var status string
			_ = json.Unmarshal(r["status"], &status)
			return "app-3", "only proposed, cancelled or waitlisted appointments can be missing start/end dates",
				(s && e) || slices.Contains([]string{"proposed", "cancelled", "waitlist"}, status)
		},
	},
}

// checkInvariants checks the invariants of the resource in b, or of every
// entry of the Bundle in b.
func checkInvariants(b []byte, rootType string, c *collector) {
	var root map[string]json.RawMessage
	if json.Unmarshal(b, &root) != nil {
		return // reported by the structure scan
	}
	if rootType != "Bundle" {
		checkResource(root, rootType, rootType, c)
		return
	}
	var bd struct {
		Entry []struct {
			Resource map[string]json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(b, &bd) != nil {
		return
	}
	for i, e := range bd.Entry {
		var typ string
		_ = json.Unmarshal(e.Resource["resourceType"], &typ)
		checkResource(e.Resource, typ, fmt.Sprintf("Bundle.entry[%d].resource.%s", i, typ), c)
	}
}

func checkResource(r map[string]json.RawMessage, typ, path string, c *collector) {
	for _, inv := range invariants[typ] {
		if key, msg, ok := inv(r); !ok {
			c.add(path, CodeInvalid, key+": "+msg)
		}
	}
}
