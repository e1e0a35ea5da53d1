package hl7

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding"
)

// AckCode is an acknowledgment code from HL7 table 0008 (MSA-1).
type AckCode string

// Acknowledgment codes: application level (original mode and enhanced
// application acknowledgments) and commit level (enhanced accept
// acknowledgments).
const (
	ApplicationAccept AckCode = "AA"
	ApplicationError  AckCode = "AE"
	ApplicationReject AckCode = "AR"
	CommitAccept      AckCode = "CA"
	CommitError       AckCode = "CE"
	CommitReject      AckCode = "CR"
)

// IsError reports whether the code reports an error or a rejection, which
// is when an acknowledgment carries ERR segments.
func (c AckCode) IsError() bool {
	switch c {
	case ApplicationError, ApplicationReject, CommitError, CommitReject:
		return true
	}
	return false
}

// Outcome is what became of a received message, for AckCodeFor.
type Outcome int

// Outcomes of processing a message.
const (
	Accepted Outcome = iota // processed or committed: AA, CA
	Error                   // failed, the sender may retry: AE, CE
	Rejected                // refused, do not resend as is: AR, CR
)

// IsEnhancedMode reports whether the message asks for enhanced
// acknowledgment mode, that is whether MSH-15 or MSH-16 is valued.
func (m *Message) IsEnhancedMode() bool {
	return m.header(15, 1) != "" || m.header(16, 1) != ""
}

// AckCodeFor returns the acknowledgment code for outcome: AA, AE or AR in
// original mode and CA, CE or CR (commit level) in enhanced mode.
func AckCodeFor(msg *Message, outcome Outcome) AckCode {
	enhanced := msg != nil && msg.IsEnhancedMode()
	switch outcome {
	case Accepted:
		if enhanced {
			return CommitAccept
		}
		return ApplicationAccept
	case Rejected:
		if enhanced {
			return CommitReject
		}
		return ApplicationReject
	}
	if enhanced {
		return CommitError
	}
	return ApplicationError
}

// AcceptAckWanted reports whether an accept (commit) acknowledgment should be
// sent, following MSH-15 (HL7 table 0155): AL always, NE never, ER only when
// success is false, SU only when it is true. An empty or unknown MSH-15 (and
// original mode) means yes.
func AcceptAckWanted(msg *Message, success bool) bool {
	if msg == nil {
		return true
	}
	return ackWanted(msg.header(15, 1), success)
}

// ApplicationAckWanted is AcceptAckWanted for MSH-16, the application
// acknowledgment type.
func ApplicationAckWanted(msg *Message, success bool) bool {
	if msg == nil {
		return true
	}
	return ackWanted(msg.header(16, 1), success)
}

func ackWanted(v string, success bool) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "NE":
		return false
	case "ER":
		return !success
	case "SU":
		return success
	}
	return true
}

// Acker builds acknowledgments. The zero Acker uses the current time and
// random control IDs; set its fields for reproducible output.
type Acker struct {
	// Now returns the time for MSH-7; nil means time.Now.
	Now func() time.Time
	// ControlID returns a new MSH-10; nil means 20 random hexadecimal digits.
	ControlID func() string
	// Charset is the character set AckFromRaw assumes for a message
	// without MSH-18 (its listener's), which the acknowledgment names in
	// its MSH-18 and is encoded in; "" means UTF-8, unnamed.
	Charset string
}

// Ack builds an acknowledgment of msg with the zero Acker; see Acker.Ack.
func Ack(msg *Message, code AckCode, text string, errs ...ErrorDetail) []byte {
	return Acker{}.Ack(msg, code, text, errs...)
}

// AckFromRaw builds an acknowledgment with the zero Acker for a message
// that may not parse; see Acker.AckFromRaw.
func AckFromRaw(raw []byte, code AckCode, errs ...ErrorDetail) []byte {
	return Acker{}.AckFromRaw(raw, code, errs...)
}

// ackHeader is what an acknowledgment copies from the message it answers,
// in the message's wire form.
type ackHeader struct {
	d                                  Delimiters
	cs                                 charset
	sendApp, sendFac, recvApp, recvFac string
	trigger, controlID, processingID   string
	version, charsetField              string
	msgType, time                      string // MSH-9 and MSH-7, salvaged only
	enhanced                           bool   // MSH-15 or MSH-16 valued, salvaged only
}

