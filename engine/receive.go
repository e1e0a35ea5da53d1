package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// receive handles one message from an MLLP listener: it journals the message
// and returns the acknowledgement to send (nil to send none, as MSH-15 may
// ask). The ACK is produced only once the journal commit returned.
func (e *Engine) receive(ctx context.Context, l *listener, c *mllp.ConnInfo, raw []byte) []byte {
	start := time.Now()
	peer := ""
	if c != nil && c.RemoteAddr != nil {
		peer = c.RemoteAddr.String()
	}
	r := e.Receive(ctx, Inbound{Listener: l.cfg.Name, Peer: peer, Raw: raw, Charset: l.cfg.Charset, AckPolicy: l.cfg.AckPolicy, Unmapped: l.cfg.Unmapped})
	if r.IsAck {
		// HL7 v2.5.1 2.9: an acknowledgment is not acknowledged. Answering
		// one risks an endless exchange with a peer that answers ACKs too.
		r.Ack = nil
	}
	e.metrics.ackLatency.WithLabelValues(l.cfg.Name).Observe(time.Since(start).Seconds())
	if r.Ack != nil {
		e.metrics.acks.WithLabelValues(l.cfg.Name, r.Code).Inc()
	}
	return r.Ack
}

// Receipt says what Receive did with a message.
type Receipt struct {
	// Ack is the acknowledgement to send back; nil when the sender asked for
	// none (MSH-15 NE, or ER/SU not met).
	Ack []byte
	// Code is the acknowledgement code (MSA-1), even when Ack is nil.
	Code string
	// ID is the journal entry's ID (0 if the message could not be stored).
	ID int64
	// Duplicate is true when the message repeats one already journaled.
	Duplicate bool
	// Rejected is true when the message was refused as unparseable or invalid.
	Rejected bool
	// Stored is false when the journal could not store the message (the
	// sender is asked to resend).
	Stored bool
	// IsAck is true when the message is itself an acknowledgment (MSH-9.1
	// ACK): journaled like any message, but an MLLP listener does not
	// answer it (Ack is still built, for the journal and replay).
	IsAck bool
}

// Inbound is one message arriving at the engine, from any front door.
type Inbound struct {
	Listener  string
	Peer      string
	Raw       []byte // kept by the engine: not to be modified once passed in
	Charset   string // assumed when MSH-18 is empty
	AckPolicy string // config.AckOnCommit (default) or config.AckOnProcess
	// Unmapped is config.UnmappedReject to answer a message no map handles
	// AR at once (journaled rejected) instead of accepting it.
	Unmapped string
}

// Screener is implemented by a Processor that can tell on arrival whether
// it handles a message at all (the Mapper: is there a map for its type and
// trigger event). Handles returns nil if it does, else why not.
type Screener interface {
	Handles(msg *hl7.Message) error
}

