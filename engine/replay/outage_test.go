package replay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/engine/mllp/mllptest"
)

// testTimeout bounds every wait of these tests on the replay.
const testTimeout = 20 * time.Second

// after is what an mllpServer does once a handler returns.
type after int

const (
	answer   after = iota // write the acknowledgement
	hangUp                // close the connection without answering
	shutDown              // stop the server (listener and connections) without answering
)

// mllpServer is a small MLLP receiver on a fixed loopback address, so that
// it can be stopped and started again where the replay expects it.
type mllpServer struct {
	t      *testing.T
	addr   string
	handle func(raw []byte) ([]byte, after)

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	down  chan struct{} // closed by stop
	wg    sync.WaitGroup
}

// newMLLPServer returns a stopped server on a free loopback port.
func newMLLPServer(t *testing.T, handle func(raw []byte) ([]byte, after)) *mllpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mllpServer{t: t, addr: ln.Addr().String(), handle: handle, conns: make(map[net.Conn]bool), down: make(chan struct{})}
	ln.Close()
	close(s.down)
	t.Cleanup(func() {
		s.stop()
		s.wg.Wait()
	})
	return s
}

func (s *mllpServer) start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.ln, s.down = ln, make(chan struct{})
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln { // stopped since Accept returned
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Go(func() { s.serve(c, ln) })
		}
	})
}

// serve answers on c, accepted by ln, until the server stops. Handlers run
// one at a time, and none once the server stopped.
func (s *mllpServer) serve(c net.Conn, ln net.Listener) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := mllp.NewReader(c)
	for {
		msg, err := r.ReadFrame()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ln != ln {
			s.mu.Unlock()
			return
		}
		ack, then := s.handle(msg)
		s.mu.Unlock()
		switch then {
		case hangUp:
			return
		case shutDown:
			s.stop()
			return
		}
		if mllp.WriteFrame(c, ack) != nil {
			return
		}
	}
}

// stop closes the listener and every connection; it does not wait for the
// connections' goroutines (a handler may call it).
func (s *mllpServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return
	}
	s.ln.Close()
	s.ln = nil
	for c := range s.conns {
		c.Close()
	}
	close(s.down)
}

// stopped returns a channel closed once the server is stopped.
func (s *mllpServer) stopped() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// ackAA answers raw with AA.
func ackAA(t *testing.T, raw []byte) []byte {
	m, err := hl7.Parse(raw)
	if err != nil {
		t.Error(err)
		return nil
	}
	return hl7.Ack(m, hl7.ApplicationAccept, "")
}

// receiver records the control IDs it acknowledged, in order.
type receiver struct {
	mu  sync.Mutex
	ids []string
}

func (r *receiver) add(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// waits replaces Options.sleep: each outage wait is handed to the test,
// which lets it end with release.
type waits struct {
	calls   chan time.Duration
	release chan struct{}
}

func newWaits() *waits {
	return &waits{calls: make(chan time.Duration), release: make(chan struct{})}
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	select {
	case w.calls <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next returns the wait the replay asks for next.
func (w *waits) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-w.calls:
		return d
	case <-time.After(testTimeout):
		t.Fatal("the replay did not wait for the server")
		return 0
	}
}

// losingOnce returns a handler that answers every message with
// receive(raw), but for the first delivery of lostID does loss instead,
// after receive if receiveLost (the receiver took it; only its ACK is lost).
func losingOnce(lostID string, loss after, receiveLost bool, receive func(raw []byte) []byte) func(raw []byte) ([]byte, after) {
	var once sync.Once
	return func(raw []byte) ([]byte, after) {
		lose := false
		if controlID(raw) == lostID {
			once.Do(func() { lose = true })
		}
		if !lose {
			return receive(raw), answer
		}
		if receiveLost {
			receive(raw)
		}
		return nil, loss
	}
}

// recording returns a receive function for losingOnce that records the
// message in rec and answers AA.
func recording(t *testing.T, rec *receiver) func(raw []byte) []byte {
	return func(raw []byte) []byte {
		rec.add(controlID(raw))
		return ackAA(t, raw)
	}
}

// result is what Run returned in a goroutine.
type result struct {
	sum Summary
	err error
}

// runAsync runs Run in a goroutine; it is interrupted when the test ends
// (before its servers are stopped), so that a failed test does not hang.
func runAsync(t *testing.T, ctx context.Context, sink Sink, opts Options) <-chan result {
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	done := make(chan result, 1)
	go func() {
		sum, err := Run(ctx, sink, opts)
		done <- result{sum, err}
	}()
	return done
}

func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(testTimeout):
		t.Fatal("the replay did not end")
		return result{}
	}
}

