package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// Mapper is the processor that maps each message to a FHIR R4 Bundle with
// the current mapping set. The set can be swapped while messages are being
// processed (hot reload); each result records the hash of the set that
// produced it.
type Mapper struct {
	set      atomic.Pointer[mappings.Set]
	charsets map[string]string // listener name → fallback charset
	files    fs.FS             // the mappings directory, for the examples of a reload (nil: not checked)
	// editRefused is set while the files on disk are an edit that was
	// refused: when they come back to the set in use, the log says so.
	editRefused atomic.Bool
	metrics     *Metrics
	log         *slog.Logger
}

var _ Processor = (*Mapper)(nil)

// NewMapper returns a Mapper using set for the listeners in cfg.
func NewMapper(cfg *config.Config, set *mappings.Set, m *Metrics, log *slog.Logger) *Mapper {
	mp := &Mapper{charsets: cfg.Charsets(), metrics: m, log: log}
	if cfg.Mappings.Dir != "" && cfg.Mappings.ExamplesChecked() {
		mp.files = os.DirFS(cfg.Mappings.Dir)
	}
	mp.set.Store(set)
	m.mappingSet(set.Hash())
	return mp
}

// Set returns the mapping set in use.
func (mp *Mapper) Set() *mappings.Set { return mp.set.Load() }

// Swap puts a newly loaded set in use.
func (mp *Mapper) Swap(set *mappings.Set) {
	if cur := mp.set.Load(); cur != nil && cur.Hash() == set.Hash() {
		// A change that does not change the mappings (a non-YAML file), or
		// a refused edit undone: the operator who saw it refused learns
		// that the files are what runs again.
		if mp.editRefused.Swap(false) {
			mp.log.Info("mapping edit withdrawn: the files are the mappings in use again", "hash", set.Hash())
		}
		return
	}
	mp.editRefused.Store(false)
	old := mp.set.Swap(set)
	mp.metrics.mappingReloads.WithLabelValues("applied").Inc()
	mp.metrics.mappingSet(set.Hash())
	mp.log.Info("mappings reloaded", "hash", set.Hash(), "previous", old.Hash(), "files", len(set.Files()))
}

// reload applies a set the watcher loaded, unless it drops message maps the
// set in use has: a directory caught half-written (a git checkout, an rsync
// --delete) or emptied must not stop the mapping of whole message types.
// Restart serve to apply such a change on purpose.
func (mp *Mapper) reload(set *mappings.Set) {
	have := map[string]bool{}
	for _, c := range set.MessageCodes() {
		have[c] = true
	}
	var dropped []string
	for _, c := range mp.set.Load().MessageCodes() {
		if !have[c] {
			dropped = append(dropped, c)
		}
	}
	if len(dropped) > 0 {
		mp.refused(fmt.Errorf("the edited mappings have no message map for %s, which the mappings in use have (restart serve to apply a change that drops a message type)", strings.Join(dropped, ", ")))
		return
	}
	if err := failingExamples(set, mp.files); err != nil {
		mp.refused(err)
		return
	}
	mp.Swap(set)
}

// failingExamples runs the examples next to the maps of set (files: the
// directory they are in) and describes those that fail, nil when all pass:
// a set that compiles but no longer makes what its own examples expect
// (an edit that breaks every ADT) is not put in use.
func failingExamples(set *mappings.Set, files fs.FS) error {
	if files == nil {
		return nil
	}
	exs := set.Examples()
	var failed []string
	for _, ex := range exs {
		run, err := set.RunExample(files, ex)
		switch {
		case err != nil:
			failed = append(failed, err.Error())
		case run.Want == nil:
			failed = append(failed, fmt.Sprintf("%s: example %s: no expected output %s", ex.At, ex.Name, ex.Expect))
		case !run.Passed():
			failed = append(failed, fmt.Sprintf("%s: example %s: the Bundle differs from %s", ex.At, ex.Name, ex.Expect))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	const shown = 5
	n, more := len(failed), ""
	if n > shown {
		more = fmt.Sprintf("\n(and %d more)", n-shown)
		failed = failed[:shown]
	}
	return fmt.Errorf("%d of %d example(s) fail with the edited mappings: see `carebridge mapping test DIR` (with -update if the new output is what you want)\n%s%s",
		n, len(exs), strings.Join(failed, "\n"), more)
}

// refused logs a reload that did not compile; the previous set stays.
func (mp *Mapper) refused(err error) {
	mp.editRefused.Store(true)
	mp.metrics.mappingReloads.WithLabelValues("refused").Inc()
	mp.log.Error("mapping edit refused; the previous mappings stay in use", "hash", mp.set.Load().Hash(), "errors", err.Error())
}

// Process maps one journaled message.
func (mp *Mapper) Process(_ context.Context, e *fhirstore.Entry) Outcome {
	set := mp.set.Load()
	msg, err := hl7.ParseWithOptions(e.Raw, hl7.ParseOptions{FallbackCharset: mp.charsets[e.Listener]})
	if err != nil {
		return Outcome{Status: fhirstore.StatusFailed, Err: err, ResultHash: set.Hash()}
	}
	res, err := set.Map(msg, mappings.Options{JournalID: e.ID, ReceivedAt: e.ReceivedAt})
	if err != nil {
		if errors.Is(err, mappings.ErrNoMap) {
			mp.metrics.unmapped.Inc()
		}
		return Outcome{Status: fhirstore.StatusFailed, Err: err, ResultHash: set.Hash()}
	}
	for _, w := range res.Warnings {
		mp.metrics.mappingWarnings.WithLabelValues(w.Kind).Inc()
	}
	var notes []byte
	if len(res.Warnings) > 0 {
		notes, _ = json.Marshal(res.Warnings) // positions and kinds, never message values
	}
	return Outcome{Status: fhirstore.StatusProcessed, Result: res.Bundle, Notes: notes, ResultHash: set.Hash(),
		Record: record.FromMapping(msg, res, e.ID), Key: routeKey(msg)}
}

// Handles says whether the mapping set in use has a map for msg (see
// mappings.Set.Handles).
func (mp *Mapper) Handles(msg *hl7.Message) error { return mp.set.Load().Handles(msg) }