// Receive journals one inbound message and returns the acknowledgement to
// send back with its code (MSA-1); the acknowledgement is nil when the sender
// asked for none (MSH-15 NE, or ER/SU not met). Bad input is answered with an
// AR/CR carrying ERR segments and journaled as rejected together with that
// NAK; a message that cannot be journaled is answered AE/CE so that the
// sender sends it again.
func (e *Engine) Receive(ctx context.Context, in Inbound) (r Receipt) {
	e.slots.received()
	msg, err := hl7.ParseWithOptions(in.Raw, hl7.ParseOptions{FallbackCharset: in.Charset})
	if err != nil {
		return e.reject(ctx, in, nil, []hl7.ErrorDetail{errorDetail(err)}, err.Error())
	}
	isAck := strings.EqualFold(strings.TrimSpace(msg.MessageCode()), "ACK")
	if isAck {
		defer func() { r.IsAck = true }()
	}
	e.metrics.received.WithLabelValues(in.Listener, metricType(msg.Type())).Inc()
	if problems := hl7.Validate(msg); len(problems) > 0 {
		return e.reject(ctx, in, msg, problems, problems[0].Text)
	}
	// An acknowledgement is journaled, never answered: not screened.
	if in.Unmapped == config.UnmappedReject && !isAck {
		if s, ok := e.processor.(Screener); ok {
			if err := s.Handles(msg); err != nil {
				return e.screenOut(ctx, in, msg, err)
			}
		}
	}

	entry := headerEntry(in, msg)
	onProcess := in.AckPolicy == config.AckOnProcess
	code := hl7.AckCodeFor(msg, hl7.Accepted)
	ack := hl7.Ack(msg, code, "")
	// While older messages wait in the journal (a restart, an overflow),
	// new ones queue behind them there, so that no patient's later message
	// overtakes an earlier one.
	hot := !onProcess && !e.backlog.Load() && e.reserveHot()
	if !onProcess && !hot {
		e.markBacklog()
	}
	if onProcess || hot {
		// Claimed by this node on arrival, so that no other worker or
		// process takes it: the handler processes it (on-process) or hands
		// it to a worker in memory (hot). A crash before completion leaves
		// it claimed; the next start (or the claim timeout) releases it.
		entry.Status = fhirstore.StatusProcessing
		entry.ClaimedBy = e.cfg.NodeID
	} else {
		entry.Status = fhirstore.StatusReceived
	}
	if !onProcess {
		entry.Ack = ack
	}
	res, err := e.journal.Append(ctx, entry)
	if err != nil {
		if hot {
			e.releaseHot(1)
		}
		e.log.Error("journal append failed; asking the sender to resend", "listener", in.Listener, "control_id", entry.ControlID, "err", err)
		nakCode := hl7.AckCodeFor(msg, hl7.Error)
		nak := hl7.Ack(msg, nakCode, "message could not be stored; resend it",
			hl7.ErrorDetail{Code: hl7.CodeApplicationInternalError, Severity: hl7.SeverityError, Text: "message could not be stored; resend it"})
		return ackIfWanted(msg, nak, nakCode, false, Receipt{})
	}
	if res.Duplicate {
		if hot {
			e.releaseHot(1)
		}
		return e.duplicate(in, msg, entry, res, ack, code)
	}
	switch {
	case hot:
		e.queueFor(routeKey(msg)) <- entry // never blocks: a slot was reserved
		return ackIfWanted(msg, ack, code, true, Receipt{ID: res.ID, Stored: true})
	case !onProcess:
		e.nudge()
		return ackIfWanted(msg, ack, code, true, Receipt{ID: res.ID, Stored: true})
	}
	out := e.process(ctx, entry)
	if e.recorder != nil && out.Record != nil && out.Status == fhirstore.StatusProcessed {
		// The record and the journal status (with the ACK) commit together.
		c := out.completion(entry, ack)
		err := e.applyRecord(context.WithoutCancel(ctx), entry, out.Record, &c, false)
		if err == nil || errors.Is(err, fhirstore.ErrNotClaimed) {
			e.metrics.processed.WithLabelValues(string(c.Status)).Inc()
			return ackIfWanted(msg, ack, code, true, Receipt{ID: res.ID, Stored: true})
		}
		e.log.Warn("message not applied to the record", "id", entry.ID, "type", entry.MessageType, "err", logSafe(err))
		out.applyFailed(err)
	}
	success := out.Status != fhirstore.StatusFailed
	if !success {
		code, ack = failureAck(msg, out)
	}
	if err := e.complete(context.WithoutCancel(ctx), []fhirstore.Completion{out.completion(entry, ack)}); err != nil {
		// The message is journaled but its outcome is not: it stays claimed
		// and is processed again on the next start. Tell the sender we have it.
		e.log.Error("journal completion failed", "id", entry.ID, "err", err)
	}
	return ackIfWanted(msg, ack, code, success, Receipt{ID: res.ID, Stored: true})
}

// duplicate answers a message the journal stored as a duplicate of res.Original
// (entry: as it was appended); ack and code are the acknowledgement it gets
// when its original is not yet answered under on-commit.
func (e *Engine) duplicate(in Inbound, msg *hl7.Message, entry *fhirstore.Entry, res fhirstore.AppendResult, ack []byte, code hl7.AckCode) Receipt {
	e.metrics.duplicates.WithLabelValues(in.Listener).Inc()
	r := Receipt{ID: res.ID, Duplicate: true, Stored: true}
	if res.Differs {
		// Not a resend: most likely a sender that reused a control ID.
		// A person decides (messages reprocess ID); the log says so
		// without the message's content. The sender is told (AR:
		// sent again under this control ID it gets the same answer),
		// not answered with the original's AA for data not applied.
		e.metrics.duplicatesDiffering.WithLabelValues(in.Listener).Inc()
		e.log.Warn("a different message under an already used control ID: rejected as a duplicate, kept, not processed",
			"listener", in.Listener, "control_id", entry.ControlID, "id", res.ID, "original", res.Original)
		text := fmt.Sprintf("control ID already used for a different message (entry %d): this one is kept as entry %d but not processed; send it with a new control ID", res.Original, res.ID)
		nakCode := hl7.AckCodeFor(msg, hl7.Rejected)
		nak := hl7.Ack(msg, nakCode, text,
			hl7.ErrorDetail{Location: "MSH^1^10", Code: hl7.CodeDuplicateKeyIdentifier, Severity: hl7.SeverityError, Text: text})
		return ackIfWanted(msg, nak, nakCode, false, r)
	}
	if res.OriginalAck != nil {
		return ackIfWanted(msg, res.OriginalAck, hl7.AckCode(ackCode(res.OriginalAck)), true, r)
	}
	if in.AckPolicy == config.AckOnProcess {
		// The original is still being processed (its ACK comes after):
		// do not promise success before it is known.
		busy := hl7.AckCodeFor(msg, hl7.Error)
		nak := hl7.Ack(msg, busy, "the original of this message is still being processed; resend it later",
			hl7.ErrorDetail{Code: hl7.CodeApplicationRecordLocked, Severity: hl7.SeverityError, Text: "the original of this message is still being processed; resend it later"})
		return ackIfWanted(msg, nak, busy, false, r)
	}
	return ackIfWanted(msg, ack, code, true, r)
}