func headerOf(m *Message) ackHeader {
	h := ackHeader{d: m.d, cs: m.cs}
	msh := m.Segment("MSH", 1)
	if msh == nil {
		return h
	}
	h.sendApp, h.sendFac = msh.rawField(3), msh.rawField(4)
	h.recvApp, h.recvFac = msh.rawField(5), msh.rawField(6)
	h.trigger = EscapeText(m.TriggerEvent(), m.d)
	h.controlID = msh.rawField(10)
	h.processingID = msh.rawField(11)
	h.version = msh.rawField(12)
	// The character set actually used, which is also how the ACK is
	// encoded: MSH-18 as received, or the fallback.
	h.charsetField = m.charset
	return h
}

// Ack builds an acknowledgment of msg: MSH with the sender and receiver of
// msg swapped, MSH-7 now, MSH-9 ACK^<trigger>^ACK, a new MSH-10, MSH-11,
// MSH-12 and MSH-18 copied; MSA with code, the control ID of msg and text;
// and, when code reports an error, one ERR segment per errs (one generic
// ERR with code 207 when errs is empty). ERR holds ERR-2 location, ERR-3
// code^text^HL70357, ERR-4 severity and ERR-8 the error text, plus ERR-1 for
// versions before 2.5. The acknowledgment uses the delimiters and character
// set of msg and ends every segment with CR. A nil msg is answered with
// default delimiters.
func (a Acker) Ack(msg *Message, code AckCode, text string, errs ...ErrorDetail) []byte {
	h := ackHeader{d: DefaultDelimiters()}
	if msg != nil {
		h = headerOf(msg)
	}
	return a.build(h, code, text, errs)
}

// AckFromRaw builds an acknowledgment for raw, a message that may not
// parse. When raw parses it is Ack with the text of the first error;
// otherwise the delimiters and MSH-3 to MSH-6, MSH-9.2, MSH-10, MSH-11 and
// MSH-12 are salvaged from the first MSH line where possible, and MSH-18
// when it names a character set this package knows (else the Acker's
// Charset is named). When errs is empty, the parse error (or a 207
// application internal error) is reported. code is given as in original
// mode: for a message in enhanced mode (MSH-15 or MSH-16 valued, parsed or
// salvaged) the commit code is used instead (AR becomes CR).
func (a Acker) AckFromRaw(raw []byte, code AckCode, errs ...ErrorDetail) []byte {
	msg, err := ParseWithOptions(raw, ParseOptions{FallbackCharset: a.Charset})
	if len(errs) == 0 && err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			errs = []ErrorDetail{pe.Detail()}
		} else {
			errs = []ErrorDetail{{Code: CodeApplicationInternalError, Severity: SeverityError, Text: err.Error()}}
		}
	}
	text := ""
	if len(errs) > 0 {
		text = errs[0].Text
	}
	if err == nil {
		if msg.IsEnhancedMode() {
			code = commitCode(code)
		}
		return a.Ack(msg, code, text, errs...)
	}
	h := salvageHeader(raw, a.Charset)
	if h.enhanced {
		code = commitCode(code)
	}
	return a.build(h, code, text, errs)
}

// asciiCompatible reports whether enc writes an MSH line's ASCII as ASCII
// (UTF-16 and UTF-32 do not): the header of a message that did not parse
// is salvaged from its bytes as ASCII, so only such a set can be the one it
// is in, and only such a set can encode an acknowledgment built from it.
func asciiCompatible(enc encoding.Encoding) bool {
	if enc == nil {
		return true
	}
	const probe = "MSH|^~\\&|ACK"
	out, err := enc.NewEncoder().String(probe)
	return err == nil && out == probe
}

// commitCode is the enhanced-mode (commit level) code of an original-mode
// acknowledgment code: AA, AE, AR become CA, CE, CR.
func commitCode(c AckCode) AckCode {
	switch c {
	case ApplicationAccept:
		return CommitAccept
	case ApplicationError:
		return CommitError
	case ApplicationReject:
		return CommitReject
	}
	return c
}

// maxSalvagedField bounds what AckFromRaw copies from a broken message.
const maxSalvagedField = 200