var waitingRE = regexp.MustCompile(`^replay: waiting for 127\.0\.0\.1:\d+ \(([^)]*)\), retrying in (\S+); (\d+) messages waiting$`)

// waitingLines returns the reason and delay of each waiting line in out.
func waitingLines(out string) (reasons, delays []string) {
	for line := range strings.Lines(out) {
		if m := waitingRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			reasons = append(reasons, m[1])
			delays = append(delays, m[2])
		}
	}
	return reasons, delays
}

func TestMLLPServerDownAtStart(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir, archiveSpec{"a.hl7", 5})
	var rec receiver
	receive := recording(t, &rec)
	srv := newMLLPServer(t, func(raw []byte) ([]byte, after) { return receive(raw), answer })
	w := newWaits()
	var problems bytes.Buffer // read once Run has returned
	done := runAsync(t, context.Background(), NewMLLPSink(srv.addr, mllp.ClientOptions{}, 1), Options{
		Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"), Concurrency: 1,
		Target: "mllp://" + srv.addr, Problems: &problems, sleep: w.sleep,
	})
	// Nobody listens: the replay waits, 100ms, then 200ms.
	for _, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		if d := w.next(t); d != want {
			t.Errorf("wait = %v, want %v", d, want)
		}
		if len(rec.got()) != 0 {
			t.Fatal("delivered while the server was down")
		}
		w.release <- struct{}{}
	}
	w.next(t)
	srv.start()
	w.release <- struct{}{}
	r := wait(t, done)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sum.Accepted != 5 || r.sum.Failed != 0 || r.sum.Total != 5 {
		t.Errorf("summary = %+v, want 5 accepted, none failed", r.sum)
	}
	if got := rec.got(); !slices.Equal(got, ids) {
		t.Errorf("server got %v, want %v once each, in order", got, ids)
	}
	reasons, delays := waitingLines(problems.String())
	if !slices.Equal(reasons, []string{"connection refused", "connection refused", "connection refused"}) ||
		!slices.Equal(delays, []string{"100ms", "200ms", "400ms"}) {
		t.Errorf("waiting lines: reasons %q, delays %q; output:\n%s", reasons, delays, problems.String())
	}
	if !strings.Contains(problems.String(), "answers again after") {
		t.Errorf("no line saying the server answers again:\n%s", problems.String())
	}
}

func TestMLLPServerStopsMidArchive(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(map[int]string{1: "in order", 4: "four connections"}[conc], func(t *testing.T) {
			dir := t.TempDir()
			ids := writeArchives(t, dir, archiveSpec{"a.hl7", 40})
			var rec receiver
			srv := newMLLPServer(t, losingOnce(ids[19], shutDown, false, recording(t, &rec)))
			srv.start()
			w := newWaits()
			var problems bytes.Buffer // read once Run has returned
			done := runAsync(t, context.Background(), NewMLLPSink(srv.addr, mllp.ClientOptions{}, conc), Options{
				Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"), Concurrency: conc,
				Target: "mllp://" + srv.addr, Problems: &problems, sleep: w.sleep,
			})
			w.next(t)
			<-srv.stopped()
			n := len(rec.got())
			w.release <- struct{}{}
			w.next(t) // still down
			if len(rec.got()) != n {
				t.Fatal("delivered while the server was down")
			}
			srv.start()
			w.release <- struct{}{}
			r := wait(t, done)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.sum.Accepted != 40 || r.sum.Failed != 0 {
				t.Errorf("summary = %+v, want 40 accepted, none failed", r.sum)
			}
			got := rec.got()
			if conc == 1 && !slices.Equal(got, ids) {
				t.Errorf("server got %v, want %v once each, in order", got, ids)
			}
			for _, id := range ids {
				if !slices.Contains(got, id) {
					t.Errorf("%s never arrived", id)
				}
			}
			if reasons, _ := waitingLines(problems.String()); len(reasons) < 2 {
				t.Errorf("want at least two waiting lines:\n%s", problems.String())
			}
		})
	}
}

