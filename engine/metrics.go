package engine

import (
	"context"
	"sync"
	"time"

	"github.com/carebridge/carebridge/fhirstore"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus collectors. Create them once per
// registry with NewMetrics and share them between the store (ObserveCommit)
// and the engine.
type Metrics struct {
	received   *prometheus.CounterVec   // listener, type
	acks       *prometheus.CounterVec   // listener, code
	ackLatency *prometheus.HistogramVec // listener
	duplicates *prometheus.CounterVec   // listener
	// duplicatesDiffering counts duplicates whose message is not the
	// original's (a reused control ID), by listener.
	duplicatesDiffering *prometheus.CounterVec
	rejected            *prometheus.CounterVec // listener
	connsOpen           *prometheus.GaugeVec   // listener
	connsRefused        *prometheus.CounterVec // listener, reason
	framing             *prometheus.CounterVec // listener, kind
	commit              prometheus.Histogram
	commitBatch         prometheus.Histogram
	processed           *prometheus.CounterVec // status

	mappingWarnings *prometheus.CounterVec // kind
	mappingReloads  *prometheus.CounterVec // result
	mappingInfo     *prometheus.GaugeVec   // hash
	unmapped        prometheus.Counter
	recordLatency   prometheus.Histogram

	// reindexRemaining is how many resources this node's rebuild of the
	// search index still has to do (reindex.go).
	reindexRemaining prometheus.Gauge

	// backlog reports the journal's backlog on each scrape, once the
	// engine has set its source (setBacklog).
	backlog *backlogCollector
}

// backlogCollector reports the journal entries waiting to be processed
// (received) and being processed (processing), counted when scraped.
type backlogCollector struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	count func() (map[fhirstore.Status]int64, error)
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	count := c.count
	c.mu.Unlock()
	if count == nil {
		return
	}
	counts, err := count()
	if err != nil {
		// Left out rather than failing the whole scrape; /readyz reports a
		// journal that does not answer.
		return
	}
	for _, st := range []fhirstore.Status{fhirstore.StatusReceived, fhirstore.StatusProcessing} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}

// setBacklog makes the backlog metric count j's entries.
func (m *Metrics) setBacklog(j fhirstore.Journal) {
	m.backlog.mu.Lock()
	defer m.backlog.mu.Unlock()
	m.backlog.count = func() (map[fhirstore.Status]int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return j.Counts(ctx, fhirstore.StatusReceived, fhirstore.StatusProcessing)
	}
}

// mappingSet records the hash of the mapping set in use.
func (m *Metrics) mappingSet(hash string) {
	m.mappingInfo.Reset()
	m.mappingInfo.WithLabelValues(hash).Set(1)
}

// NewMetrics creates the collectors and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latencyBuckets := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_messages_received_total", Help: "HL7 v2 messages received, by listener and message type (MSH-9).",
		}, []string{"listener", "type"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_acks_total", Help: "Acknowledgements sent, by listener and acknowledgement code (MSA-1).",
		}, []string{"listener", "code"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "carebridge_ack_latency_seconds", Help: "Time from a message's last byte to its ACK being ready, by listener.",
			Buckets: latencyBuckets,
		}, []string{"listener"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_duplicates_total", Help: "Messages recognised as resends of an earlier message and not processed again.",
		}, []string{"listener"}),
		duplicatesDiffering: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_duplicates_differing_total", Help: "Duplicates (same sender and control ID) whose message differs from the original's: most likely a reused control ID; not processed.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_messages_rejected_total", Help: "Messages answered with AR/CR because they could not be parsed or validated, or (unmapped: reject) no map handles them.",
		}, []string{"listener"}),
		connsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carebridge_mllp_connections_open", Help: "Open MLLP connections, by listener.",
		}, []string{"listener"}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_mllp_connections_rejected_total", Help: "MLLP connections closed before being served, by reason.",
		}, []string{"listener", "reason"}),
		framing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_mllp_framing_errors_total", Help: "MLLP framing errors, by listener and kind.",
		}, []string{"listener", "kind"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "carebridge_journal_commit_seconds", Help: "Duration of journal group commits (including fsync).",
			Buckets: latencyBuckets,
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "carebridge_journal_commit_batch_size", Help: "Requests sharing one journal commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_messages_processed_total", Help: "Journal entries whose processing finished, by final status.",
		}, []string{"status"}),
		mappingWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_mapping_warnings_total", Help: "Mapping warnings, by kind (unmapped-code, unused-field, no-timezone, unregistered-authority).",
		}, []string{"kind"}),
		mappingReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carebridge_mapping_reloads_total", Help: "Mapping directory reloads, by result (applied, refused).",
		}, []string{"result"}),
		mappingInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carebridge_mapping_set_info", Help: "The mapping set in use (its hash as a label, value 1).",
		}, []string{"hash"}),
		backlog: &backlogCollector{desc: prometheus.NewDesc("carebridge_journal_backlog",
			"Journal entries waiting to be processed (status received) and being processed (processing), counted when scraped.",
			[]string{"status"}, nil)},
		recordLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "carebridge_record_apply_seconds", Help: "Time to apply one mapped message to the unified record (identity, field-level update, commit).",
			Buckets: latencyBuckets,
		}),
		reindexRemaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "carebridge_search_reindex_remaining", Help: "Resources whose search index rows this node still has to rebuild after an upgrade that changed what is indexed (searches may miss them until then); 0 when the index is current.",
		}),
		unmapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "carebridge_messages_unmapped_total", Help: "Messages no map handles (their type or trigger event): failed in processing, or rejected on arrival by a listener with unmapped: reject.",
		}),
	}
	// Both results exist from the start (at 0), so that an alert on
	// refusals has a series to watch before the first reload.
	m.mappingReloads.WithLabelValues("applied")
	m.mappingReloads.WithLabelValues("refused")
	if reg != nil {
		reg.MustRegister(m.mappingWarnings, m.mappingReloads, m.mappingInfo, m.unmapped, m.recordLatency, m.reindexRemaining, m.backlog)
		reg.MustRegister(m.received, m.acks, m.ackLatency, m.duplicates, m.duplicatesDiffering, m.rejected, m.connsOpen, m.connsRefused,
			m.framing, m.commit, m.commitBatch, m.processed)
	}
	return m
}

// ObserveCommit records one journal group commit. It is meant to be passed to
// the storage backend's commit hook.
func (m *Metrics) ObserveCommit(requests int, d time.Duration) {
	m.commit.Observe(d.Seconds())
	m.commitBatch.Observe(float64(requests))
}

// mllpObserver adapts the metrics to mllp.Observer.
type mllpObserver struct{ m *Metrics }

func (o mllpObserver) ConnOpened(l string) { o.m.connsOpen.WithLabelValues(l).Inc() }
func (o mllpObserver) ConnClosed(l string) { o.m.connsOpen.WithLabelValues(l).Dec() }
func (o mllpObserver) ConnRejected(l, reason string) {
	o.m.connsRefused.WithLabelValues(l, reason).Inc()
}
func (o mllpObserver) FramingError(l, kind string) { o.m.framing.WithLabelValues(l, kind).Inc() }
