package mllp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/engine/mllp/mllptest"
)

func TestServerRoundTrip(t *testing.T) {
	var got []*mllp.ConnInfo
	var mu sync.Mutex
	s := &mllp.Server{Name: "adt-in", Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
		mu.Lock()
		got = append(got, conn)
		mu.Unlock()
		return ackFor(msg, "AA")
	})}
	addr := serve(t, s)
	ctx := context.Background()
	c, err := mllp.Dial(ctx, addr, mllp.ClientOptions{AckTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		id := fmt.Sprintf("MSG%d", i)
		ack, err := c.Send(ctx, hl7Msg(id))
		if err != nil {
			t.Fatalf("Send %s: %v", id, err)
		}
		if ackControlIDOf(ack) != id {
			t.Fatalf("ack %q is not for %s", ack, id)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ci := range got {
		if ci.Listener != "adt-in" || ci.ID != 1 || ci.TLS != nil || ci.RemoteAddr == nil {
			t.Errorf("ConnInfo = %+v, want listener adt-in, ID 1, plain TCP, a remote address", ci)
		}
	}
}

func TestServerNilReplyWritesNothing(t *testing.T) {
	s := &mllp.Server{Handler: mllp.HandlerFunc(func(_ context.Context, _ *mllp.ConnInfo, msg []byte) []byte {
		if msgControlID(msg) == "SILENT" {
			return nil
		}
		return ackFor(msg, "AA")
	})}
	c := dialRaw(t, serve(t, s))
	c.send(t, hl7Msg("SILENT"))
	c.send(t, hl7Msg("LOUD"))
	c.readAck(t, "LOUD", "AA")
}

func TestServerConcurrentConnections(t *testing.T) {
	const conns, perConn = 200, 5
	var handled atomic.Int64
	s := &mllp.Server{Handler: mllp.HandlerFunc(func(_ context.Context, _ *mllp.ConnInfo, msg []byte) []byte {
		handled.Add(1)
		return ackFor(msg, "AA")
	})}
	addr := serve(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			ctx := context.Background()
			c, err := mllp.Dial(ctx, addr, mllp.ClientOptions{AckTimeout: testTimeout})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range perConn {
				id := fmt.Sprintf("C%dM%d", i, j)
				ack, err := c.Send(ctx, hl7Msg(id))
				if err != nil {
					errs <- fmt.Errorf("send %s: %w", id, err)
					return
				}
				if got := ackControlIDOf(ack); got != id {
					errs <- fmt.Errorf("ack for %s carries %s", id, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := handled.Load(); n != conns*perConn {
		t.Errorf("handler called %d times, want %d", n, conns*perConn)
	}
}

func TestServerMaxConns(t *testing.T) {
	obs := newRecorder()
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), MaxConns: 2, Observer: obs}
	addr := serve(t, s)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	// A round trip on each proves the server holds both.
	a.send(t, hl7Msg("A"))
	a.readAck(t, "A", "AA")
	b.send(t, hl7Msg("B"))
	b.readAck(t, "B", "AA")

	extra := dialRaw(t, addr)
	extra.expectClosed(t, testTimeout)
	obs.waitFor(t, "rejected:max_conns", 1)

	// A freed slot is usable again.
	a.Close()
	obs.waitFor(t, "closed", 1)
	d := dialRaw(t, addr)
	d.send(t, hl7Msg("D"))
	d.readAck(t, "D", "AA")
}

func TestServerReadTimeout(t *testing.T) {
	obs := newRecorder()
	const readTimeout = 200 * time.Millisecond
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), ReadTimeout: readTimeout, IdleTimeout: testTimeout, Observer: obs}
	c := dialRaw(t, serve(t, s))
	start := time.Now()
	c.write(t, "\x0bMSH|^~\\&|SLOW") // and then nothing more
	c.expectClosed(t, 5*time.Second)
	if d := time.Since(start); d < readTimeout {
		t.Errorf("connection closed after %v, before the read timeout %v", d, readTimeout)
	}
	obs.waitFor(t, "framing:timeout", 1)
}

func TestServerReadTimeoutTrickle(t *testing.T) {
	obs := newRecorder()
	const readTimeout = 300 * time.Millisecond
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), ReadTimeout: readTimeout, IdleTimeout: testTimeout, Observer: obs}
	c := dialRaw(t, serve(t, s))
	c.write(t, "\x0bM")
	// Keep trickling bytes well inside the timeout: the deadline covers the
	// whole frame, so trickling must not extend it.
	tick := time.NewTicker(readTimeout / 6)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("trickling sender not cut off")
		}
		if _, err := c.Write([]byte("x")); err != nil {
			break // closed by the server
		}
		if obs.count("framing:timeout") > 0 {
			break
		}
	}
	obs.waitFor(t, "framing:timeout", 1)
	c.expectClosed(t, 5*time.Second)
}

