// Package engine runs a Carebridge node: it receives HL7 v2 messages on its
// MLLP listeners, commits each to the journal before acknowledging it, and
// runs the workers that process journaled messages (on start-up, including
// those a crash left unprocessed).
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine/api"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// Deps are what an Engine is built from besides its configuration.
type Deps struct {
	// Journal is required.
	Journal fhirstore.Journal
	// Logger defaults to a discarding logger. Message content is never logged
	// unless the configuration's log.patient_data is true.
	Logger *slog.Logger
	// Metrics defaults to unregistered collectors.
	Metrics *Metrics
	// Gatherer serves /metrics; nil serves an empty page.
	Gatherer prometheus.Gatherer
	// Processor processes journaled messages; nil means mapping them with
	// Mappings, or (without Mappings) only parsing and validating them.
	Processor Processor
	// Mappings is the mapping set messages are mapped with; with a mappings
	// directory that reloads, Run keeps it up to date.
	Mappings *mappings.Set
	// Record, when set, applies every mapped message to the unified record
	// (in the transaction that records the journal status); nil keeps the
	// Bundle with the journal entry only.
	Record *record.Recorder
}

// Engine is a running (or runnable) Carebridge node. Create it with New and
// run it with Run; it is not reusable after Run returns.
type Engine struct {
	cfg       *config.Config
	journal   fhirstore.Journal
	log       *slog.Logger
	metrics   *Metrics
	gatherer  prometheus.Gatherer
	processor Processor
	mapper    *Mapper // the processor, when it maps
	recorder  *record.Recorder
	charsets  map[string]string // listener name → fallback charset
	listeners []*listener

	wake chan struct{} // nudges the feeder when new work was journaled
	// queues hand messages to the workers, one queue per worker, each
	// message to the queue of its patient (see pipeline.go). Live messages
	// journaled by this node go there already claimed, so that live traffic
	// needs no claim write; hotSlots bounds what waits in all queues (a
	// message that finds no slot is journaled as received and claimed from
	// the journal by the feeder instead).
	queues   []chan *fhirstore.Entry
	hotSlots chan struct{}
	// slots bounds the messages applied to the record at once (slots.go).
	slots *applySlots
	// backlog is true while the journal may hold received messages older
	// than live ones: live messages then go through the journal too (and
	// the feeder), in order. backlogGen counts the messages journaled so,
	// so that the feeder clears backlog only when nothing arrived meanwhile.
	backlog    atomic.Bool
	backlogMu  sync.Mutex
	backlogGen uint64 // guarded by backlogMu
	running    atomic.Bool
	ready      chan struct{} // closed once every listener is accepting
	stopping   chan struct{} // closed when shutdown begins: /readyz says not ready

	mu       sync.Mutex
	httpAddr net.Addr
}

// listener is one configured MLLP listener with its TLS settings resolved.
type listener struct {
	cfg    config.MLLPListener
	tls    *tls.Config
	server *mllp.Server
	addr   net.Addr
}

