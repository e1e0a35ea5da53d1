package mllp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Client defaults, used when the corresponding ClientOptions field is zero.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultAckTimeout  = 30 * time.Second
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
)

var (
	// ErrAckTimeout is returned by Send when no matching acknowledgement
	// arrived within AckTimeout.
	ErrAckTimeout = errors.New("mllp: no acknowledgement within timeout")

	// ErrAckMismatch is returned, together with ErrAckTimeout, when
	// acknowledgements arrived during the wait but none carried the sent
	// message's control id in MSA-2.
	ErrAckMismatch = errors.New("mllp: acknowledgement for another message")

	// ErrNoControlID is returned by Send for a message without MSH-10, whose
	// acknowledgement could not be recognised.
	ErrNoControlID = errors.New("mllp: message has no MSH-10 control id")

	// ErrClientClosed is returned by Send after Close.
	ErrClientClosed = errors.New("mllp: client closed")

	// ErrNotConnected is returned by Send when the connection was lost and
	// ClientOptions.Reconnect is off.
	ErrNotConnected = errors.New("mllp: not connected")
)

// ClientOptions configures a Client. The zero value is usable.
type ClientOptions struct {
	// TLSConfig, if set, makes the client speak TLS. Set Certificates for
	// mutual TLS.
	TLSConfig *tls.Config
	// DialTimeout bounds connecting, TLS handshake included
	// (default DefaultDialTimeout).
	DialTimeout time.Duration
	// AckTimeout bounds writing a message and receiving its acknowledgement
	// (default DefaultAckTimeout).
	AckTimeout time.Duration
	// MaxFrameSize caps an acknowledgement's size (default
	// DefaultMaxFrameSize). Larger frames are discarded.
	MaxFrameSize int
	// Reconnect makes Send redial a lost connection, waiting an exponential
	// backoff with jitter between failed dials. When a reused connection
	// turns out to have been closed by the server before Send's write, Send
	// retries the message once on a new connection; the receiver may then see
	// it twice, as HL7 receivers must tolerate.
	Reconnect bool
	// MinBackoff and MaxBackoff bound the wait between redials (defaults
	// DefaultMinBackoff and DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
}

// Client sends HL7 v2 messages over one persistent MLLP connection and
// matches each acknowledgement to its message by MSA-2 = MSH-10. It is safe
// for concurrent use; sends are serialised, since MLLP carries one message
// at a time.
type Client struct {
	addr string
	opts ClientOptions
	sem  chan struct{} // held by a Send for its whole exchange

	mu     sync.Mutex // guards the fields below
	conn   net.Conn
	reader *Reader
	closed bool
	// dialled is set once a connection was made: without Reconnect, a
	// client from NewClient still makes its first connection.
	dialled bool

	// Dial failures since the last success and when the next dial may
	// happen; only touched by the Send holding sem.
	failures int
	nextDial time.Time
}

// Dial connects to the MLLP receiver at addr (host:port). ctx bounds the
// connection attempt only; it is not kept.
func Dial(ctx context.Context, addr string, opts ClientOptions) (*Client, error) {
	c := &Client{addr: addr, opts: opts, sem: make(chan struct{}, 1)}
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// NewClient returns a client for the MLLP receiver at addr (host:port)
// that connects on its first Send, not before: a receiver that is down at
// first is not an error until then. Without opts.Reconnect it connects only
// that once.
func NewClient(addr string, opts ClientOptions) *Client {
	return &Client{addr: addr, opts: opts, sem: make(chan struct{}, 1)}
}

// Send writes msg as one frame and returns the acknowledgement whose MSA-2
// equals msg's MSH-10. Acknowledgements for other messages (such as a late
// one for an earlier message that timed out) are discarded while waiting.
// The returned ack is the caller's; its acknowledgement code (AA, AE, AR...)
// is for the caller to judge.
//
// On a timeout, a cancelled ctx or a broken connection, Send closes the
// connection so that a late acknowledgement cannot be mistaken for the next
// message's; the next Send redials if Reconnect is set and otherwise fails
// with ErrNotConnected. Send waits at most AckTimeout, or less if ctx ends
// first; waiting for a concurrent Send or a redial backoff also ends with
// ctx.
func (c *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	id := controlID(msg)
	if len(id) == 0 {
		return nil, ErrNoControlID
	}
	if !validPayload(msg) {
		return nil, ErrInvalidPayload
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()

	for attempt := 0; ; attempt++ {
		conn, r, fresh, err := c.connection(ctx)
		if err != nil {
			return nil, err
		}
		ack, stale, err := c.exchange(ctx, conn, r, msg, id)
		if err == nil {
			return ack, nil
		}
		c.drop(conn)
		if stale && !fresh && attempt == 0 && c.opts.Reconnect && ctx.Err() == nil {
			continue
		}
		if c.isClosed() {
			return nil, ErrClientClosed
		}
		return nil, err
	}
}

// Close closes the connection. A Send in progress fails; later ones return
// ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.reader = nil, nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("mllp: close connection to %s: %w", c.addr, err)
	}
	return nil
}

