package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server defaults, used when the corresponding Server field is zero.
const (
	DefaultMaxConns     = 1024
	DefaultReadTimeout  = 30 * time.Second
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultWriteTimeout = 30 * time.Second
)

// Accept backoff bounds, as in net/http.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("mllp: server closed")

// Framing error kinds reported to Observer.FramingError.
const (
	FramingGarbage   = "garbage"   // bytes outside frames were skipped
	FramingOversized = "oversized" // a frame exceeded MaxFrameSize and was discarded
	FramingTruncated = "truncated" // the connection ended inside a frame
	FramingTimeout   = "timeout"   // a frame was not complete within ReadTimeout
	FramingStrayEnd  = "stray_end" // a frame held an end block byte inside its message and was refused
	// FramingTLSOnPlain: a TLS handshake arrived on a listener without TLS;
	// the connection was closed.
	FramingTLSOnPlain = "tls_on_plain"
)

// Connection rejection reasons reported to Observer.ConnRejected.
const (
	RejectMaxConns     = "max_conns"     // MaxConns connections were already open
	RejectTLSHandshake = "tls_handshake" // the TLS handshake failed (for example no client certificate under mTLS)
	RejectShutdown     = "shutdown"      // the server was shutting down
)

// Handler processes one received message.
//
// ServeMLLP is called sequentially for the messages of one connection (a
// sender waits for each acknowledgement before sending the next message) and
// concurrently across connections. msg is the frame payload; the handler owns
// it and may keep it. The returned reply is written back as one frame; a nil
// reply writes nothing. ctx is cancelled when the server shuts down hard (a
// Shutdown whose context expired, or Close) or the Serve context ends; the
// handler must not keep it. conn must not be modified.
type Handler interface {
	ServeMLLP(ctx context.Context, conn *ConnInfo, msg []byte) []byte
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, conn *ConnInfo, msg []byte) []byte

// ServeMLLP calls f(ctx, conn, msg).
func (f HandlerFunc) ServeMLLP(ctx context.Context, conn *ConnInfo, msg []byte) []byte {
	return f(ctx, conn, msg)
}

// ConnInfo describes the connection a message arrived on.
type ConnInfo struct {
	// Listener is the Server's Name.
	Listener string
	// RemoteAddr is the peer's address.
	RemoteAddr net.Addr
	// TLS is the negotiated TLS state, nil on plain TCP. Under mutual TLS
	// TLS.PeerCertificates identifies the sender.
	TLS *tls.ConnectionState
	// ID numbers the server's connections from 1, for log correlation.
	ID uint64
}

// Observer receives connection and framing events, typically to export them
// as metrics. Its methods are called concurrently from connection goroutines
// and must not block.
type Observer interface {
	// ConnOpened reports an accepted connection (after its TLS handshake).
	// Each ConnOpened is followed by exactly one ConnClosed.
	ConnOpened(listener string)
	// ConnClosed reports the end of a connection reported by ConnOpened.
	ConnClosed(listener string)
	// ConnRejected reports a connection closed before it was served; reason
	// is one of the Reject constants.
	ConnRejected(listener string, reason string)
	// FramingError reports a framing problem; kind is one of the Framing
	// constants.
	FramingError(listener string, kind string)
}