func TestServerIdleTimeout(t *testing.T) {
	obs := newRecorder()
	const idle = 150 * time.Millisecond
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), IdleTimeout: idle, Observer: obs}
	c := dialRaw(t, serve(t, s))
	c.send(t, hl7Msg("FIRST"))
	c.readAck(t, "FIRST", "AA")
	start := time.Now()
	c.expectClosed(t, 5*time.Second)
	if d := time.Since(start); d < idle-10*time.Millisecond {
		t.Errorf("idle connection closed after %v, before %v", d, idle)
	}
	obs.waitFor(t, "closed", 1)
	if n := obs.count("framing:timeout"); n != 0 {
		t.Errorf("idle timeout reported as %d framing timeouts", n)
	}
}

// TestServerIdleTimeoutNeverSent: a connection that never sends a byte is
// closed after one idle timeout. Waiting for its first bytes (to tell a TLS
// handshake from MLLP) used to take one idle timeout and waiting for its
// first frame another, so it stayed open twice as long as configured.
func TestServerIdleTimeoutNeverSent(t *testing.T) {
	obs := newRecorder()
	const idle = 500 * time.Millisecond
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), IdleTimeout: idle, Observer: obs}
	c := dialRaw(t, serve(t, s))
	start := time.Now()
	c.expectClosed(t, 5*time.Second)
	d := time.Since(start)
	if d < idle-10*time.Millisecond {
		t.Errorf("idle connection closed after %v, before %v", d, idle)
	}
	// Two idle timeouts would be at least 2*idle; one is idle plus
	// scheduling.
	if d >= 2*idle-100*time.Millisecond {
		t.Errorf("a connection that never sent was closed after %v: want one idle timeout (%v)", d, idle)
	}
	obs.waitFor(t, "closed", 1)
}

func TestServerOversizedFrame(t *testing.T) {
	obs := newRecorder()
	var heads []string
	var mu sync.Mutex
	var handled atomic.Int64
	s := &mllp.Server{
		Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
			handled.Add(1)
			return acker(ctx, conn, msg)
		}),
		MaxFrameSize: 200,
		OnOversize: func(_ *mllp.ConnInfo, head []byte) []byte {
			mu.Lock()
			heads = append(heads, string(head))
			mu.Unlock()
			return ackFor(head, "AR")
		},
		Observer: obs,
	}
	c := dialRaw(t, serve(t, s))
	big := append(hl7Msg("BIG"), strings.Repeat("NTE|1||padding\r", 100)...)
	c.send(t, big)
	c.send(t, hl7Msg("SMALL"))
	c.readAck(t, "BIG", "AR")
	c.readAck(t, "SMALL", "AA")
	obs.waitFor(t, "framing:oversized", 1)
	if n := handled.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1 (not for the oversized frame)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heads) != 1 || !strings.HasPrefix(string(big), heads[0]) || len(heads[0]) < 200 {
		t.Errorf("OnOversize got heads %q, want one prefix of the big frame", heads)
	}
}

func TestServerOversizedFrameWithoutHook(t *testing.T) {
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), MaxFrameSize: 50}
	c := dialRaw(t, serve(t, s))
	c.send(t, append(hl7Msg("BIG"), strings.Repeat("x", 100)...))
	c.send(t, []byte("MSH|^~\\&|A|B|C|D|E||ADT|SMALL|P|2\r"))
	c.readAck(t, "SMALL", "AA") // nothing was written for the big frame
}

