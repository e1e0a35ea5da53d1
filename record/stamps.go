package record

import "time"

// What the record keeps on each stored version's meta, for the tools that
// show a resource's history (carebridge patients history).

// StampedEvent is the trigger event ("ADT^A08") and the event time (EVN-2,
// else MSH-7; RFC 3339) the record stamped on a stored version; "" for what
// it does not carry (a version written by a command, not a message).
func StampedEvent(body map[string]any) (event, eventTime string) {
	if t := eventTimeOf(body); !t.IsZero() {
		eventTime = t.UTC().Format(time.RFC3339Nano)
	}
	return eventOf(body), eventTime
}

// ClearedElements lists the elements a stored version keeps as cleared by a
// message (HL7 ""), as selectors (see ClearedElementURL).
func ClearedElements(body map[string]any) []string {
	return metaExtensionValues(body, ClearedElementURL)
}

// Confirmation reads a stored resource's mark (fhirstore.Resource.Mark): the
// later message that found the current version as it is, by event time and
// journal entry; ok is false when there is none.
func Confirmation(mark string) (at time.Time, journal int64, ok bool) {
	m := parseMark(mark)
	return m.at, m.journal, !m.at.IsZero()
}