// salvageHeader reads what it can of the first MSH line of raw, in its
// MSH-18 character set when this package knows it, else in fallback (the
// listener's; "" for UTF-8, unnamed). Bytes that are not text in that set
// are not copied as they are: the acknowledgment built from the header is
// written in it, and must be readable.
func salvageHeader(raw []byte, fallback string) ackHeader {
	h := ackHeader{d: DefaultDelimiters()}
	i := mshStart(raw)
	if i < 0 || len(raw) < i+5 {
		return h
	}
	line := raw[i:]
	line = line[:lineEnd(line)]
	if len(line) < 5 {
		return h
	}
	fs := line[3]
	enc := line[4:]
	if j := bytes.IndexByte(enc, fs); j >= 0 {
		enc = enc[:j]
	}
	d, err := parseDelimiters(fs, string(enc))
	if err != nil {
		// Broken encoding characters (MSH-2): the fields can still be read
		// by a usable field separator, so that the NAK names the message
		// it refuses (MSA-2) and goes back to its sender (MSH-5, MSH-6);
		// it uses the default encoding characters.
		d = DefaultDelimiters()
		if !validDelimiterChar(fs) || (fs != d.Field && d.isDelimiter(fs)) {
			return h
		}
		d.Field = fs
	}
	h.d = d
	s := string(line)
	// MSH-18, when it names a character set this package knows: the
	// acknowledgment names it and is encoded in it, and the fields copied
	// below are decoded from it (MSH is ASCII in every set HL7 allows, but
	// a sender's names may not be).
	if cs := strings.TrimSpace(headerField(s, 18)); cs != "" && len(cs) <= maxSalvagedField {
		primary := strings.TrimSpace(nth(nth(cs, d.Repetition, 1), d.Component, 1))
		if enc, err := lookupCharset(primary); err == nil && asciiCompatible(enc) {
			h.cs, h.charsetField = charset{enc: enc}, cs
		}
	}
	if h.charsetField == "" && fallback != "" {
		if enc, err := lookupCharset(fallback); err == nil && asciiCompatible(enc) {
			h.cs, h.charsetField = charset{enc: enc}, fallback
		}
	}
	field := func(n int) string {
		v := headerField(s, n)
		if len(v) > maxSalvagedField {
			return ""
		}
		if h.cs.enc != nil {
			t, err := h.cs.decode([]byte(v))
			if err != nil {
				return ""
			}
			return strings.ToValidUTF8(t, "\uFFFD")
		}
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	h.enhanced = strings.TrimSpace(field(15)) != "" || strings.TrimSpace(field(16)) != ""
	h.sendApp, h.sendFac, h.recvApp, h.recvFac = field(3), field(4), field(5), field(6)
	h.msgType, h.time = field(9), field(7)
	h.trigger = nth(nth(field(9), d.Repetition, 1), d.Component, 2)
	h.controlID = field(10)
	h.processingID = field(11)
	h.version = field(12)
	return h
}

// SalvagedHeader is what can be read of the MSH of a message that does not
// parse (an unknown character set, broken segments), as its wire text: the
// first component of MSH-3 and MSH-4, MSH-9's message code and trigger
// event joined by ^, MSH-7 and MSH-10. Fields that cannot be read are "".
type SalvagedHeader struct {
	SendingApplication, SendingFacility string
	MessageType, MessageTime, ControlID string
}

// Salvage reads what it can of raw's MSH, for the records kept of input
// that was rejected.
func Salvage(raw []byte) SalvagedHeader {
	h := salvageHeader(raw, "")
	d := h.d
	first := func(v string) string { return nth(nth(v, d.Repetition, 1), d.Component, 1) }
	out := SalvagedHeader{SendingApplication: first(h.sendApp), SendingFacility: first(h.sendFac), ControlID: h.controlID, MessageTime: first(h.time)}
	if code := first(h.msgType); code != "" {
		out.MessageType = code
		if h.trigger != "" {
			out.MessageType += "^" + h.trigger
		}
	}
	return out
}

// mshStart is where the first segment named MSH begins in raw (after only
// white space, a byte-order mark or a start block, or after a line end;
// junk lines before it are skipped), or -1: "MSH" inside a field's text is
// not a header.
func mshStart(raw []byte) int {
	for off := 0; ; {
		i := bytes.Index(raw[off:], []byte("MSH"))
		if i < 0 {
			return -1
		}
		at := off + i
		if len(bytes.TrimLeft(raw[:at], " \t\r\n\x0b\xef\xbb\xbf")) == 0 || raw[at-1] == '\r' || raw[at-1] == '\n' {
			return at
		}
		off = at + 3
	}
}

func randomControlID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func (a Acker) build(h ackHeader, code AckCode, text string, errs []ErrorDetail) []byte {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	newID := randomControlID
	if a.ControlID != nil {
		newID = a.ControlID
	}
	d := h.d
	version := h.version
	if nth(nth(version, d.Repetition, 1), d.Component, 1) == "" {
		version = "2.5.1"
	}
	v := nth(nth(version, d.Repetition, 1), d.Component, 1)
	processingID := h.processingID
	if processingID == "" {
		processingID = "P"
	}
	msgType := "ACK"
	if h.trigger != "" {
		msgType += string(d.Component) + h.trigger
	}
	if !versionBefore(v, 2, 3, 1) {
		if h.trigger == "" {
			msgType += string(d.Component)
		}
		msgType += string(d.Component) + "ACK"
	}

	if strings.IndexByte(h.charsetField, d.Field) >= 0 {
		// A set named with the message's field separator in it (8859/1
		// when the separator is '/') cannot be written in MSH-18: the
		// acknowledgment is in UTF-8, unnamed, instead.
		h.cs, h.charsetField = charset{}, ""
	}
	m := NewMessage(d)
	m.cs = h.cs
	msh := m.segments[0]
	msh.fields = append(msh.fields,
		h.recvApp, h.recvFac, h.sendApp, h.sendFac,
		now().Format("20060102150405-0700"), "", msgType,
		EscapeText(newID(), d), processingID, version)
	if h.charsetField != "" {
		for len(msh.fields) < 18 {
			msh.fields = append(msh.fields, "")
		}
		msh.fields = append(msh.fields, h.charsetField)
	}
	msa := m.AddSegment("MSA", string(code))
	msa.fields = append(msa.fields, h.controlID)
	if text != "" {
		msa.fields = append(msa.fields, EscapeText(text, d))
	}
	if code.IsError() {
		if len(errs) == 0 {
			errs = []ErrorDetail{{Code: CodeApplicationInternalError, Severity: SeverityError, Text: text}}
		}
		legacy := versionBefore(v, 2, 5, 0)
		for _, e := range errs {
			m.segments = append(m.segments, errSegment(m, e, legacy))
		}
	}
	return m.Encode()
}

// errSegment builds one ERR segment.
func errSegment(m *Message, e ErrorDetail, legacy bool) *Segment {
	d := m.d
	code := e.Code
	if code == "" {
		code = CodeApplicationInternalError
	}
	severity := e.Severity
	if severity == "" {
		severity = SeverityError
	}
	comp := func(parts ...string) string {
		for i, p := range parts {
			parts[i] = EscapeText(p, d)
		}
		return strings.TrimRight(strings.Join(parts, string(d.Component)), string(d.Component))
	}
	var loc []string
	if e.Location != "" {
		loc = strings.Split(e.Location, "^")
	}
	fields := make([]string, 9)
	fields[0] = "ERR"
	if legacy {
		// ERR-1 (ELD): segment^sequence^field^code&text&HL70357.
		eld := make([]string, 3)
		copy(eld, loc)
		for i := range eld {
			eld[i] = EscapeText(eld[i], d)
		}
		ce := EscapeText(code, d)
		if d.SubComponent != 0 {
			sub := string(d.SubComponent)
			ce = EscapeText(code, d) + sub + EscapeText(ErrorCodeText(code), d) + sub + "HL70357"
		}
		fields[1] = strings.Join(append(eld, ce), string(d.Component))
	}
	fields[2] = comp(loc...)
	fields[3] = comp(code, ErrorCodeText(code), "HL70357")
	fields[4] = EscapeText(severity, d)
	fields[8] = EscapeText(e.Text, d)
	if fields[8] == "" {
		fields = fields[:5]
	}
	return newSegment(m, fields)
}

// versionBefore reports whether version v (such as "2.4" or "2.5.1") is
// before major.minor.patch. An unreadable version is not before anything.
func versionBefore(v string, major, minor, patch int) bool {
	parts := strings.Split(strings.TrimSpace(v), ".")
	want := []int{major, minor, patch}
	for i := range want {
		got := 0
		if i < len(parts) {
			n, err := strconv.Atoi(parts[i])
			if err != nil {
				return false
			}
			got = n
		}
		if got != want[i] {
			return got < want[i]
		}
	}
	return false
}

// ParseAck parses an acknowledgement as its sender reads one: leniently,
// skipping a line that is not a segment (the reason in MSA-1 and MSA-3 is
// what matters, not refusing the receiver's answer).
func ParseAck(raw []byte) (*Message, error) {
	return ParseWithOptions(raw, ParseOptions{Lenient: true})
}

// AckText is the reason an acknowledgement gives: ERR-8 (the user
// message), else MSA-3; empty when it gives none.
func AckText(ack *Message) string {
	if t := ack.Get("ERR-8"); t != "" {
		return t
	}
	return ack.Get("MSA-3")
}
