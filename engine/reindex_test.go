package engine_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

// gauge reads an unlabelled gauge from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// counter is the value of the unlabelled counter name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestStartRebuildsAnOutOfDateSearchIndex: a node started on a store whose
// search index an older version built warns once, rebuilds the index in the
// background while it serves, and says when it is done; the metric of what
// remains ends at 0, and the log names no patient.
func TestStartRebuildsAnOutOfDateSearchIndex(t *testing.T) {
	cfg := testConfig(t, nil)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, cfg.DatabasePath(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "zhang",
		Body: []byte(`{"resourceType":"Patient","id":"zhang","name":[{"family":"张","given":["伟"]}]}`)}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// As a version without the CJK whole name left it.
	db, err := sql.Open("sqlite3", cfg.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM search_string WHERE value = ?; UPDATE search_index SET fingerprint = 'older'`, fhirstore.NormalizeString("张伟")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var logs bytes.Buffer // written by slog under its lock, read once the node stopped
	done := make(chan struct{})
	logger := slog.New(signalHandler{Handler: slog.NewTextHandler(&logs, nil), msg: "search index rebuilt", once: &sync.Once{}, seen: done})
	reg := prometheus.NewRegistry()
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
		return engine.Deps{Journal: store, Logger: logger, Metrics: engine.NewMetrics(reg)}
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		n.stop(t)
		t.Fatalf("no rebuild within 30 s:\n%s", logs.String())
	}
	found, err := n.store.Search(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "name", Values: []string{"张伟"}}}})
	if err != nil || len(found) != 1 {
		t.Fatalf("name=张伟 finds %d (%v) after the rebuild, want 1", len(found), err)
	}
	n.stop(t) // the rebuild's goroutine has finished its log line
	text := logs.String()
	if strings.Count(text, "level=WARN") != 1 || !strings.Contains(text, `msg="search index built by another carebridge version: rebuilding it in the background; until it is done, searches (identity matching included) may miss resources not yet rebuilt" resources=1 continued=false`) {
		t.Errorf("want one warning saying what happens:\n%s", text)
	}
	if !strings.Contains(text, "resources=1 rows_added=1 rows_removed=0") {
		t.Errorf("the summary does not say what was rebuilt:\n%s", text)
	}
	if strings.Contains(text, "张") || strings.Contains(text, "zhang") {
		t.Errorf("the log names the patient:\n%s", text)
	}
	if v := gauge(t, reg, "carebridge_search_reindex_remaining"); v != 0 {
		t.Errorf("carebridge_search_reindex_remaining = %v after the rebuild, want 0", v)
	}
}

// TestStartOnCurrentSearchIndexSaysNothing: no warning, no rebuild.
func TestStartOnCurrentSearchIndexSaysNothing(t *testing.T) {
	cfg := testConfig(t, nil)
	var logs bytes.Buffer // written by slog under its lock, read once the node stopped
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
		return engine.Deps{Journal: store, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	})
	n.stop(t)
	if text := logs.String(); strings.Contains(text, "search index") {
		t.Fatalf("a current index was mentioned:\n%s", text)
	}
}

// TestBacklogMetric: carebridge_journal_backlog counts the journal's
// entries waiting and being processed when scraped.
func TestBacklogMetric(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.Processing.Workers = 1 })
	reg := prometheus.NewRegistry()
	entered, release := make(chan struct{}, 8), make(chan struct{})
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
		return engine.Deps{Journal: store, Metrics: engine.NewMetrics(reg), Processor: processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
			entered <- struct{}{}
			<-release
			return engine.Outcome{Status: fhirstore.StatusProcessed}
		})}
	})
	backlog := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() == "carebridge_journal_backlog" {
				for _, m := range mf.GetMetric() {
					out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
		return out
	}
	if got := backlog(); got["received"] != 0 || got["processing"] != 0 {
		t.Fatalf("backlog at start: %v", got)
	}
	c := dial(t, n.addr)
	for i := range 3 {
		msg := bytes.Replace(readFixture(t, "adt_a01.hl7"), []byte("MSG00001"), fmt.Appendf(nil, "BACKLOG%d", i), 1)
		if _, err := c.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	<-entered // one is being processed; the worker holds the others claimed or waiting
	if got := backlog(); got["received"]+got["processing"] != 3 {
		t.Errorf("backlog with 3 messages unprocessed: %v", got)
	}
	close(release)
}
