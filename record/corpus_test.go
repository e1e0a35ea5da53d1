package record_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// corpusDir holds public HL7 v2 sample messages (the v2-to-FHIR IG's and
// LinuxForHealth's test messages), outside the repository.
const corpusDir = "../../shared/corpus/hl7v2"

// TestCorpusIntoTheRecord applies every ADT, SIU and DFT message of the
// corpus that maps into one record, in file order, as a hospital's feeds
// would arrive: the messages meet each other's patients, visits and
// appointments. The record refuses none of them but the five that name no
// patient (the mapping corpus tests check each message alone; this checks
// them together: an A40 merging two pairs of records once made a record
// replaced by itself here), and lists every refusal at once.
func TestCorpusIntoTheRecord(t *testing.T) {
	if _, err := os.Stat(corpusDir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no corpus at %s", corpusDir)
	}
	// The corpus's ADT^A01 test messages without a PID (three) or with an
	// empty one (two): in the record, their diagnoses would belong to no one.
	applyTogether(t, 5, 0, corpusDir)
}

// TestOwnMessagesIntoTheRecord is TestCorpusIntoTheRecord for the project's
// own test messages and the maps' examples. Written for scenarios of their
// own, together they make the record link the clinic's X and K by identity
// before the clinic's A40 merges X into K, which is then refused as circular
// (docs/record.md: undo the link first).
func TestOwnMessagesIntoTheRecord(t *testing.T) {
	applyTogether(t, 0, 1, "../testdata/hl7", "testdata/hl7", "../mappings/hl7v2/messages/examples")
}

// applyTogether applies every ADT, SIU and DFT message that maps, of the
// .hl7 files under dirs, into one record in file order, each twice in a
// row. It fails for each message the record refuses but wantNoPatient that
// name no patient and wantCircular circular merges, and for each second
// application that writes anything.
func applyTogether(t *testing.T, wantNoPatient, wantCircular int, dirs ...string) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, dir := range dirs {
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".hl7") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	_, rec := openRecord(t)
	ctx := context.Background()
	var refused []string
	applied, noPatient, circular := 0, 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := hl7.Parse(raw)
		if err != nil {
			continue // the parser has its own corpus test
		}
		switch msg.MessageCode() {
		case "ADT", "SIU", "DFT":
		default:
			continue
		}
		res, err := set.Map(msg, mappings.Options{ReceivedAt: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)})
		if err != nil {
			continue // the mapping tests report these
		}
		applied++
		m := record.FromMapping(msg, res, 0)
		switch _, err := rec.Apply(ctx, m, nil); {
		case errors.Is(err, record.ErrNoPatient):
			noPatient++ // refused by design (docs/record.md): counted
		case errors.Is(err, record.ErrCircularMerge):
			circular++
		case err != nil:
			refused = append(refused, f+": "+err.Error())
		default:
			// Nothing doubled: the same message again at once (a resend
			// under a new control ID) changes nothing.
			out, err := rec.Apply(ctx, m, nil)
			if err != nil {
				t.Errorf("%s again: %v", f, err)
				continue
			}
			for _, w := range out.Written {
				t.Errorf("%s again wrote %s/%s (version %d)", f, w.Type, w.ID, w.Version)
			}
		}
	}
	if applied < 30 {
		t.Fatalf("only %d messages applied: are the files where they were?", applied)
	}
	if noPatient != wantNoPatient || circular != wantCircular {
		t.Errorf("refused: %d messages for naming no patient, want %d; %d circular merges, want %d", noPatient, wantNoPatient, circular, wantCircular)
	}
	if len(refused) > 0 {
		t.Errorf("%d of %d messages refused by the record:\n%s", len(refused), applied, strings.Join(refused, "\n"))
	}
}
