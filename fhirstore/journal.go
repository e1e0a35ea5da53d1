// Package fhirstore defines Carebridge's persistence contracts: the message
// journal that makes "commit before ACK" true, and (in later steps) the FHIR
// resource store, its search indexes and change feed. Backends such as
// fhirstore/sqlite implement these interfaces; fhirstore/storetest holds the
// conformance suite every backend must pass.
package fhirstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Status is the lifecycle state of a journal entry.
type Status string

// The journal statuses. An entry starts as StatusReceived (or StatusProcessing
// when a listener processes it before acknowledging) and ends in exactly one of
// processed, failed or filtered. Duplicates and rejected input are stored with
// their final status on arrival and are not processed (a duplicate only when
// Requeue names it by ID).
const (
	StatusReceived   Status = "received"
	StatusProcessing Status = "processing"
	StatusProcessed  Status = "processed"
	StatusFailed     Status = "failed"
	StatusFiltered   Status = "filtered"
	StatusDuplicate  Status = "duplicate"
	StatusRejected   Status = "rejected"
)

// Requeueable is the statuses of the entries matching f that a reprocessing
// takes (Journal.Requeue): those of f.Statuses that have finished processing
// (processed, failed or filtered), or all three when f names none, and
// duplicates too when f names entries by ID (a person's decision to process
// one). It is an error when f names statuses of which none qualifies.
func Requeueable(f Filter) ([]Status, error) {
	allowed := []Status{StatusProcessed, StatusFailed, StatusFiltered}
	if len(f.IDs) > 0 {
		allowed = append(allowed, StatusDuplicate)
	}
	if len(f.Statuses) == 0 {
		return allowed, nil
	}
	var keep []Status
	for _, st := range f.Statuses {
		if slices.Contains(allowed, st) {
			keep = append(keep, st)
		}
	}
	if len(keep) == 0 {
		return nil, errors.New("only processed, failed or filtered messages (and duplicates named by ID) can be reprocessed")
	}
	return keep, nil
}

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusReceived, StatusProcessing, StatusProcessed, StatusFailed, StatusFiltered, StatusDuplicate, StatusRejected}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if k == s {
			return true
		}
	}
	return false
}

// ErrNotFound is returned when a journal entry does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by a journal that has been closed.
var ErrClosed = errors.New("journal closed")

// Entry is one message as the journal keeps it: the raw bytes exactly as
// received, the header fields used for routing, de-duplication and queries,
// and its processing state.
type Entry struct {
	ID              int64
	ReceivedAt      time.Time
	Listener        string // the listener or tool that received it ("replay", "http", ...)
	Peer            string // the remote address, when there is one
	SendingApp      string // MSH-3
	SendingFacility string // MSH-4
	MessageTime     string // MSH-7 as received
	MessageType     string // MSH-9 as CODE^EVENT
	ControlID       string // MSH-10
	Status          Status
	Error           string // why the entry failed or was rejected
	Raw             []byte // the message bytes as received
	Ack             []byte // the acknowledgement sent (or to be re-sent to a duplicate)
	DuplicateOf     int64  // for StatusDuplicate: the original entry's ID
	Attempts        int    // how many times processing was attempted
	ClaimedBy       string // the worker owning a StatusProcessing entry
	ProcessedAt     time.Time
	ResultHash      string // the version of whatever produced the result (e.g. the mapping set), if any
	Result          []byte // what processing produced (e.g. the FHIR Bundle), filled in by Get
	Notes           []byte // processing's warnings (JSON list), filled in by Get
	// CheckResend is read by Append only, for a StatusRejected entry: a
	// message refused for what the engine can handle now (no map for its
	// event after a mapping edit) rather than for what it is. If it
	// repeats an original's message exactly (SameMessage), it is a resend
	// and is stored as that original's duplicate, with its ACK, as any
	// resend is; otherwise (no original, or a different message under the
	// key) it is stored rejected as given. Deciding this in Append, in the
	// transaction that stores the entry, leaves no moment in which the
	// original could stop being one between the look-up and the write.
	CheckResend bool
}

// AppendResult says what Append did with an entry.
type AppendResult struct {
	// ID is the journal ID given to the appended entry.
	ID int64
	// Duplicate is true when the entry repeats an earlier one (same MSH-3,
	// MSH-4 and MSH-10 within the duplicate window); it was stored with
	// StatusDuplicate and must not be processed.
	Duplicate bool
	// Original is the ID of the entry this one duplicates.
	Original int64
	// OriginalAck is the acknowledgement that was sent for the original, to be
	// sent again. It is nil when the original has not been acknowledged yet.
	OriginalAck []byte
	// Differs is true for a duplicate whose message is not the original's
	// (SameMessage): most likely a sender that reused a control ID. It is
	// still a duplicate (answered with the original's ACK, not processed),
	// stored with an Error saying so; Requeue processes it when named by ID.
	Differs bool
}

// SameMessage reports whether a and b are the same HL7 message as a resend
// would repeat it: the same segments, whatever their terminators (CR, LF or
// CRLF) and empty lines, and the same MSH but for MSH-7 (some senders stamp
// a resend with the time it is sent again).
func SameMessage(a, b []byte) bool {
	sa, sb := segments(a), segments(b)
	if len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		if i == 0 && bytes.HasPrefix(sa[i], []byte("MSH")) && bytes.HasPrefix(sb[i], []byte("MSH")) {
			if !bytes.Equal(withoutMSH7(sa[i]), withoutMSH7(sb[i])) {
				return false
			}
			continue
		}
		if !bytes.Equal(sa[i], sb[i]) {
			return false
		}
	}
	return true
}