func TestServerGarbage(t *testing.T) {
	obs := newRecorder()
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), Observer: obs}
	c := dialRaw(t, serve(t, s))
	c.write(t, "GET / HTTP/1.1\r\n\r\n")
	c.send(t, hl7Msg("AFTER"))
	c.readAck(t, "AFTER", "AA")
	obs.waitFor(t, "framing:garbage", 1)
}

func TestServerTruncatedFrame(t *testing.T) {
	obs := newRecorder()
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), Observer: obs}
	c := dialRaw(t, serve(t, s))
	c.write(t, "\x0bMSH|^~\\&|CUT")
	c.Conn.(*net.TCPConn).CloseWrite()
	c.expectClosed(t, testTimeout)
	obs.waitFor(t, "framing:truncated", 1)
}

func TestServerHandlerPanic(t *testing.T) {
	obs := newRecorder()
	s := &mllp.Server{Observer: obs, Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
		if msgControlID(msg) == "BOOM" {
			panic("boom")
		}
		return acker(ctx, conn, msg)
	})}
	addr := serve(t, s)
	c := dialRaw(t, addr)
	c.send(t, hl7Msg("BOOM"))
	c.expectClosed(t, testTimeout)
	obs.waitFor(t, "closed", 1)
	d := dialRaw(t, addr)
	d.send(t, hl7Msg("FINE"))
	d.readAck(t, "FINE", "AA")
}

func TestServerGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := &mllp.Server{Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
		if msgControlID(msg) == "SLOW" {
			close(entered)
			<-release
		}
		return acker(ctx, conn, msg)
	})}
	addr, served := startServer(t, s)

	idle := dialRaw(t, addr)
	idle.send(t, hl7Msg("EARLY"))
	idle.readAck(t, "EARLY", "AA")

	busy := dialRaw(t, addr)
	busy.send(t, hl7Msg("SLOW"))
	<-entered

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shutdown <- s.Shutdown(ctx)
	}()
	if err := <-served; !errors.Is(err, mllp.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Errorf("new connection accepted during shutdown")
	}
	idle.expectClosed(t, testTimeout)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v while a handler was running", err)
	default:
	}

	close(release)
	busy.readAck(t, "SLOW", "AA")
	busy.expectClosed(t, testTimeout)
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Serve(context.Background(), newFakeListener(0)); !errors.Is(err, mllp.ErrServerClosed) {
		t.Errorf("Serve after Shutdown returned %v, want ErrServerClosed", err)
	}
}

func TestServerShutdownDeadline(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	s := &mllp.Server{Handler: mllp.HandlerFunc(func(ctx context.Context, _ *mllp.ConnInfo, _ []byte) []byte {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return nil
	})}
	addr := serve(t, s)
	c := dialRaw(t, addr)
	c.send(t, hl7Msg("STUCK"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(testTimeout):
		t.Fatal("handler context not cancelled by the hard shutdown")
	}
	c.expectClosed(t, testTimeout)
}

func TestServeContextCancel(t *testing.T) {
	obs := newRecorder()
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), Observer: obs}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	c := dialRaw(t, ln.Addr().String())
	c.send(t, hl7Msg("ONE"))
	c.readAck(t, "ONE", "AA")
	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve returned %v, want context.Canceled", err)
	}
	c.expectClosed(t, testTimeout)
	obs.waitFor(t, "closed", 1)
}

// tempError is a temporary accept error.
type tempError struct{}

func (tempError) Error() string   { return "temporary accept failure" }
func (tempError) Temporary() bool { return true }
func (tempError) Timeout() bool   { return false }

// fakeListener fails Accept with tempError a number of times, then blocks
// until closed.
type fakeListener struct {
	mu       sync.Mutex
	failures int
	accepts  []time.Time
	blocked  chan struct{} // closed when Accept starts blocking
	closed   chan struct{}
	once     sync.Once
}