// Server accepts MLLP connections and passes each received message to its
// Handler. Its fields must not change once Serve has been called. The zero
// value with a Handler set is usable.
type Server struct {
	// Name names the listener in ConnInfo, logs and Observer events.
	Name string
	// Handler processes messages. It is required.
	Handler Handler
	// TLSConfig, if set, makes Serve speak TLS. Set ClientAuth to
	// tls.RequireAndVerifyClientCert (with ClientCAs) for mutual TLS.
	TLSConfig *tls.Config
	// MaxConns caps concurrent connections (default DefaultMaxConns).
	// Connections beyond it are closed at once and reported via
	// Observer.ConnRejected.
	MaxConns int
	// MaxFrameSize caps a message's size (default DefaultMaxFrameSize).
	MaxFrameSize int
	// ReadTimeout is the longest time to receive a whole frame once its
	// start block has arrived, and to complete a TLS handshake; it cuts off
	// senders that trickle bytes (default DefaultReadTimeout).
	ReadTimeout time.Duration
	// IdleTimeout is the longest wait for the next frame to begin
	// (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// WriteTimeout is the longest time to write one reply
	// (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// OnOversize, if set, is called when a frame exceeds MaxFrameSize,
	// instead of the Handler, with the first bytes of the frame (at most
	// OversizeHeadSize). A non-nil result is written back as a frame,
	// typically an AR NAK built from the MSH segment in head. The frame is
	// discarded either way and the connection stays open.
	OnOversize func(conn *ConnInfo, head []byte) []byte
	// OnStrayEndBlock, if set, is called instead of the Handler for a frame
	// whose message holds an end block byte (see StrayEndBlockError), with
	// the error (its Head holds the frame's first bytes). A non-nil result
	// is written back as a frame, typically an AR NAK. The frame is
	// discarded either way and the connection stays open.
	OnStrayEndBlock func(conn *ConnInfo, err *StrayEndBlockError) []byte
	// Logger receives connection-level logs; nil discards them. Message
	// content is never logged.
	Logger *slog.Logger
	// Observer, if set, receives connection and framing events.
	Observer Observer

	mu         sync.Mutex
	inShutdown atomic.Bool
	done       chan struct{} // closed by Shutdown and Close
	listeners  map[*net.Listener]struct{}
	conns      map[*serverConn]struct{}
	connWG     sync.WaitGroup
	nextID     atomic.Uint64
}

// connState says whether a connection may be closed by a graceful shutdown.
type connState int

const (
	stateIdle   connState = iota // waiting for a frame to begin
	stateActive                  // reading a frame, handling it or replying
)

// serverConn is one accepted connection.
type serverConn struct {
	nc     net.Conn
	cancel context.CancelFunc
	state  connState // guarded by Server.mu
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if s.inShutdown.Load() {
		return ErrServerClosed
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mllp: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln, wrapping them in TLS if TLSConfig is set,
// and serves each in its own goroutine. Temporary accept errors are retried
// with a backoff from 5ms doubling up to 1s.
//
// Serve always closes ln. It returns ErrServerClosed after Shutdown or Close.
// When ctx ends, Serve closes ln and the connections it accepted (cancelling
// their handlers' contexts) and returns ctx.Err(). Handler contexts derive
// from ctx, so they carry its values.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		ln.Close()
		return errors.New("mllp: serve: server has no handler")
	}
	if s.TLSConfig != nil {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	if !s.trackListener(&ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	log := s.logger()
	log.Info("mllp server listening", "listener", s.Name, "addr", ln.Addr().String(), "tls", s.TLSConfig != nil)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var temp interface{ Temporary() bool }
			if errors.As(err, &temp) && temp.Temporary() {
				backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
				log.Warn("mllp accept error; retrying", "listener", s.Name, "err", err, "backoff", backoff)
				s.sleep(ctx, backoff) // if interrupted, Accept fails next and says why
				continue
			}
			return fmt.Errorf("mllp: accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		c, cctx := s.newConn(ctx, nc)
		if c == nil {
			continue
		}
		go s.serveConn(cctx, c)
	}
}

// sleep waits for d, or until ctx ends or the server shuts down.
func (s *Server) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.doneChan():
	}
}