// screenOut answers a message the processor does not handle (why) on a
// listener that rejects such messages: AR with ERR-3 200/201, journaled
// rejected. A resend of a message accepted earlier, before a mapping edit
// dropped its trigger event, is no new message to refuse: the journal
// stores it as the original's duplicate (Entry.CheckResend) and it is
// answered as every resend is, with the original's ACK. Asking only after
// the screen failed keeps the look-up off the path of mapped messages,
// which find their duplicates in the append as before.
func (e *Engine) screenOut(ctx context.Context, in Inbound, msg *hl7.Message, why error) Receipt {
	detail, _ := unsupported(why)
	r, res, entry := e.refuse(ctx, in, msg, []hl7.ErrorDetail{detail}, why.Error(), true)
	if res.Duplicate {
		code := hl7.AckCodeFor(msg, hl7.Accepted)
		return e.duplicate(in, msg, entry, res, hl7.Ack(msg, code, ""), code)
	}
	// Counted as unmapped whether it fails in processing (accept) or is
	// refused here: the alert on a sender sending what no map handles
	// sees both.
	e.metrics.unmapped.Inc()
	return r
}

// failureAck is the acknowledgement of a message whose processing failed
// under the on-process policy: AR for a message no map handles (see
// unsupported), AR with 100 (segment sequence error) at PID for an ADT or
// DFT message that names no patient, which no resend of it can fix; AE with
// 207 (application internal error) for anything else.
func failureAck(msg *hl7.Message, out Outcome) (hl7.AckCode, []byte) {
	detail, rejected := unsupported(out.Err)
	if !rejected && errors.Is(out.Err, record.ErrNoPatient) {
		detail.Code, detail.Location, rejected = hl7.CodeSegmentSequence, "PID^1", true
	}
	outcome := hl7.Error
	if rejected {
		outcome = hl7.Rejected
	}
	code := hl7.AckCodeFor(msg, outcome)
	return code, hl7.Ack(msg, code, "processing failed", detail)
}

// unsupported is the ERR segment for err: ERR-3 200 (unsupported message
// type) at MSH-9.1 or 201 (unsupported event code) at MSH-9.2 when err says
// no map handles the message, as HL7 answers what an application does not
// support (ok true: an AR); else 207 (application internal error).
func unsupported(err error) (detail hl7.ErrorDetail, ok bool) {
	detail = hl7.ErrorDetail{Code: hl7.CodeApplicationInternalError, Severity: hl7.SeverityError}
	if err != nil {
		detail.Text = err.Error()
	}
	switch {
	case errors.Is(err, mappings.ErrNoEventMap):
		detail.Code, detail.Location = hl7.CodeUnsupportedEventCode, "MSH^1^9^1^2"
	case errors.Is(err, mappings.ErrNoMap):
		detail.Code, detail.Location = hl7.CodeUnsupportedMessageType, "MSH^1^9^1^1"
	default:
		return detail, false
	}
	return detail, true
}

// reject journals input that cannot be accepted and returns its NAK.
func (e *Engine) reject(ctx context.Context, in Inbound, msg *hl7.Message, problems []hl7.ErrorDetail, reason string) Receipt {
	r, _, _ := e.refuse(ctx, in, msg, problems, reason, false)
	return r
}

