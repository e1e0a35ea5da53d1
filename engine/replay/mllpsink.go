package replay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
)

// MLLPSink delivers messages to an MLLP receiver over a fixed number of
// connections, one message at a time on each, and judges the
// acknowledgements: AA/CA is Accepted, AR/CR Rejected, anything else
// Failed. A receiver that cannot be reached or does not answer in time is
// reported as Unavailable, for Run to wait for it.
type MLLPSink struct {
	addr       string
	ackTimeout time.Duration
	clients    chan *mllp.Client
}

var _ Sink = (*MLLPSink)(nil)

// NewMLLPSink returns a sink for the receiver at addr (host:port) with
// conns connections (at least one). It connects on the first delivery, not
// before, so that a receiver down at the start is waited for like one that
// goes down later. opts.Reconnect is turned on and the client's own redial
// backoff off: Run paces the attempts.
func NewMLLPSink(addr string, opts mllp.ClientOptions, conns int) *MLLPSink {
	opts.Reconnect = true
	opts.MinBackoff, opts.MaxBackoff = time.Nanosecond, time.Nanosecond
	s := &MLLPSink{addr: addr, ackTimeout: opts.AckTimeout, clients: make(chan *mllp.Client, max(conns, 1))}
	if s.ackTimeout <= 0 {
		s.ackTimeout = mllp.DefaultAckTimeout
	}
	for range cap(s.clients) {
		s.clients <- mllp.NewClient(addr, opts)
	}
	return s
}

// Deliver sends m on a free connection and waits for its acknowledgement.
func (s *MLLPSink) Deliver(ctx context.Context, m archive.Message) (Result, error) {
	var c *mllp.Client
	select {
	case c = <-s.clients:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { s.clients <- c }()
	ack, err := c.Send(ctx, m.Raw)
	switch {
	case err == nil:
	case ctx.Err() != nil, errors.Is(err, mllp.ErrNoControlID), errors.Is(err, mllp.ErrInvalidPayload), errors.Is(err, mllp.ErrClientClosed):
		return Result{}, err
	default:
		return Result{}, Unavailable(s.transportReason(err), err)
	}
	a, err := hl7.ParseAck(ack)
	if err != nil {
		return Result{Outcome: Failed, Detail: "unreadable acknowledgement"}, nil
	}
	res := Result{AckCode: a.Get("MSA-1"), Detail: hl7.AckText(a)}
	if (res.AckCode == "AE" || res.AckCode == "CE") && a.Get("ERR-3.1") == hl7.CodeApplicationRecordLocked {
		// HL7 206, application record locked: the receiver asks for the
		// message again later (a resend whose original it is still
		// processing). Waited for as an outage, not failed.
		return Result{}, Unavailable("busy: "+res.Detail, errors.New(res.Detail))
	}
	switch res.AckCode {
	case "AA", "CA":
		res.Outcome = Accepted
	case "AR", "CR":
		res.Outcome = Rejected
	default:
		res.Outcome = Failed
	}
	return res, nil
}

// Close closes the connections. Deliveries under way fail.
func (s *MLLPSink) Close() error {
	var errs []error
	for range cap(s.clients) {
		select {
		case c := <-s.clients:
			errs = append(errs, c.Close())
		default:
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// transportReason says in a few words why the receiver could not be
// reached or did not answer.
func (s *MLLPSink) transportReason(err error) string {
	var (
		errno   syscall.Errno
		verify  *tls.CertificateVerificationError
		alert   tls.AlertError
		header  tls.RecordHeaderError
		dnsErr  *net.DNSError
		netErr  net.Error
		timeout = errors.Is(err, mllp.ErrAckTimeout)
	)
	switch {
	case timeout:
		return fmt.Sprintf("no acknowledgement within %v", s.ackTimeout)
	case errors.As(err, &verify):
		return "TLS handshake: " + verify.Err.Error()
	case errors.As(err, &alert):
		return "TLS handshake: " + alert.Error()
	case errors.As(err, &header):
		return "TLS handshake: not a TLS server"
	case errors.As(err, &dnsErr):
		return dnsErr.Error()
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	}
	return err.Error()
}

// AckText is hl7.AckText of an acknowledgement as received; empty if it
// cannot be read.
func AckText(ack []byte) string {
	a, err := hl7.ParseAck(ack)
	if err != nil {
		return ""
	}
	return hl7.AckText(a)
}