// New checks the configuration's run-time resources (such as TLS files) and
// builds the engine; it opens no socket.
func New(cfg *config.Config, deps Deps) (*Engine, error) {
	if deps.Journal == nil {
		return nil, errors.New("new engine: a journal is required")
	}
	e := &Engine{
		cfg:       cfg,
		journal:   deps.Journal,
		log:       deps.Logger,
		metrics:   deps.Metrics,
		gatherer:  deps.Gatherer,
		processor: deps.Processor,
		recorder:  deps.Record,
		charsets:  cfg.Charsets(),
		wake:      make(chan struct{}, 1),
		hotSlots:  make(chan struct{}, hotCapacity),
		ready:     make(chan struct{}),
		stopping:  make(chan struct{}),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for range max(cfg.Processing.Workers, 1) {
		// Each queue can hold every slot: a send after a reserved slot
		// never blocks.
		e.queues = append(e.queues, make(chan *fhirstore.Entry, hotCapacity))
	}
	e.slots = newApplySlots(runtime.GOMAXPROCS(0), len(e.queues)*applyConcurrency, time.Now)
	if e.metrics == nil {
		e.metrics = NewMetrics(nil)
	}
	e.metrics.setBacklog(e.journal)
	if e.processor == nil && deps.Mappings != nil {
		e.mapper = NewMapper(cfg, deps.Mappings, e.metrics, e.log)
		e.processor = e.mapper
	}
	if e.processor == nil {
		e.processor = NewValidator(cfg)
	}
	var errs []error
	for _, lc := range cfg.MLLP {
		l := &listener{cfg: lc}
		if lc.TLS != nil {
			t, err := ServerTLS(lc.TLS)
			if err != nil {
				errs = append(errs, fmt.Errorf("listener %s: %w", lc.Name, err))
			}
			l.tls = t
		}
		e.listeners = append(e.listeners, l)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	return e, nil
}

// Ready is closed once every listener accepts connections.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Stopping is closed when shutdown begins: the listeners stop accepting,
// and /readyz answers 503 from then on.
func (e *Engine) Stopping() <-chan struct{} { return e.stopping }

// MLLPAddr returns the address the named listener is bound to (useful with
// port 0), or nil before Ready.
func (e *Engine) MLLPAddr(name string) net.Addr {
	for _, l := range e.listeners {
		if l.cfg.Name == name {
			return l.addr
		}
	}
	return nil
}

// HTTPAddr returns the HTTP listener's address, or nil.
func (e *Engine) HTTPAddr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.httpAddr
}

// Run binds the listeners, recovers work a crash left behind, and serves
// until ctx is cancelled; then it shuts down gracefully: it stops accepting,
// lets in-flight messages finish and be acknowledged, lets the workers finish
// their current batch, and returns. It returns an error if a listener cannot
// be bound or fails.
//
// Run does not guard against a second node on the same journal: the caller
// holds a DataDirLock (as `carebridge serve` does) so that no other node
// runs on it.
func (e *Engine) Run(ctx context.Context) error {
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, l := range e.listeners {
		ln, err := net.Listen("tcp", l.cfg.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listener %s: %w", l.cfg.Name, err)
		}
		lns = append(lns, ln)
		l.addr = ln.Addr()
	}
	var httpLn net.Listener
	if e.cfg.HTTP.Addr != "" {
		var err error
		httpLn, err = net.Listen("tcp", e.cfg.HTTP.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("http listener: %w", err)
		}
		if e.cfg.HTTP.TLS != nil {
			t, err := ServerTLS(e.cfg.HTTP.TLS)
			if err != nil {
				closeAll()
				httpLn.Close()
				return fmt.Errorf("http listener: %w", err)
			}
			httpLn = tls.NewListener(httpLn, t)
		}
		e.mu.Lock()
		e.httpAddr = httpLn.Addr()
		e.mu.Unlock()
	}

	// Only now that every listener is bound is this node going to run:
	// return to the queue what a previous run of this node left claimed,
	// and what others left claimed longer than the claim timeout.
	released, err := e.journal.Release(ctx, e.cfg.NodeID)
	if err == nil {
		var stale int
		stale, err = e.journal.ReleaseStale(ctx, e.cfg.NodeID, time.Now().Add(-e.cfg.Processing.ClaimTimeout.D))
		released += stale
	}
	if err != nil {
		closeAll()
		if httpLn != nil {
			httpLn.Close()
		}
		return fmt.Errorf("recover unfinished messages: %w", err)
	}
	if counts, err := e.journal.Counts(ctx, fhirstore.StatusReceived); err == nil && counts[fhirstore.StatusReceived] > 0 {
		// Every entry waiting, those released just now among them.
		e.log.Info("messages waiting to be processed", "count", counts[fhirstore.StatusReceived], "recovered", released)
		e.markBacklog() // queued before this start: live messages wait behind them
	}

	// Workers get their own context: they stop only after the listeners
	// have finished, so that on-commit messages received during shutdown
	// are still handed over (or left for the next start).
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	e.running.Store(true)
	defer e.running.Store(false)
	var workers sync.WaitGroup
	for i := range e.queues {
		workers.Add(1)
		go func() {
			defer workers.Done()
			e.work(workCtx, i)
		}()
	}
	workers.Go(func() { e.feed(workCtx) })
	workers.Go(func() { e.releaseAbandonedEvery(workCtx, releaseInterval(e.cfg.Processing)) })
	if r, ok := e.journal.(fhirstore.Reindexer); ok {
		if rebuild := e.searchIndexRebuild(ctx, r); rebuild != nil {
			workers.Go(func() { rebuild(workCtx) })
		}
	}
	if e.mapper != nil && e.cfg.Mappings.ReloadEnabled() {
		w := &mappings.Watcher{Dir: e.cfg.Mappings.Dir, OnLoad: e.mapper.reload, OnError: e.mapper.refused}
		workers.Go(func() {
			if err := w.Run(workCtx); err != nil {
				e.log.Error("mapping reload is off", "err", err)
			}
		})
		e.log.Info("watching mappings for changes", "dir", e.cfg.Mappings.Dir)
		if err := failingExamples(e.mapper.Set(), e.mapper.files); err != nil {
			e.log.Warn("the mappings in use fail their own examples: reloads are refused until they pass", "err", err)
		}
	}

	serveErr := make(chan error, len(e.listeners)+1)
	var serving sync.WaitGroup
	for i, l := range e.listeners {
		l.server = e.newServer(l)
		serving.Add(1)
		go func(ln net.Listener) {
			defer serving.Done()
			if err := l.server.Serve(context.WithoutCancel(ctx), ln); err != nil && !errors.Is(err, mllp.ErrServerClosed) {
				serveErr <- fmt.Errorf("listener %s: %w", l.cfg.Name, err)
			}
		}(lns[i])
		e.log.Info("mllp listener started", "listener", l.cfg.Name, "addr", l.addr.String(), "tls", l.tls != nil, "ack_policy", l.cfg.AckPolicy)
	}
	var httpSrv *http.Server
	if httpLn != nil {
		httpSrv = &http.Server{
			Handler:           api.New(api.Options{Gatherer: e.gatherer, Ready: e.readiness}),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		}
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("http listener: %w", err)
			}
		}()
		e.log.Info("http listener started", "addr", httpLn.Addr().String())
	}
	close(e.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	e.log.Info("shutting down")
	close(e.stopping) // before the listeners stop accepting: a balancer sees it first
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, l := range e.listeners {
		if err := l.server.Shutdown(shutCtx); err != nil {
			e.log.Warn("mllp listener shutdown", "listener", l.cfg.Name, "err", err)
		}
	}
	if httpSrv != nil {
		_ = httpSrv.Shutdown(shutCtx)
	}
	serving.Wait()
	stopWork()
	e.log.Info("workers finishing the batches in hand")
	workers.Wait()
	// What the next start processes: the entries still waiting and those
	// this node holds claimed (its workers' queues).
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	if counts, err := e.journal.Counts(cctx, fhirstore.StatusReceived, fhirstore.StatusProcessing); err == nil {
		if n := counts[fhirstore.StatusReceived] + counts[fhirstore.StatusProcessing]; n > 0 {
			e.log.Info("messages left for the next start", "count", n, "waiting", counts[fhirstore.StatusReceived], "claimed", counts[fhirstore.StatusProcessing])
		}
	}
	ccancel()
	e.log.Info("stopped")
	return runErr
}

