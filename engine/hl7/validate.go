package hl7

import (
	"fmt"
	"strings"
)

// KnownVersion reports whether v is an HL7 v2 version ID from table 0104,
// such as "2.5.1".
func KnownVersion(v string) bool {
	switch v {
	case "2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6",
		"2.7", "2.7.1", "2.8", "2.8.1", "2.8.2", "2.9":
		return true
	}
	return false
}

// MaxControlIDLength is the longest MSH-10 accepted: its length in HL7 v2.7
// and later (v2.5.1 says 20; senders that use UUIDs or longer keys exceed
// that, and no standard version allows more than 199).
const MaxControlIDLength = 199

// Validate checks what every message needs before it can be routed: an MSH
// segment first, MSH-9 message code and trigger event (the trigger may be
// absent on ACK), MSH-10 control ID (at most MaxControlIDLength bytes), MSH-11 processing ID (when valued: P, D
// or T), and MSH-12 with a known version. It returns one ErrorDetail per
// problem, ready for ERR segments of an AR acknowledgment, or nil.
func Validate(msg *Message) []ErrorDetail {
	if msg == nil || len(msg.segments) == 0 || msg.segments[0].Name() != "MSH" {
		return []ErrorDetail{{Location: "MSH^1", Code: CodeSegmentSequence, Severity: SeverityError,
			Text: "message does not start with an MSH segment"}}
	}
	var errs []ErrorDetail
	for i, seg := range msg.segments[1:] {
		if seg.Name() == "MSH" {
			// Two messages in one: the second's segments would be taken
			// for the first's, under the first's control ID.
			errs = append(errs, ErrorDetail{Location: "MSH^2", Code: CodeSegmentSequence, Severity: SeverityError,
				Text: fmt.Sprintf("a second MSH segment (segment %d): one message at a time, each in its own frame", i+2)})
			break
		}
	}
	missing := func(loc, what string) {
		errs = append(errs, ErrorDetail{Location: loc, Code: CodeRequiredFieldMissing,
			Severity: SeverityError, Text: what + " is missing"})
	}
	code := strings.TrimSpace(msg.MessageCode())
	if code == "" {
		missing("MSH^1^9^1^1", "MSH-9.1 message code")
	}
	if strings.TrimSpace(msg.TriggerEvent()) == "" && code != "ACK" {
		missing("MSH^1^9^1^2", "MSH-9.2 trigger event")
	}
	switch id := strings.TrimSpace(msg.ControlID()); {
	case id == "":
		missing("MSH^1^10", "MSH-10 message control ID")
	case len(id) > MaxControlIDLength:
		errs = append(errs, ErrorDetail{Location: "MSH^1^10", Code: CodeDataType, Severity: SeverityError,
			Text: fmt.Sprintf("MSH-10 message control ID is %d characters long; at most %d", len(id), MaxControlIDLength)})
	}
	if p := strings.TrimSpace(msg.ProcessingID()); p != "" && p != "P" && p != "D" && p != "T" {
		errs = append(errs, ErrorDetail{Location: "MSH^1^11", Code: CodeUnsupportedProcessingID,
			Severity: SeverityError, Text: "MSH-11 processing ID " + quote(p) + " is not P, D or T"})
	}
	switch v := strings.TrimSpace(msg.Version()); {
	case v == "":
		missing("MSH^1^12", "MSH-12 version ID")
	case !KnownVersion(v):
		errs = append(errs, ErrorDetail{Location: "MSH^1^12", Code: CodeUnsupportedVersionID,
			Severity: SeverityError, Text: "MSH-12 version ID " + quote(v) + " is not supported"})
	}
	return errs
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return `"` + s + `"`
}
