package record

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// FromMapping turns a message and what the mappings made of it into what
// the record applies.
func FromMapping(msg *hl7.Message, res *mappings.Result, journalID int64) *Message {
	m := &Message{JournalID: journalID, Code: msg.MessageCode(), Event: msg.Get("MSH-9.2")}
	if m.Event == "" {
		m.Event = msg.Get("EVN-1")
	}
	m.EventTime = eventTime(msg, res)
	m.Resources = make([]Incoming, len(res.Resources))
	for i, r := range res.Resources {
		m.Resources[i] = Incoming{Type: r.Type, ID: r.ID, Body: r.Body()}
	}
	return m
}

// ErrNoPatient is the error of an ADT or DFT message that names no patient
// (no PID, or one no map could make a Patient of): the record has no one to
// file its visit, charges or account under.
var ErrNoPatient = errors.New("the message names no patient")

// Check returns the error Apply would refuse m with before reading the
// record (ErrNoPatient: no patient, or one with neither identifier nor
// name), nil when Apply would go on. What depends on the stored record (a
// circular merge) is not checked.
func (m *Message) Check() error { return m.checkPatient() }

// checkPatient returns ErrNoPatient for an ADT or DFT message with neither
// a Patient nor a resource that refers to one. (A schedule message may
// book a slot for no one; a bed status update, ADT^A20, has no patient by
// its structure: what a map of one's own makes of it is recorded.)
func (m *Message) checkPatient() error {
	if (m.Code != "ADT" && m.Code != "DFT") || (m.Code == "ADT" && patientless[m.Event]) {
		return m.checkIdentifiable()
	}
	var made []string
	for _, r := range m.Resources {
		switch {
		case r.Type == "Patient" || refersToPatient(r.Body):
			return m.checkIdentifiable()
		case r.Type != "Provenance":
			made = append(made, r.Type)
		}
	}
	if len(made) == 0 {
		return fmt.Errorf("%w: no PID (nothing to record)", ErrNoPatient)
	}
	return fmt.Errorf("%w: no PID, so its %s would belong to no one", ErrNoPatient, strings.Join(made, ", "))
}

// checkIdentifiable returns ErrNoPatient for a message whose Patient has
// neither an identifier nor a name (an empty PID): nothing tells who it is,
// so nothing of the message can be filed under anyone. (The shipped PID map
// keys such a Patient by the message alone, so that no two messages share
// one; stored, every such message would leave a nameless patient behind.)
func (m *Message) checkIdentifiable() error {
	for _, r := range m.Resources {
		if r.Type == "Patient" && len(list(r.Body, "identifier")) == 0 && len(list(r.Body, "name")) == 0 {
			return fmt.Errorf("%w: its PID has no identifier and no name (nothing tells who the patient is)", ErrNoPatient)
		}
	}
	return nil
}

// patientless are the ADT events whose message structure has no PID.
var patientless = map[string]bool{"A20": true}

// refersToPatient reports whether a resource's subject or patient (one
// reference or a list of them) is a Patient.
func refersToPatient(body map[string]any) bool {
	for _, k := range []string{"subject", "patient"} {
		refs := []any{body[k]}
		if l, ok := body[k].([]any); ok {
			refs = l
		}
		for _, x := range refs {
			r, _ := x.(map[string]any)
			if k, ok := parseRef(str(r, "reference")); ok && k.typ == "Patient" {
				return true
			}
		}
	}
	return false
}

// eventTime is when the message's event happened: EVN-2 when it carries its
// offset, else the Provenance's recorded time (MSH-7 placed in the sender's
// time zone by the mapping, or the time of receipt).
func eventTime(msg *hl7.Message, res *mappings.Result) time.Time {
	if t, err := hl7.ParseTime(msg.Get("EVN-2"), nil); err == nil && !t.IsZero() && t.HasOffset {
		return t.Time
	}
	for i := len(res.Resources) - 1; i >= 0; i-- {
		if res.Resources[i].Type != "Provenance" {
			continue
		}
		if s, ok := res.Resources[i].Body()["recorded"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// PreviousFromBundle reads the resources of a Bundle an earlier mapping of
// the message made (the Bundle kept with its journal entry), for
// Message.Previous.
func PreviousFromBundle(bundle []byte) ([]Incoming, error) {
	b, err := decode(bundle)
	if err != nil {
		return nil, fmt.Errorf("earlier Bundle: %w", err)
	}
	var out []Incoming
	for _, e := range list(b, "entry") {
		x, _ := e.(map[string]any)
		r := obj(x, "resource")
		if r == nil {
			continue
		}
		out = append(out, Incoming{Type: str(r, "resourceType"), ID: str(r, "id"), Body: r})
	}
	return out, nil
}
