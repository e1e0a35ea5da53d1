package fhirstore

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is wrapped by Apply's error when a write's IfVersion does not
// match the stored version (someone else changed the resource since it was
// read, or created one that was expected not to exist). Nothing of the
// change set is written; the caller reads again and recomputes.
var ErrConflict = errors.New("version conflict")

// ErrInvalid is wrapped by Apply's error when a resource is not valid FHIR
// R4. Nothing of the change set is written. The wrapped error also carries
// the validator's details (a *fhirvalid.Error).
var ErrInvalid = errors.New("invalid resource")

// ErrGone is returned by Read for a resource whose current version is a
// deletion. VRead and History still return its versions.
var ErrGone = errors.New("resource deleted")

// Resource is one version of a FHIR resource as stored.
type Resource struct {
	Type        string    // "Patient"
	ID          string    // the logical id
	Version     int64     // meta.versionId, 1 for the first version
	LastUpdated time.Time // meta.lastUpdated
	Deleted     bool      // this version is a deletion (Body is nil)
	JournalID   int64     // the journal entry whose processing wrote this version, 0 for none
	// Body is the resource's FHIR JSON, with id, meta.versionId and
	// meta.lastUpdated as stored. Callers must not modify it.
	Body []byte
	// Mark is the caller's note on this version, set after it was written
	// (Read.Mark) or with it (Write.Mark), and gone with the next version
	// unless that version's Write sets it again; "" when none. It is not
	// part of the resource: setting it makes no version and no change-feed
	// row.
	Mark string
}

// Interaction says what a change did to a resource.
type Interaction string

// The interactions recorded in the change feed.
const (
	InteractionCreate Interaction = "create"
	InteractionUpdate Interaction = "update"
	InteractionDelete Interaction = "delete"
)

// Unconditional, as a Write's IfVersion, skips the version check.
const Unconditional int64 = -1

// Write is one resource change in a ChangeSet.
type Write struct {
	Type string
	ID   string
	// IfVersion is the version the change was computed from: the write
	// happens only if the stored version is still this one. 0 means the
	// resource must not exist yet (a deleted resource counts as existing);
	// Unconditional skips the check.
	IfVersion int64
	// Body is the new content (FHIR JSON with resourceType and id). The
	// store sets meta.versionId and meta.lastUpdated and keeps the rest of
	// meta. Nil with Delete.
	Body []byte
	// Object, when not nil, is Body as encoding/json decodes it (numbers
	// as json.Number), which the caller has at hand: the store then uses
	// it rather than decoding Body again. The store does not modify it.
	Object map[string]any
	// Delete writes a deletion version. Deleting a resource that never
	// existed fails with ErrNotFound; deleting one already deleted writes
	// nothing and returns its deletion version.
	Delete bool
	// Mark, when not "", is the new version's mark (Resource.Mark), as
	// Read.Mark would set it: a caller whose new version still rests on
	// what the marked version's mark said keeps it. Ignored with Delete.
	Mark string
}

// ChangeSet is everything one unit of work (one message, one manual merge)
// changes: it is applied in one transaction, all or nothing.
type ChangeSet struct {
	Writes []Write
	// JournalID, when not 0, is the journal entry the changes come from:
	// recorded on every version and change-feed row.
	JournalID int64
	// Completion, when set, records the journal entry's outcome in the same
	// transaction: the message's status changes if and only if its
	// resources are written.
	Completion *Completion
	// Checks are searches the change set was computed from, run again in
	// the transaction: if one finds other resources now (another change
	// set created a patient with the same identifier, or a visit for a
	// patient being merged), nothing is written and Apply fails with
	// ErrConflict, so that the caller computes again.
	Checks []Check
	// Reads are resources the change set was computed from without
	// writing them (a visit found to have no Account yet): each must still
	// be at its version where the change set commits, else nothing is
	// written and Apply fails with ErrConflict. A resource it writes is
	// checked by its Write's IfVersion instead.
	Reads []Read
}

// Check is a search and the ids it found (in any order).
type Check struct {
	Query Query
	IDs   []string
}