// readiness reports whether the node can take messages.
func (e *Engine) readiness() error {
	select {
	case <-e.ready:
	default:
		return errors.New("listeners are starting")
	}
	select {
	case <-e.stopping:
		return errors.New("shutting down: the listeners no longer accept connections")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := e.journal.Counts(ctx, fhirstore.StatusReceived); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (e *Engine) newServer(l *listener) *mllp.Server {
	return &mllp.Server{
		Name:         l.cfg.Name,
		Handler:      mllp.HandlerFunc(func(ctx context.Context, c *mllp.ConnInfo, msg []byte) []byte { return e.receive(ctx, l, c, msg) }),
		TLSConfig:    l.tls,
		MaxConns:     l.cfg.MaxConnections,
		MaxFrameSize: int(l.cfg.MaxMessageSize),
		ReadTimeout:  l.cfg.ReadTimeout.D,
		IdleTimeout:  l.cfg.IdleTimeout.D,
		WriteTimeout: l.cfg.WriteTimeout.D,
		OnOversize:   func(c *mllp.ConnInfo, head []byte) []byte { return e.oversize(l, c, head) },
		OnStrayEndBlock: func(c *mllp.ConnInfo, err *mllp.StrayEndBlockError) []byte {
			return e.refuseFrame(l, err.Head, hl7.CodeDataType, fmt.Sprintf("the message holds a 0x1C byte (the MLLP end block) at offset %d, followed by more of it: refused whole rather than cut short there", err.Offset))
		},
		Logger:   e.log,
		Observer: mllpObserver{e.metrics},
	}
}

// hotCapacity bounds the messages handed to workers in memory.
const hotCapacity = 4096

// reserveHot takes a slot for handing a message to the workers in memory;
// it fails when the engine is not running or the workers are behind.
func (e *Engine) reserveHot() bool {
	if !e.running.Load() {
		return false
	}
	select {
	case e.hotSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (e *Engine) releaseHot(n int) {
	for range n {
		<-e.hotSlots
	}
}

// markBacklog records that a message went to the journal as received: live
// messages follow it there until the feeder has claimed everything.
func (e *Engine) markBacklog() {
	e.backlogMu.Lock()
	e.backlogGen++
	e.backlog.Store(true)
	e.backlogMu.Unlock()
}

// backlogMark returns the current backlog generation.
func (e *Engine) backlogMark() uint64 {
	e.backlogMu.Lock()
	defer e.backlogMu.Unlock()
	return e.backlogGen
}

// clearBacklog ends the backlog if no message went to the journal since
// mark was taken.
func (e *Engine) clearBacklog(mark uint64) {
	e.backlogMu.Lock()
	if e.backlogGen == mark {
		e.backlog.Store(false)
	}
	e.backlogMu.Unlock()
}

// nudge wakes an idle worker.
func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
