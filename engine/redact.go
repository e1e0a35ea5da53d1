package engine

import "regexp"

// resourceRef matches a reference to a resource by a Carebridge id. Ids are
// made from business identifiers (a Patient's from its MRN), by a hash that
// a small space such as MRNs can be searched for: in the log they are
// patient data.
var resourceRef = regexp.MustCompile(`\b([A-Z][A-Za-z]+)/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)

// logSafe is err's text for the log, with the ids of the resources it
// names left out ("Patient/…"): the journal entry has the whole text
// (`carebridge messages show ID`).
func logSafe(err error) string { return resourceRef.ReplaceAllString(err.Error(), "$1/…") }