// Shutdown stops the server gracefully: it closes the listeners and the idle
// connections, lets messages being received or handled finish and their
// replies be written, then closes those connections too. It returns when all
// connections are closed, or when ctx ends; then it closes the remaining
// connections at once, cancelling their handlers' contexts, and returns
// ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	err := s.closeLocked()
	for c := range s.conns {
		if c.state == stateIdle {
			c.nc.Close()
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.cancel()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and all
// connections, cancelling the handlers' contexts. Replies of handlers still
// running are not delivered. Use Shutdown to stop gracefully.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.closeLocked()
	for c := range s.conns {
		c.cancel()
	}
	return err
}

// closeLocked marks the server as shutting down and closes its listeners.
func (s *Server) closeLocked() error {
	if !s.inShutdown.Swap(true) {
		if s.done == nil {
			s.done = make(chan struct{})
		}
		close(s.done)
	}
	var errs []error
	for ln := range s.listeners {
		if err := (*ln).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("mllp: close listener: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// trackListener adds or removes ln; adding fails once shutting down.
func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		return true
	}
	if s.inShutdown.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[*net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

// newConn registers an accepted connection and returns it with its context,
// or closes it and returns nil if the server is full or shutting down.
func (s *Server) newConn(ctx context.Context, nc net.Conn) (*serverConn, context.Context) {
	s.mu.Lock()
	reason := ""
	switch {
	case s.inShutdown.Load():
		reason = RejectShutdown
	case len(s.conns) >= s.maxConns():
		reason = RejectMaxConns
	}
	if reason != "" {
		s.mu.Unlock()
		nc.Close()
		s.logger().Warn("mllp connection rejected", "listener", s.Name, "remote", nc.RemoteAddr().String(), "reason", reason)
		s.observer().ConnRejected(s.Name, reason)
		return nil, nil
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &serverConn{nc: nc, cancel: cancel, state: stateIdle}
	if s.conns == nil {
		s.conns = make(map[*serverConn]struct{})
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	return c, cctx
}

// setState records a connection's state. Moving to idle fails, and the
// connection must end, once the server is shutting down.
func (s *Server) setState(c *serverConn, st connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.state = st
	return st != stateIdle || !s.inShutdown.Load()
}

// serveConn reads frames from one connection until it ends. ctx is the
// connection's context, cancelled by c.cancel.
func (s *Server) serveConn(ctx context.Context, c *serverConn) {
	info := &ConnInfo{Listener: s.Name, RemoteAddr: c.nc.RemoteAddr(), ID: s.nextID.Add(1)}
	log := s.logger().With("listener", s.Name, "conn", info.ID, "remote", info.RemoteAddr.String())
	obs := s.observer()
	stopClose := context.AfterFunc(ctx, func() { c.nc.Close() })
	opened := false
	defer func() {
		stopClose()
		c.cancel()
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		// Report the close once the slot is free, so that an observer
		// seeing ConnClosed can count on a new connection being accepted.
		if opened {
			obs.ConnClosed(s.Name)
		}
		s.connWG.Done()
	}()

	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(s.readTimeout()))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("mllp tls handshake failed", "err", err, "hint", handshakeHint(err))
			obs.ConnRejected(s.Name, RejectTLSHandshake)
			return
		}
		st := tc.ConnectionState()
		info.TLS = &st
	}
	obs.ConnOpened(s.Name)
	opened = true
	log.Debug("mllp connection opened")

	inFrame := false
	r := NewReader(c.nc, WithMaxFrameSize(s.MaxFrameSize), WithFrameStart(func() {
		inFrame = true
		s.setState(c, stateActive)
		_ = c.nc.SetReadDeadline(time.Now().Add(s.readTimeout()))
	}))
	var skipped int64
	var messages int
	// Waiting for the first bytes is idle time: a shutdown closes it. The
	// idle deadline set here also covers the first frame's wait below, so
	// that a connection that never sends is closed after one idle timeout,
	// not two.
	deadlineSet := false
	if s.TLSConfig == nil {
		_ = c.nc.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		deadlineSet = true
	}
	if s.TLSConfig == nil && s.setState(c, stateIdle) && startsTLS(r) {
		// A client speaking TLS to a plain listener: its handshake would be
		// read as framing garbage or junk messages (journaled rejected,
		// again on every retry). Say what is wrong instead.
		log.Warn("mllp TLS handshake on a listener without TLS; closing (configure tls on this listener, or have the sender connect without TLS)")
		obs.FramingError(s.Name, FramingTLSOnPlain)
		return
	}
	for {
		if !s.setState(c, stateIdle) {
			log.Debug("mllp connection closed for shutdown", "messages", messages)
			return
		}
		inFrame = false
		if !deadlineSet {
			_ = c.nc.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		}
		deadlineSet = false
		msg, err := r.ReadFrame()
		if n := r.Skipped(); n > skipped {
			log.Warn("mllp bytes outside frames skipped", "bytes", n-skipped)
			obs.FramingError(s.Name, FramingGarbage)
			skipped = n
		}
		var tooLarge *FrameTooLargeError
		var stray *StrayEndBlockError
		switch {
		case err == nil:
		case errors.As(err, &stray):
			log.Warn("mllp frame refused: end block byte inside the message", "offset", stray.Offset)
			obs.FramingError(s.Name, FramingStrayEnd)
			if s.OnStrayEndBlock != nil {
				if !s.reply(c, log, s.OnStrayEndBlock(info, stray)) {
					return
				}
			}
			continue
		case errors.As(err, &tooLarge):
			log.Warn("mllp frame too large", "bytes", tooLarge.Size, "limit", tooLarge.Limit)
			obs.FramingError(s.Name, FramingOversized)
			if s.OnOversize != nil {
				if !s.reply(c, log, s.OnOversize(info, tooLarge.Head)) {
					return
				}
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded) && inFrame:
			log.Warn("mllp frame not received within read timeout; closing", "timeout", s.readTimeout())
			obs.FramingError(s.Name, FramingTimeout)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			log.Debug("mllp connection idle; closing", "timeout", s.idleTimeout(), "messages", messages)
			return
		case errors.Is(err, io.ErrUnexpectedEOF):
			log.Warn("mllp connection ended inside a frame")
			obs.FramingError(s.Name, FramingTruncated)
			return
		default:
			if s.inShutdown.Load() || ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				log.Debug("mllp connection closed", "messages", messages)
			} else {
				log.Info("mllp connection read failed", "err", err, "messages", messages)
			}
			return
		}
		messages++
		reply, ok := s.handle(ctx, info, msg, log)
		if !ok || !s.reply(c, log, reply) {
			return
		}
	}
}

// handle calls the Handler, turning a panic into a closed connection.
func (s *Server) handle(ctx context.Context, info *ConnInfo, msg []byte, log *slog.Logger) (reply []byte, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("mllp handler panicked; closing connection", "panic", p, "bytes", len(msg))
			ok = false
		}
	}()
	return s.Handler.ServeMLLP(ctx, info, msg), true
}

