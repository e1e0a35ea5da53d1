package record

import (
	"context"
	"fmt"
	"strconv"

	"github.com/carebridge/carebridge/fhirstore"
)

// Review is an open identity review: is Patient (the newer record) the same
// person as Candidate?
type Review struct {
	TaskID    string
	Patient   string // the record created when the score fell in the review band
	Candidate string // the stored record it may duplicate (it survives on accept)
	// Score is the total score, as recorded (Scored: there is one; a
	// review opened for another reason than a score has none).
	Score  float64
	Scored bool
	// FieldScores is each field's points ("name partial +4.0, ...").
	FieldScores string
	Description string
	Status      string
	// PatientMergedInto and CandidateMergedInto, for an open review, are
	// the records its two records were merged into since it was opened
	// (their final survivors), "" when they were not: an accept merges into
	// the candidate's final survivor.
	PatientMergedInto, CandidateMergedInto string
}

// Reviews lists the identity reviews with the given Task status
// ("requested" for the open ones; "" for all).
func (r *Recorder) Reviews(ctx context.Context, status string) ([]Review, error) {
	q := fhirstore.Query{Type: "Task", Params: []fhirstore.Param{{Name: "code", Values: []string{TaskCodeSystem + "|" + ReviewCode}}}, Count: 1000, Sort: "_lastUpdated"}
	if status != "" {
		q.Params = append(q.Params, fhirstore.Param{Name: "status", Values: []string{status}})
	}
	found, err := r.store.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	out := make([]Review, 0, len(found))
	for _, f := range found {
		b, err := decode(f.Body)
		if err != nil {
			return nil, fmt.Errorf("read Task/%s: %w", f.ID, err)
		}
		rv := reviewOf(b)
		if rv.Status == "requested" { // a closed one names the records as they were
			if rv.PatientMergedInto, err = r.mergedSince(ctx, rv.Patient); err != nil {
				return nil, err
			}
			if rv.CandidateMergedInto, err = r.mergedSince(ctx, rv.Candidate); err != nil {
				return nil, err
			}
		}
		out = append(out, rv)
	}
	return out, nil
}

// mergedSince follows patient id's replaced-by links (merges, not identity
// links) to the record it ends at; "" when id was not merged or cannot be
// read (a review names what it names).
func (r *Recorder) mergedSince(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	at := id
	for range maxChain {
		res, err := r.store.Read(ctx, "Patient", at)
		if err != nil {
			return "", nil
		}
		b, err := decode(res.Body)
		if err != nil {
			return "", fmt.Errorf("read Patient/%s: %w", at, err)
		}
		next, kind := forwardLink(b)
		if next == "" || kind != "replaced-by" || next == id {
			break
		}
		at = next
	}
	if at == id {
		return "", nil
	}
	return at, nil
}

// ScoreText is the score with its fields' points: "11.0 (name partial
// +4.0, ...)"; "" when there is none.
func (rv Review) ScoreText() string {
	if !rv.Scored {
		return ""
	}
	text := strconv.FormatFloat(rv.Score, 'f', 1, 64)
	if rv.FieldScores != "" {
		text += " (" + rv.FieldScores + ")"
	}
	return text
}

func reviewOf(b map[string]any) Review {
	rv := Review{TaskID: str(b, "id"), Description: str(b, "description"), Status: str(b, "status")}
	if k, ok := parseRef(str(obj(b, "focus"), "reference")); ok {
		rv.Patient = k.id
	}
	for _, in := range list(b, "input") {
		x, _ := in.(map[string]any)
		switch str(obj(x, "type"), "text") {
		case "candidate":
			if k, ok := parseRef(str(obj(x, "valueReference"), "reference")); ok {
				rv.Candidate = k.id
			}
		case "score":
			if v, ok := decimal(x["valueDecimal"]); ok {
				rv.Score, _ = v.Float64()
				rv.Scored = true
			}
		case "field scores":
			rv.FieldScores = str(x, "valueString")
		}
	}
	return rv
}

// ErrReviewClosed is returned when a review was already accepted or rejected.
var ErrReviewClosed = fmt.Errorf("review is closed")

// Accept closes an open review as "same person": the newer record is merged
// into the candidate, in the same transaction as the Task's completion.
func (r *Recorder) Accept(ctx context.Context, taskID string) (*Outcome, error) {
	return r.run(ctx, nil, 0, func(ctx context.Context, p *plan) error {
		t, rv, err := p.openTask(ctx, taskID)
		if err != nil {
			return err
		}
		// Closed first, so that the merge, which settles the reviews it
		// answers, does not close this one as settled.
		p.closeTask(t, "completed", "merged")
		return p.merge(ctx, rv.Candidate, rv.Patient, "identity review accepted")
	})
}

// Reject closes an open review as "different people": both records stay;
// a record the engine had linked to the candidate is unlinked.
func (r *Recorder) Reject(ctx context.Context, taskID string) (*Outcome, error) {
	return r.run(ctx, nil, 0, func(ctx context.Context, p *plan) error {
		t, rv, err := p.openTask(ctx, taskID)
		if err != nil {
			return err
		}
		ps, err := p.get(ctx, key{"Patient", rv.Patient})
		if err != nil {
			return err
		}
		if _, kind := forwardLink(ps.current()); kind == "refer" {
			final, err := p.finalSurvivor(ctx, rv.Patient)
			if err != nil {
				return err
			}
			if cand, err := p.finalSurvivor(ctx, rv.Candidate); err != nil {
				return err
			} else if cand == final {
				if err := p.unmerge(ctx, rv.Patient, "identity review rejected"); err != nil {
					return err
				}
			}
		}
		p.closeTask(t, "rejected", "not the same person")
		return nil
	})
}

func (p *plan) openTask(ctx context.Context, id string) (*state, Review, error) {
	s, err := p.get(ctx, key{"Task", id})
	if err != nil {
		return nil, Review{}, err
	}
	if s.current() == nil || !hasCoding(obj(s.current(), "code"), TaskCodeSystem, ReviewCode) {
		return nil, Review{}, fmt.Errorf("identity review Task/%s: %w", id, fhirstore.ErrNotFound)
	}
	rv := reviewOf(s.current())
	if rv.Status != "requested" {
		return nil, Review{}, fmt.Errorf("Task/%s is %s: %w", id, rv.Status, ErrReviewClosed)
	}
	if rv.Patient == "" || rv.Candidate == "" {
		return nil, Review{}, fmt.Errorf("Task/%s names no patient or candidate", id)
	}
	return s, rv, nil
}

func (p *plan) closeTask(s *state, status, outcome string) {
	b := cloneJSONMap(s.current())
	b["status"] = status
	b["businessStatus"] = map[string]any{"text": outcome}
	b["lastModified"] = p.now.Format("2006-01-02T15:04:05Z")
	p.set(s, b)
	p.note("review", s.ref(), "review %s: %s", status, outcome)
}