func newFakeListener(failures int) *fakeListener {
	return &fakeListener{failures: failures, blocked: make(chan struct{}), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.accepts = append(l.accepts, time.Now())
	if len(l.accepts) <= l.failures {
		l.mu.Unlock()
		return nil, tempError{}
	}
	if len(l.accepts) == l.failures+1 {
		close(l.blocked)
	}
	l.mu.Unlock()
	<-l.closed
	return nil, net.ErrClosed
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestServerAcceptBackoff(t *testing.T) {
	ln := newFakeListener(4)
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker)}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln) }()
	select {
	case <-ln.blocked:
	case <-time.After(testTimeout):
		t.Fatal("Serve stopped retrying Accept")
	}
	ln.mu.Lock()
	var gaps []time.Duration
	for i := 1; i < len(ln.accepts); i++ {
		gaps = append(gaps, ln.accepts[i].Sub(ln.accepts[i-1]))
	}
	ln.mu.Unlock()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	for i, g := range gaps {
		if g < want[i] {
			t.Errorf("retry %d after %v, want at least %v (gaps %v)", i+1, g, want[i], gaps)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, mllp.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
}

// brokenListener fails Accept with a permanent error.
type brokenListener struct{ fakeListener }

func (*brokenListener) Accept() (net.Conn, error) { return nil, errors.New("listener broke") }

func TestServerAcceptPermanentError(t *testing.T) {
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker)}
	err := s.Serve(context.Background(), &brokenListener{*newFakeListener(0)})
	if err == nil || errors.Is(err, mllp.ErrServerClosed) || !strings.Contains(err.Error(), "listener broke") {
		t.Fatalf("Serve returned %v, want the accept error", err)
	}
}

func TestServerTLS(t *testing.T) {
	ca := mllptest.NewCA(t)
	tlsState := make(chan *tls.ConnectionState, 1)
	s := &mllp.Server{TLSConfig: ca.ServerTLS(t), Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
		tlsState <- conn.TLS
		return acker(ctx, conn, msg)
	})}
	addr := serve(t, s)
	ctx := context.Background()
	c, err := mllp.Dial(ctx, addr, mllp.ClientOptions{TLSConfig: ca.ClientTLS(t, false), AckTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, hl7Msg("TLS1")); err != nil {
		t.Fatal(err)
	}
	if st := <-tlsState; st == nil || !st.HandshakeComplete {
		t.Errorf("ConnInfo.TLS = %+v, want a completed handshake", st)
	}

	// A plain-TCP peer is rejected, not served.
	raw := dialRaw(t, addr)
	raw.send(t, hl7Msg("PLAIN"))
	raw.expectClosed(t, testTimeout)
}

