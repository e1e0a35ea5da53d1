package hl7

import (
	"errors"
	"fmt"
	"strconv"
)

// Error codes from HL7 table 0357 (message error condition codes). They are
// strings so that they fit ErrorDetail.Code and ERR-3.1 directly.
const (
	CodeAccepted                 = "0"   // Message accepted
	CodeSegmentSequence          = "100" // Segment sequence error
	CodeRequiredFieldMissing     = "101" // Required field missing
	CodeDataType                 = "102" // Data type error
	CodeTableValueNotFound       = "103" // Table value not found
	CodeUnsupportedMessageType   = "200" // Unsupported message type
	CodeUnsupportedEventCode     = "201" // Unsupported event code
	CodeUnsupportedProcessingID  = "202" // Unsupported processing id
	CodeUnsupportedVersionID     = "203" // Unsupported version id
	CodeUnknownKeyIdentifier     = "204" // Unknown key identifier
	CodeDuplicateKeyIdentifier   = "205" // Duplicate key identifier
	CodeApplicationRecordLocked  = "206" // Application record locked
	CodeApplicationInternalError = "207" // Application internal error
)

// ErrorCodeText returns the HL7 table 0357 description of code, or "" when
// the code is not in the table.
func ErrorCodeText(code string) string {
	switch code {
	case CodeAccepted:
		return "Message accepted"
	case CodeSegmentSequence:
		return "Segment sequence error"
	case CodeRequiredFieldMissing:
		return "Required field missing"
	case CodeDataType:
		return "Data type error"
	case CodeTableValueNotFound:
		return "Table value not found"
	case CodeUnsupportedMessageType:
		return "Unsupported message type"
	case CodeUnsupportedEventCode:
		return "Unsupported event code"
	case CodeUnsupportedProcessingID:
		return "Unsupported processing id"
	case CodeUnsupportedVersionID:
		return "Unsupported version id"
	case CodeUnknownKeyIdentifier:
		return "Unknown key identifier"
	case CodeDuplicateKeyIdentifier:
		return "Duplicate key identifier"
	case CodeApplicationRecordLocked:
		return "Application record locked"
	case CodeApplicationInternalError:
		return "Application internal error"
	}
	return ""
}

// Sentinel errors wrapped by ParseError and the other functions of the
// package; test for them with errors.Is.
var (
	// ErrNoHeader means the input does not start with an MSH segment.
	ErrNoHeader = errors.New("message does not start with an MSH segment")
	// ErrInvalidText means the message holds bytes that are not text in its
	// character set (MSH-18, else the listener's, else UTF-8).
	ErrInvalidText = errors.New("message is not valid text in its character set")
	// ErrEncodingCharacters means MSH-1 or MSH-2 does not define usable delimiters.
	ErrEncodingCharacters = errors.New("invalid encoding characters")
	// ErrUnknownCharset means MSH-18 (or the fallback) names a character set
	// this package cannot decode.
	ErrUnknownCharset = errors.New("unknown or unsupported character set")
	// ErrAmbiguousHeader means MSH holds a multi-byte character whose bytes
	// include a delimiter, so MSH-18 cannot be read reliably.
	ErrAmbiguousHeader = errors.New("MSH segment is ambiguous before decoding")
	// ErrSegment means a line of the message is not a segment (strict parsing only).
	ErrSegment = errors.New("line is not a segment")
	// ErrInvalidPath means a terser path could not be compiled or used.
	ErrInvalidPath = errors.New("invalid path")
	// ErrInvalidTime means a TS/DTM value is malformed.
	ErrInvalidTime = errors.New("invalid date/time")
)

// ParseError describes why a message could not be parsed. Code is an HL7
// table 0357 code, so that an acknowledgment can report it in ERR.
type ParseError struct {
	Segment string // segment ID, such as "MSH"
	Line    int    // 1-based segment sequence (line) in the message, 0 if unknown
	Field   int    // field position, 0 if the error is not about one field
	Code    string // HL7 table 0357 code, such as CodeRequiredFieldMissing
	Err     error  // the cause, often one of the package's sentinel errors
}

// Error describes the error with its position.
func (e *ParseError) Error() string {
	pos := e.Segment
	if pos == "" {
		pos = "message"
	}
	if e.Field > 0 {
		pos += "-" + strconv.Itoa(e.Field)
	}
	return fmt.Sprintf("parse hl7 %s: %v", pos, e.Err)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Detail converts the error to an ErrorDetail for an ERR segment.
func (e *ParseError) Detail() ErrorDetail {
	return ErrorDetail{
		Location: location(e.Segment, max(e.Line, 1), e.Field),
		Code:     e.Code,
		Severity: SeverityError,
		Text:     e.Err.Error(),
	}
}

// location formats an ERL value ("PID^1^3") with '^' as separator.
func location(seg string, seq, field int) string {
	if seg == "" {
		return ""
	}
	s := seg + "^" + strconv.Itoa(seq)
	if field > 0 {
		s += "^" + strconv.Itoa(field)
	}
	return s
}

// Severities from HL7 table 0516 for ErrorDetail.Severity.
const (
	SeverityError       = "E"
	SeverityWarning     = "W"
	SeverityInformation = "I"
)

// ErrorDetail is one problem to report in an ERR segment.
type ErrorDetail struct {
	// Location is the ERL of ERR-2, components separated by '^' whatever the
	// message's delimiters: segment ID^sequence^field^repetition^component^sub-component,
	// such as "PID^1^3".
	Location string
	// Code is an HL7 table 0357 code, such as CodeRequiredFieldMissing ("101").
	Code string
	// Severity is an HL7 table 0516 value: SeverityError, SeverityWarning or
	// SeverityInformation; empty means SeverityError.
	Severity string
	// Text is a message for people (ERR-8), escaped when encoded.
	Text string
}