func TestMLLPGiveUpAndResume(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir, archiveSpec{"a.hl7", 10})
	var rec receiver
	srv := newMLLPServer(t, losingOnce(ids[3], shutDown, false, recording(t, &rec)))
	srv.start()
	stateFile := filepath.Join(t.TempDir(), "state")
	clock := newFakeClock()
	var slept []time.Duration
	var problems bytes.Buffer // read once Run has returned
	sum, err := Run(context.Background(), NewMLLPSink(srv.addr, mllp.ClientOptions{}, 1), Options{
		Paths: []string{dir}, StateFile: stateFile, Concurrency: 1, Target: "mllp://" + srv.addr,
		Problems: &problems, GiveUpAfter: time.Second, Clock: clock.Now,
		sleep: func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d) // one prober: no concurrent calls
			clock.Advance(d)
			return nil
		},
	})
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("err = %v, want ErrGaveUp", err)
	}
	if want := regexp.MustCompile(`^replay: gave up after waiting 1s for 127\.0\.0\.1:\d+ \(connection (refused|closed|reset by peer)\); \d+ messages not sent$`); !want.MatchString(err.Error()) {
		t.Errorf("error %q does not match %v", err, want)
	}
	if !slices.Equal(slept, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 300 * time.Millisecond}) {
		t.Errorf("waits %v, want 100ms 200ms 400ms and the 300ms left", slept)
	}
	if sum.Accepted != 3 || sum.Failed != 0 || sum.Total != 3 {
		t.Errorf("summary = %+v, want 3 accepted, none failed", sum)
	}
	st := readState(t, stateFile)
	fs := st.Files[stateKey(filepath.Join(dir, "a.hl7"))]
	if fs == nil || fs.Done != 3 || fs.Complete || len(fs.Above) != 0 {
		t.Fatalf("state = %+v, want messages 1-3 done and nothing else", fs)
	}

	srv.start()
	sum, err = Run(context.Background(), NewMLLPSink(srv.addr, mllp.ClientOptions{}, 1), Options{
		Paths: []string{dir}, StateFile: stateFile, Concurrency: 1, Target: "mllp://" + srv.addr, Resume: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 7 || sum.Skipped != 3 || sum.Failed != 0 {
		t.Errorf("resumed summary = %+v, want 7 accepted, 3 skipped", sum)
	}
	if got := rec.got(); !slices.Equal(got, ids) {
		t.Errorf("server got %v, want %v once each, in order", got, ids)
	}
}

func TestMLLPInterruptedWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	writeArchives(t, dir, archiveSpec{"a.hl7", 3})
	srv := newMLLPServer(t, func(raw []byte) ([]byte, after) { return ackAA(t, raw), answer })
	stateFile := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWaits()
	done := runAsync(t, ctx, NewMLLPSink(srv.addr, mllp.ClientOptions{}, 1), Options{
		Paths: []string{dir}, StateFile: stateFile, Concurrency: 1, Target: "mllp://" + srv.addr, sleep: w.sleep,
	})
	w.next(t)
	cancel()
	r := wait(t, done)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", r.err)
	}
	if r.sum.Failed != 0 || r.sum.Total != 0 {
		t.Errorf("summary = %+v, want nothing counted", r.sum)
	}
	if fs := readState(t, stateFile).Files[stateKey(filepath.Join(dir, "a.hl7"))]; fs == nil || fs.Done != 0 {
		t.Errorf("state = %+v, want nothing done", fs)
	}
}

func TestRetryDelay(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 11; n++ {
		got = append(got, retryDelay(n, DefaultRetryMin, DefaultRetryMax))
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond,
		25600 * time.Millisecond, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
}

func TestMLLPSinkKeepsMessageFailures(t *testing.T) {
	// A message the client refuses to send is the message's failure, not
	// the server's absence: no wait.
	sink := NewMLLPSink("127.0.0.1:1", mllp.ClientOptions{}, 1)
	defer sink.Close()
	_, err := sink.Deliver(context.Background(), archiveMessage("MSH|^~\\&|A|B|C|D|20260101||ADT^A01||P|2.5.1\r"))
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("a message without MSH-10: err = %v, want a failure that is not ErrUnavailable", err)
	}
}

// archiveMessage is raw as message 1 of a file "test.hl7".
func archiveMessage(raw string) archive.Message {
	return archive.Message{Source: "test.hl7", Index: 1, Raw: []byte(raw)}
}