// connection returns the current connection, dialling one if needed; fresh
// reports whether it was just dialled.
func (c *Client) connection(ctx context.Context) (conn net.Conn, r *Reader, fresh bool, err error) {
	c.mu.Lock()
	conn, r, closed := c.conn, c.reader, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, nil, false, ErrClientClosed
	case conn != nil:
		return conn, r, false, nil
	case !c.opts.Reconnect && c.dialled:
		return nil, nil, false, ErrNotConnected
	}
	if wait := time.Until(c.nextDial); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, false, ctx.Err()
		}
	}
	if err := c.dial(ctx); err != nil {
		c.failures++
		c.nextDial = time.Now().Add(c.backoff(c.failures))
		return nil, nil, false, err
	}
	c.failures = 0
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, false, ErrClientClosed
	}
	return c.conn, c.reader, true, nil
}

// backoff returns the wait after n consecutive failed dials: exponential
// from MinBackoff, capped at MaxBackoff, with the upper half jittered.
func (c *Client) backoff(n int) time.Duration {
	lo := orDefault(c.opts.MinBackoff, DefaultMinBackoff)
	hi := max(lo, orDefault(c.opts.MaxBackoff, DefaultMaxBackoff))
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// dial connects and installs the new connection.
func (c *Client) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.opts.DialTimeout, DefaultDialTimeout))
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if c.opts.TLSConfig != nil {
		d := tls.Dialer{Config: c.opts.TLSConfig}
		conn, err = d.DialContext(ctx, "tcp", c.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return fmt.Errorf("mllp: dial %s: %w", c.addr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return ErrClientClosed
	}
	c.conn, c.reader = conn, NewReader(conn, WithMaxFrameSize(c.opts.MaxFrameSize))
	c.dialled = true
	return nil
}

// drop closes conn if it is still the current connection.
func (c *Client) drop(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn.Close()
	if c.conn == conn {
		c.conn, c.reader = nil, nil
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// exchange writes msg on conn and reads frames until the acknowledgement of
// id. stale reports a connection the peer had already closed: the write
// failed or the read met a clean end of input.
func (c *Client) exchange(ctx context.Context, conn net.Conn, r *Reader, msg, id []byte) (ack []byte, stale bool, err error) {
	deadline := time.Now().Add(orDefault(c.opts.AckTimeout, DefaultAckTimeout))
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, true, fmt.Errorf("mllp: send to %s: %w", c.addr, err)
	}
	// A cancelled ctx interrupts blocked I/O. If this fires, the connection
	// is dropped: its deadline can no longer be trusted.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			c.drop(conn)
		}
	}()

	if err := WriteFrame(conn, msg); err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, isPeerClosed(err), fmt.Errorf("mllp: send to %s: %w", c.addr, err)
	}
	mismatched := 0
	for {
		frame, err := r.ReadFrame()
		switch {
		case err == nil:
			if bytes.Equal(ackControlID(frame), id) {
				return frame, false, nil
			}
			mismatched++
			continue
		case errors.Is(err, ErrFrameTooLarge):
			mismatched++
			continue
		case ctx.Err() != nil:
			return nil, false, ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			if mismatched > 0 {
				return nil, false, fmt.Errorf("%w from %s (%d discarded: %w)", ErrAckTimeout, c.addr, mismatched, ErrAckMismatch)
			}
			return nil, false, fmt.Errorf("%w from %s", ErrAckTimeout, c.addr)
		default:
			return nil, mismatched == 0 && isPeerClosed(err), fmt.Errorf("mllp: read acknowledgement from %s: %w", c.addr, err)
		}
	}
}

// isPeerClosed reports errors meaning the peer had closed the connection.
func isPeerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