// Read is a resource as a change set saw it: its version, 0 when it did
// not exist (a deleted resource has its deletion's version).
type Read struct {
	Type, ID string
	Version  int64
	// Mark, when not "", is set on that version (Resource.Mark), replacing
	// the one it had, if the check holds. The record marks the newest
	// event that found a resource as it already was, which changed nothing
	// and so wrote no version.
	Mark string
}

// Change is one row of the change feed. Interaction is create for a
// resource's first version, delete for a deletion and update otherwise (also
// for a write after a deletion).
type Change struct {
	Seq         int64 // monotonic, gap-free is not promised; increasing in commit order
	Type        string
	ID          string
	Version     int64
	Interaction Interaction
	At          time.Time
	JournalID   int64
}

// Query is a search over one resource type. Params are ANDed; the values of
// one Param are ORed, as in FHIR's search URL (name=a,b&other=c).
type Query struct {
	Type   string
	Params []Param
	// Count caps how many resources are returned; 0 means DefaultCount.
	Count int
	// Sort is a search parameter name ("_lastUpdated", "birthdate"), "-"
	// in front for descending; empty sorts by _lastUpdated descending then id.
	Sort string
	// After, when set, returns only resources whose id sorts after it, in
	// id order (Sort must be "" or "_id"): the next page of a walk through
	// every match, page by page (the first page with Sort "_id"), that stays
	// correct while matches change.
	After string
	// Unordered returns any Count matches, in no particular order: a
	// backend may stop at the first Count (Sort must be empty).
	Unordered bool
}

// DefaultCount is the page size when a Query leaves Count zero.
const DefaultCount = 100

// Param is one search parameter with its values.
//
// Values follow FHIR R4 search syntax for the parameter's type: token
// "system|code", "|code" (no system), "code" (any system) or "system|";
// string: case- and accent-insensitive prefix ("exact" modifier: exact
// match); date: an optional prefix eq, ne, lt, gt, le, ge, sa, eb then a
// date of any precision (2024, 2024-03, 2024-03-05, or a dateTime); a
// reference: "Type/id" or a bare id.
type Param struct {
	Name     string
	Modifier string // "", "exact", "contains", "missing", "not"
	Values   []string
}

// Resources reads stored resources. Implementations are safe for
// concurrent use; reads see committed data only.
type Resources interface {
	// Read returns the current version, ErrNotFound if there never was
	// one, ErrGone if it was deleted.
	Read(ctx context.Context, typ, id string) (*Resource, error)
	// VRead returns one version (ErrNotFound when there is no such version).
	VRead(ctx context.Context, typ, id string, version int64) (*Resource, error)
	// History returns every version, newest first.
	History(ctx context.Context, typ, id string) ([]*Resource, error)
}

// Searcher finds resources by search parameter.
type Searcher interface {
	// Search returns the current, non-deleted resources of q.Type matching
	// q. An unknown parameter or a malformed value is an error wrapping
	// ErrBadQuery (so that an API can answer 400 with the reason).
	Search(ctx context.Context, q Query) ([]*Resource, error)
}

// ErrBadQuery is wrapped by Search's error for a query it cannot run.
var ErrBadQuery = errors.New("bad search")

// ChangeFeed lets consumers follow every resource change in commit order.
type ChangeFeed interface {
	// Changes returns up to limit changes with Seq > after, in Seq order.
	// A consumer remembers the last Seq it handled and passes it next time.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
}

// Applier writes change sets.
type Applier interface {
	// Apply validates every written body as FHIR R4, then writes the
	// resources, their history, their search index rows, the change feed
	// and the Completion in one transaction: all of it commits or nothing
	// does. It returns the versions written, in Writes order. Errors wrap
	// ErrConflict or ErrInvalid (or ErrNotClaimed for a Completion whose
	// owner lost the claim) when that is the cause. Apply is safe for
	// concurrent use; a backend may commit several change sets together.
	Apply(ctx context.Context, cs ChangeSet) ([]*Resource, error)
}

// Store is everything a backend provides.
type Store interface {
	Journal
	Resources
	Searcher
	ChangeFeed
	Applier
}