// segments splits a message at CR and LF, leaving out empty lines.
func segments(m []byte) [][]byte {
	return bytes.FieldsFunc(m, func(r rune) bool { return r == '\r' || r == '\n' })
}

// withoutMSH7 is an MSH segment with MSH-7 emptied (its field separator is
// the byte after "MSH").
func withoutMSH7(msh []byte) []byte {
	if len(msh) < 4 {
		return msh
	}
	fields := bytes.Split(msh, msh[3:4])
	if len(fields) > 6 {
		fields[6] = nil // "MSH", MSH-2, MSH-3 … MSH-7
	}
	return bytes.Join(fields, msh[3:4])
}

// Refused reports whether ack, the acknowledgement an entry was answered
// with, refused it (MSA-1 AE, AR, CE or CR: under on-process, a message
// whose processing failed). A refused message is no original: the sender
// was told to fix it or that it was not taken, and its resend is taken
// afresh, as a rejected one's is.
func Refused(ack []byte) bool {
	for _, seg := range segments(ack) {
		if len(seg) < 7 || !bytes.HasPrefix(seg, []byte("MSA")) {
			continue
		}
		code, _, _ := bytes.Cut(seg[4:], seg[3:4])
		switch string(bytes.TrimSpace(code)) {
		case "AE", "AR", "CE", "CR":
			return true
		}
		return false
	}
	return false
}

// DifferentDuplicateError is the Error of a duplicate whose message is not
// the original's.
func DifferentDuplicateError(original int64) string {
	return fmt.Sprintf("same sender and control ID as entry %d, but a different message: not processed (reprocess it by ID to process it)", original)
}

// ErrNotClaimed is wrapped by Complete's error for entries the owner no
// longer holds (their claim was released and taken by another process):
// their outcome is not recorded, the other process's is.
var ErrNotClaimed = errors.New("entry is not claimed by this owner")

// Completion records the end of processing for one claimed entry.
type Completion struct {
	ID         int64
	Owner      string // who claimed the entry (Entry.ClaimedBy)
	Status     Status // StatusProcessed, StatusFailed or StatusFiltered
	Error      string
	Ack        []byte // set when the acknowledgement is only known after processing
	ResultHash string
	// Result is what processing produced (e.g. the FHIR Bundle); it replaces
	// any earlier result, also with nil (a failed reprocessing has none).
	Result []byte
	// Notes are processing's warnings (a JSON list, e.g. unused fields and
	// unmapped codes); they replace any earlier notes.
	Notes []byte
}

// Filter selects journal entries. Zero fields do not filter.
type Filter struct {
	IDs         []int64
	Statuses    []Status
	MessageType string // "ADT", "ADT^A01"; a trailing "*" or a bare code matches every event
	Sender      string // MSH-3 or MSH-3^MSH-4
	ControlID   string
	Since       time.Time // ReceivedAt >= Since
	Until       time.Time // ReceivedAt < Until
	Limit       int       // 0: everything that matches
	Descending  bool      // newest first
}

// Journal is the durable, append-only record of every message received.
//
// Append must not return until the entry is committed as durably as the
// backend is configured to be: a caller acknowledges the sender right after.
// Implementations are safe for concurrent use, and concurrent Appends should
// share commits (group commit). Several processes may open the same journal:
// Claim hands an entry to exactly one of them.
type Journal interface {
	// Append stores e durably and fills in e.ID. e.Status must be
	// StatusReceived, StatusProcessing (claimed by owner for processing before
	// the ACK), or StatusRejected. Duplicates are detected and stored as such;
	// a rejected entry is no duplicate, unless e.CheckResend is set and it
	// resends an original's message exactly (see Entry.CheckResend).
	Append(ctx context.Context, e *Entry) (AppendResult, error)
	// Claim marks up to limit received entries, oldest first, as being
	// processed by owner, and returns them with their raw bytes.
	Claim(ctx context.Context, owner string, limit int) ([]*Entry, error)
	// Complete records the outcome of processing claimed entries. Only
	// entries still claimed by their Completion's Owner are completed; for
	// the others the error wraps ErrNotClaimed (the rest are recorded).
	Complete(ctx context.Context, cs []Completion) error
	// Release returns every entry claimed by owner to StatusReceived, so
	// that it is processed again, and says how many. A node calls it when it
	// starts, for what its previous run left claimed (a crash); it must not
	// be called while another process claims under the same owner.
	Release(ctx context.Context, owner string) (int, error)
	// ReleaseStale returns to StatusReceived the entries claimed before
	// before by any owner other than except (claims whose process is taken
	// to be gone), and says how many. A running node calls it with its own
	// owner as except, so that it never takes back claims it still holds
	// in memory, however long they wait for a worker.
	ReleaseStale(ctx context.Context, except string, before time.Time) (int, error)
	// Requeue sets the entries matching f that have finished processing
	// (processed, failed or filtered), and the duplicates among f.IDs (a
	// person's decision to process one, such as a message that reused a
	// control ID), back to StatusReceived; it returns how many.
	Requeue(ctx context.Context, f Filter) (int, error)
	// Get returns one entry with its raw bytes and ACK.
	Get(ctx context.Context, id int64) (*Entry, error)
	// List calls fn for each entry matching f, in ID order (or reverse),
	// without loading them all in memory. Raw and Ack are not filled in.
	List(ctx context.Context, f Filter, fn func(*Entry) error) error
	// Counts returns the number of entries per status: of the statuses
	// given, or of every status when none is.
	Counts(ctx context.Context, statuses ...Status) (map[Status]int64, error)
}