func TestServerMutualTLS(t *testing.T) {
	ca := mllptest.NewCA(t)
	obs := newRecorder()
	cfg := ca.ServerTLS(t)
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	peer := make(chan string, 1)
	s := &mllp.Server{TLSConfig: cfg, Observer: obs, Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
		peer <- conn.TLS.PeerCertificates[0].Subject.CommonName
		return acker(ctx, conn, msg)
	})}
	addr := serve(t, s)
	ctx := context.Background()

	c, err := mllp.Dial(ctx, addr, mllp.ClientOptions{TLSConfig: ca.ClientTLS(t, true), AckTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, hl7Msg("MTLS1")); err != nil {
		t.Fatal(err)
	}
	if cn := <-peer; cn != "carebridge test client" {
		t.Errorf("peer certificate CN = %q", cn)
	}

	// Without a certificate: TLS 1.3 lets the client finish its handshake
	// before the server refuses, so the failure may show at Dial or Send.
	anon, err := mllp.Dial(ctx, addr, mllp.ClientOptions{TLSConfig: ca.ClientTLS(t, false), AckTimeout: testTimeout})
	if err == nil {
		defer anon.Close()
		_, err = anon.Send(ctx, hl7Msg("ANON"))
	}
	if err == nil {
		t.Fatal("client without a certificate was served")
	}
	obs.waitFor(t, "rejected:tls_handshake", 1)
	if n := obs.count("opened"); n != 1 {
		t.Errorf("%d connections opened, want 1", n)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	defer s.Close()
	ctx := context.Background()
	c, err := mllp.Dial(ctx, ln.Addr().String(), mllp.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := hl7Msg("BENCH0001")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServerLogsNoContent(t *testing.T) {
	var logs lockedBuffer
	obs := newRecorder()
	s := &mllp.Server{
		Handler:      mllp.HandlerFunc(acker),
		MaxFrameSize: 300,
		Logger:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:     obs,
	}
	addr := serve(t, s)
	c := dialRaw(t, addr)
	c.write(t, "garbage about DOE^JANE\r")
	c.send(t, hl7Msg("M1"))
	c.readAck(t, "M1", "AA")
	c.send(t, append(hl7Msg("M2"), strings.Repeat("NTE|1||DOE^JANE\r", 30)...))
	c.write(t, "\x0bMSH|^~\\&|A|B|C|D|E||ADT|M3|P|2\rPID|1||9^^^X||DOE^JANE")
	c.Conn.(*net.TCPConn).CloseWrite()
	c.expectClosed(t, testTimeout)
	obs.waitFor(t, "closed", 1)
	out := logs.String()
	for _, want := range []string{"outside frames", "too large", "inside a frame"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DOE") || strings.Contains(out, "JANE") {
		t.Errorf("logs contain message content:\n%s", out)
	}
}

// A client that speaks TLS to a listener without TLS is told off in the
// log and closed, instead of its handshake being read as junk messages
// (answered and journaled as rejected, again on every retry).
func TestServerClosesATLSHandshakeOnAPlainListener(t *testing.T) {
	rec := newRecorder()
	handled := make(chan []byte, 1)
	s := &mllp.Server{Name: "plain", Observer: rec, Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
		handled <- msg
		return ackFor(msg, "AA")
	})}
	addr := serve(t, s)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The start of a ClientHello, with the bytes of an MLLP frame in it.
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x0b, 'M', 'S', 'H', 0x1c, 0x0d}
	if _, err := conn.Write(hello); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "framing:"+mllp.FramingTLSOnPlain, 1)
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := conn.Read(make([]byte, 16)); err == nil {
		t.Fatalf("the server answered %d bytes, want the connection closed", n)
	}
	select {
	case msg := <-handled:
		t.Fatalf("the handshake reached the handler as %q", msg)
	default:
	}
	// A plain MLLP client is served as before.
	c, err := mllp.Dial(context.Background(), addr, mllp.ClientOptions{AckTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ack, err := c.Send(context.Background(), hl7Msg("AFTER")); err != nil || ackControlIDOf(ack) != "AFTER" {
		t.Fatalf("plain client after: %q, %v", ack, err)
	}
}

// TestServerHintsAtAClientCertificateFromAnotherCA: a sender presenting a
// client certificate this listener's CA did not issue fails the handshake,
// and the log line says why in words an operator can act on (it had no
// hint: Go's error for it reads "failed to verify certificate").
func TestServerHintsAtAClientCertificateFromAnotherCA(t *testing.T) {
	ca, other := mllptest.NewCA(t), mllptest.NewCA(t)
	cfg := ca.ServerTLS(t)
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	obs := newRecorder()
	var logs lockedBuffer
	s := &mllp.Server{TLSConfig: cfg, Observer: obs, Handler: mllp.HandlerFunc(acker),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	addr := serve(t, s)
	foreign := other.ClientTLS(t, true)
	cert := foreign.Certificates[0]
	client := ca.ClientTLS(t, false)
	// Offered whatever CAs the server names, as a misconfigured sender does.
	client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	c, err := mllp.Dial(context.Background(), addr, mllp.ClientOptions{TLSConfig: client, AckTimeout: testTimeout})
	if err == nil {
		defer c.Close()
		_, err = c.Send(context.Background(), hl7Msg("FOREIGN"))
	}
	if err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	obs.waitFor(t, "rejected:tls_handshake", 1)
	if log := logs.String(); !strings.Contains(log, "mllp tls handshake failed") || !strings.Contains(log, "does not verify against this listener's client_ca_file") {
		t.Fatalf("handshake failure logged without the hint:\n%s", log)
	}
}
