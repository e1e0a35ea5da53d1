// Package record keeps one unified, longitudinal record per patient: it
// decides which stored patient an incoming message is about (deterministic
// identifier matching, then a probabilistic Fellegi–Sunter score, see
// MatchConfig), merges what each message says into the stored resources
// field by field (see MergeFields: an update changes what it carries, HL7
// "" clears, absent leaves unchanged), and orders events so that older
// news never overwrites newer state.
//
// The merge and scoring functions work on decoded FHIR R4 JSON
// (map[string]any as produced by encoding/json, numbers as float64 or
// json.Number) and are pure: they never modify their arguments and never
// touch the store.
package record