func TestMLLPSinkTLSHandshakeFailureIsUnavailable(t *testing.T) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", mllptest.NewCA(t).ServerTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	})
	// The client trusts another authority.
	sink := NewMLLPSink(ln.Addr().String(), mllp.ClientOptions{TLSConfig: mllptest.NewCA(t).ClientTLS(t, false)}, 1)
	defer sink.Close()
	_, err = sink.Deliver(context.Background(), archiveMessage(synthetic("T1")))
	if !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), "TLS handshake: ") {
		t.Errorf("err = %v, want ErrUnavailable saying TLS handshake: ...", err)
	}
}

func TestOutage(t *testing.T) {
	var o outage
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	isOpen := func() bool {
		select {
		case <-o.wait():
			return true
		default:
			return false
		}
	}
	if !isOpen() {
		t.Fatal("a new outage is down")
	}
	reason := errors.New("connection refused")
	a := o.failed(probe{}, 0, t0, reason)
	b := o.failed(probe{}, 0, t0.Add(time.Millisecond), reason)
	if !a.prober || b.prober || a.attempts != 1 || !b.since.Equal(t0) {
		t.Fatalf("first failure %+v, second %+v: want the first to probe, both since %v", a, b, t0)
	}
	if isOpen() {
		t.Fatal("open while down")
	}
	if ended, _ := o.answered(b); ended || isOpen() {
		t.Fatal("an answer to a delivery sent before the outage ended it")
	}
	a = o.failed(a, 0, t0.Add(time.Second), reason)
	if !a.prober || a.attempts != 2 {
		t.Fatalf("prober's second failure: %+v, want attempt 2", a)
	}
	if ended, since := o.answered(a); !ended || !since.Equal(t0) || !isOpen() {
		t.Fatalf("the prober's answer: ended %v since %v open %v", ended, since, isOpen())
	}
	// A failure of a delivery begun before the outage ended is stale: it
	// starts no new outage.
	if late := o.failed(b, 0, t0.Add(2*time.Second), reason); !late.stale || late.prober || !isOpen() {
		t.Fatalf("a late failure: %+v, open %v: want stale, no new outage", late, isOpen())
	}
	// A new outage: the old prober's part does not make it the prober of
	// this one, nor a second one.
	c := o.failed(probe{}, o.epoch(), t0.Add(time.Minute), reason)
	stale := o.failed(a, o.epoch(), t0.Add(time.Minute), reason)
	if !c.prober || c.attempts != 1 || stale.prober {
		t.Fatalf("new outage: %+v, old prober %+v: want one prober starting again", c, stale)
	}
}

// TestMLLPBusyAnswerIsWaitedFor: an AE with ERR-3 206 (application record
// locked: the receiver is still processing the original of a resend and
// asks for it later) is waited for and sent again, not failed.
func TestMLLPBusyAnswerIsWaitedFor(t *testing.T) {
	dir := t.TempDir()
	ids := writeArchives(t, dir, archiveSpec{"a.hl7", 3})
	var rec receiver
	receive := recording(t, &rec)
	var mu sync.Mutex
	busy := true
	srv := newMLLPServer(t, func(raw []byte) ([]byte, after) {
		mu.Lock()
		defer mu.Unlock()
		m, err := hl7.Parse(raw)
		if err != nil {
			t.Error(err)
			return nil, hangUp
		}
		if busy && m.ControlID() == ids[1] {
			busy = false
			return hl7.Ack(m, hl7.ApplicationError, "the original of this message is still being processed; resend it later",
				hl7.ErrorDetail{Code: hl7.CodeApplicationRecordLocked, Severity: hl7.SeverityError, Text: "the original of this message is still being processed; resend it later"}), answer
		}
		return receive(raw), answer
	})
	srv.start()
	w := newWaits()
	var problems bytes.Buffer // read once Run has returned
	done := runAsync(t, context.Background(), NewMLLPSink(srv.addr, mllp.ClientOptions{}, 1), Options{
		Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"), Concurrency: 1,
		Target: "mllp://" + srv.addr, Problems: &problems, sleep: w.sleep,
	})
	if d := w.next(t); d != 100*time.Millisecond {
		t.Errorf("wait = %v, want 100ms", d)
	}
	w.release <- struct{}{}
	r := wait(t, done)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sum.Accepted != 3 || r.sum.Failed != 0 {
		t.Errorf("summary = %+v, want 3 accepted, none failed", r.sum)
	}
	if got := rec.got(); !slices.Equal(got, ids) {
		t.Errorf("server accepted %v, want %v in order", got, ids)
	}
	if !strings.Contains(problems.String(), "(busy: the original of this message is still being processed; resend it later)") {
		t.Errorf("no waiting line saying the receiver is busy:\n%s", problems.String())
	}
}