// refuse journals input that is not accepted and returns its NAK, the
// append's result and the entry appended. With checkResend (msg is then
// set) the journal stores a resend of an original as its duplicate instead
// (res.Duplicate): it is then neither counted nor logged as rejected, and
// the caller answers it.
func (e *Engine) refuse(ctx context.Context, in Inbound, msg *hl7.Message, problems []hl7.ErrorDetail, reason string, checkResend bool) (Receipt, fhirstore.AppendResult, *fhirstore.Entry) {
	var nak []byte
	var entry *fhirstore.Entry
	code := hl7.ApplicationReject
	if msg != nil {
		code = hl7.AckCodeFor(msg, hl7.Rejected)
		nak = hl7.Ack(msg, code, reason, problems...)
		entry = headerEntry(in, msg)
	} else {
		// Named in the listener's character set when the message names
		// none it can be read in; CR when it asks for enhanced mode.
		nak = hl7.Acker{Charset: in.Charset}.AckFromRaw(in.Raw, hl7.ApplicationReject, problems...)
		code = hl7.AckCode(ackCode(nak))
		// What can be read of its MSH says who sent what, for the operator.
		h := hl7.Salvage(in.Raw)
		entry = &fhirstore.Entry{Listener: in.Listener, Peer: in.Peer, Raw: in.Raw, SendingApp: h.SendingApplication,
			SendingFacility: h.SendingFacility, MessageType: h.MessageType, MessageTime: h.MessageTime, ControlID: h.ControlID}
		e.metrics.received.WithLabelValues(in.Listener, "unparseable").Inc()
	}
	entry.Status, entry.Error, entry.Ack, entry.CheckResend = fhirstore.StatusRejected, reason, nak, checkResend
	r := Receipt{Rejected: true}
	res, err := e.journal.Append(ctx, entry)
	if err == nil && res.Duplicate {
		return Receipt{}, res, entry
	}
	e.metrics.rejected.WithLabelValues(in.Listener).Inc()
	attrs := []any{"listener", in.Listener, "peer", in.Peer, "control_id", entry.ControlID, "bytes", len(in.Raw), "reason", reason}
	if e.cfg.Log.PatientData {
		attrs = append(attrs, "message", string(in.Raw))
	}
	e.log.Info("message rejected", attrs...)
	if err != nil {
		e.log.Error("journal append of rejected input failed", "listener", in.Listener, "err", err)
	} else {
		r.ID, r.Stored = res.ID, true
	}
	if msg != nil {
		return ackIfWanted(msg, nak, code, false, r), res, entry
	}
	r.Ack, r.Code = nak, string(code)
	return r, res, entry
}

// oversize answers a frame larger than the listener allows.
func (e *Engine) oversize(l *listener, c *mllp.ConnInfo, head []byte) []byte {
	return e.refuseFrame(l, head, hl7.CodeApplicationInternalError, "message exceeds the listener's maximum size of "+l.cfg.MaxMessageSize.String())
}

// refuseFrame answers a frame the listener refuses before reading it as a
// message (head: its first bytes, for the NAK's header) with AR.
func (e *Engine) refuseFrame(l *listener, head []byte, code, why string) []byte {
	e.metrics.rejected.WithLabelValues(l.cfg.Name).Inc()
	nak := hl7.Acker{Charset: l.cfg.Charset}.AckFromRaw(head, hl7.ApplicationReject, hl7.ErrorDetail{Code: code, Severity: hl7.SeverityError, Text: why})
	e.metrics.acks.WithLabelValues(l.cfg.Name, ackCode(nak)).Inc()
	return nak
}

// ackIfWanted completes r with ack, applying MSH-15 (accept acknowledgment type).
func ackIfWanted(msg *hl7.Message, ack []byte, code hl7.AckCode, success bool, r Receipt) Receipt {
	r.Code = string(code)
	if hl7.AcceptAckWanted(msg, success) {
		r.Ack = ack
	}
	return r
}

// headerEntry builds a journal entry from a parsed message's header.
func headerEntry(in Inbound, msg *hl7.Message) *fhirstore.Entry {
	return &fhirstore.Entry{
		Listener:        in.Listener,
		Peer:            in.Peer,
		SendingApp:      msg.SendingApplication(),
		SendingFacility: msg.SendingFacility(),
		MessageTime:     msg.Get("MSH-7"),
		MessageType:     msg.Type(),
		ControlID:       msg.ControlID(),
		Raw:             in.Raw,
	}
}

// errorDetail turns a parse error into an ERR segment's content.
func errorDetail(err error) hl7.ErrorDetail {
	var pe *hl7.ParseError
	if errors.As(err, &pe) {
		return pe.Detail()
	}
	return hl7.ErrorDetail{Code: hl7.CodeSegmentSequence, Severity: hl7.SeverityError, Text: err.Error()}
}

// ackCode extracts MSA-1 from an acknowledgement, for metrics.
func ackCode(ack []byte) string {
	m, err := hl7.Parse(ack)
	if err != nil {
		return "unknown"
	}
	return m.Get("MSA-1")
}

// metricType bounds the label values of the message type: a message code
// and trigger event as HL7 writes them ("ADT^A01"); anything else, which
// may be any text a sender put in MSH-9, is "other".
func metricType(t string) string {
	code, event, _ := strings.Cut(t, "^")
	if !hl7.ValidID(code) || (event != "" && !hl7.ValidID(event)) {
		return "other"
	}
	return t
}