// reply writes a non-nil reply within WriteTimeout; it reports whether the
// connection is still usable.
func (s *Server) reply(c *serverConn, log *slog.Logger, reply []byte) bool {
	if reply == nil {
		return true
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
	if err := WriteFrame(c.nc, reply); err != nil {
		log.Warn("mllp reply not written; closing", "err", err, "bytes", len(reply))
		return false
	}
	return true
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) observer() Observer {
	if s.Observer != nil {
		return s.Observer
	}
	return nopObserver{}
}

func (s *Server) maxConns() int { return orDefault(s.MaxConns, DefaultMaxConns) }

func (s *Server) readTimeout() time.Duration { return orDefault(s.ReadTimeout, DefaultReadTimeout) }

func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }

func (s *Server) writeTimeout() time.Duration {
	return orDefault(s.WriteTimeout, DefaultWriteTimeout)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// nopObserver stands in for a nil Observer.
type nopObserver struct{}

func (nopObserver) ConnOpened(string)           {}
func (nopObserver) ConnClosed(string)           {}
func (nopObserver) ConnRejected(string, string) {}
func (nopObserver) FramingError(string, string) {}

// startsTLS reports whether the connection's first bytes are a TLS
// handshake record (content type 22, version 3.x), which no MLLP sender
// starts with: it waits up to timeout for them (a client speaks first).
func startsTLS(r *Reader) bool {
	b, err := r.br.Peek(2)
	return err == nil && b[0] == 0x16 && b[1] == 0x03
}

// handshakeHint says what the usual causes of a failed TLS handshake mean
// for the operator: errors that read alike need other fixes.
func handshakeHint(err error) string {
	var rh tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &rh):
		return "the client speaks plain MLLP to this TLS listener: configure TLS on the sender (or send to a plain listener)"
	case strings.Contains(msg, "client didn't provide a certificate"):
		return "no client certificate: the sender has none configured, or only one not issued by this listener's client CA (a client only offers certificates from the CAs the server names)"
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "certificate has expired"):
		return "the client refused this listener's certificate: check it is valid now and issued by a CA the sender trusts, for the name the sender dials"
	case strings.Contains(msg, "failed to verify certificate"):
		// The local error of a client certificate this listener refused.
		return "the sender's client certificate does not verify against this listener's client_ca_file (another CA, expired, or not for client authentication): have the sender use one issued by that CA, or add its CA to client_ca_file"
	case strings.Contains(msg, "protocol version"), strings.Contains(msg, "unsupported versions"):
		return "no TLS version both sides accept: check min_version on both sides"
	}
	return ""
}
