package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxMessageSize is the largest message a Scanner returns unless
// told otherwise with MaxMessageSize.
const DefaultMaxMessageSize = 10 << 20

// Sentinel errors carried by Message.Err; test with errors.Is.
var (
	// ErrTooLarge means the message is longer than the scanner's
	// MaxMessageSize. Its bytes were skipped; scanning goes on with the
	// next message.
	ErrTooLarge = errors.New("message too large")
	// ErrUnterminatedFrame means an MLLP frame ended (a new frame started,
	// or the input ended) without its 0x1C end byte, so the message is
	// probably truncated. Message.Raw holds what was there.
	ErrUnterminatedFrame = errors.New("unterminated MLLP frame")
)

const (
	startBlock = 0x0b // MLLP start of frame
	endBlock   = 0x1c // MLLP end of frame (followed by 0x0d)

	readSize        = 64 << 10 // bytes asked from the reader at a time
	maxEnvelopeLine = 1024     // bytes of an FHS/BHS/BTS/FTS line looked at
	maxEnvelopeNest = 32       // envelope depth tracked; deeper ones are ignored
	// maxBlankRun is how many bytes of blank lines inside or after a
	// message are buffered on top of MaxMessageSize before the message is
	// treated as too large.
	maxBlankRun = 64 << 10
)

var bom = []byte{0xef, 0xbb, 0xbf}

// lineBreak marks the bytes that end a line or a frame.
var lineBreak = [256]bool{'\r': true, '\n': true, startBlock: true, endBlock: true}

// Message is one HL7 v2 message read from an archive.
type Message struct {
	// Source names where the message came from (the file path given to
	// Open or NewScanner).
	Source string
	// Index is the 1-based ordinal of the message within its source. Every
	// message the scanner finds takes an index, including those returned
	// with Err set, so indexes are stable from one read of a file to the
	// next.
	Index int
	// Offset is the byte offset in the (uncompressed) stream where the
	// message starts, at its "MSH".
	Offset int64
	// Raw holds the message bytes as they are in the source, without MLLP
	// framing, batch envelope lines or the trailing segment terminator.
	// It aliases the scanner's buffer: it is valid only until the next
	// call to Scan. Copy it to keep it.
	Raw []byte
	// Err is set when the message could not be read whole: ErrTooLarge
	// (Raw is nil) or ErrUnterminatedFrame (Raw holds the partial bytes).
	Err error
}

// Warning reports something odd in an archive that did not stop the scan:
// skipped bytes that are no message, batch counts that do not match,
// unbalanced envelopes.
type Warning struct {
	Source string
	Offset int64
	Text   string
}

// String formats the warning as "source: offset N: text".
func (w Warning) String() string {
	return fmt.Sprintf("%s: offset %d: %s", w.Source, w.Offset, w.Text)
}

// Option configures a Scanner.
type Option func(*config)

type config struct {
	max  int
	warn func(Warning)
}

// MaxMessageSize sets the largest message, in bytes, that a Scanner
// returns. A longer message is returned with Err set to ErrTooLarge and no
// Raw bytes; scanning continues with the next one. Values below 1 select
// DefaultMaxMessageSize.
func MaxMessageSize(n int) Option {
	return func(c *config) {
		if n < 1 {
			n = DefaultMaxMessageSize
		}
		c.max = n
	}
}

// OnWarning sets a function called, from within Scan, for every Warning.
// Without it warnings are dropped.
func OnWarning(f func(Warning)) Option {
	return func(c *config) { c.warn = f }
}

// envelope is an open FHS or BHS.
type envelope struct {
	kind     byte // 'F' for FHS, 'B' for BHS
	off      int64
	messages int
	batches  int
}

// Scanner reads messages from an archive stream, one per call to Scan, in
// the manner of bufio.Scanner. A Scanner is not safe for concurrent use.
type Scanner struct {
	r      io.Reader
	source string
	cfg    config

	buf        []byte
	base       int64 // stream offset of buf[0]
	rpos, wpos int   // scanned up to rpos; data up to wpos
	eof        bool
	readErr    error
	err        error
	done       bool

	atLineStart bool
	inMsg       bool
	tooLarge    bool  // the current message is being skipped
	mstart      int64 // stream offset of the current message
	mend        int64 // stream offset just after its last non-terminator byte
	index       int
	msg         Message

	inFrame  bool
	frameOff int64

	garbageOff int64 // start of skipped bytes, or -1
	// tailOff is the start of the lines of the current message that are
	// not segments and no segment has followed yet (-1: none): if the
	// message ends there, they are text between messages (a separator
	// line in a file), not part of it; followed by a segment, they are
	// (the rest of a segment after a line break, which the parser refuses).
	tailOff int64
	fs      byte // the current message's field separator (MSH-1)

	envelopes  []envelope
	envIgnored int // envelope headers beyond maxEnvelopeNest
}

// NewScanner returns a Scanner reading r, which holds the (uncompressed)
// contents of source. Use Open for files, which also handles gzip.
func NewScanner(r io.Reader, source string, opts ...Option) *Scanner {
	s := &Scanner{
		r:           r,
		source:      source,
		cfg:         config{max: DefaultMaxMessageSize},
		atLineStart: true,
		garbageOff:  -1,
		tailOff:     -1,
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

// Scan advances to the next message, which is then available through
// Message. It returns false at the end of the input or on a read error;
// Err tells which.
func (s *Scanner) Scan() bool {
	if s.done {
		return false
	}
	for {
		if s.rpos >= s.wpos {
			if !s.fill() {
				return s.finish()
			}
			continue
		}
		switch s.buf[s.rpos] {
		case '\r', '\n':
			s.rpos++
			s.atLineStart = true
			continue
		case startBlock:
			if s.inMsg {
				s.endMessage()
				return true
			}
			s.flushGarbage()
			if s.inFrame {
				s.warn(s.frameOff, "MLLP frame without end byte")
			}
			s.inFrame = true
			s.frameOff = s.off(s.rpos)
			s.rpos++
			s.atLineStart = true
			continue
		case endBlock:
			if s.inMsg {
				s.emit(nil)
				return true
			}
			s.flushGarbage()
			if !s.inFrame {
				s.warn(s.off(s.rpos), "MLLP end byte outside a frame")
			}
			s.inFrame = false
			s.rpos++
			s.atLineStart = true
			continue
		}
		if s.atLineStart {
			if s.lineStart() {
				return true
			}
			continue
		}
		s.consumeLine()
	}
}

// lineStart classifies the line starting at rpos. It returns true when a
// message was completed (and the line is left for the next Scan).
func (s *Scanner) lineStart() bool {
	p := s.lookahead(6)
	n := 0
	if bytes.HasPrefix(p, bom) {
		n = len(bom)
	}
	switch segmentID(p[n:]) {
	case "MSH":
		if s.inMsg {
			s.emit(nil)
			return true
		}
		s.flushGarbage()
		s.rpos += n
		s.index++
		s.inMsg = true
		s.tooLarge = false
		s.mstart = s.off(s.rpos)
		s.mend = s.mstart
		s.fs = '|'
		if len(p) > n+3 {
			s.fs = p[n+3]
		}
		s.countMessage()
	case "FHS", "BHS", "BTS", "FTS":
		if s.inMsg {
			s.emit(nil)
			return true
		}
		s.flushGarbage()
		s.rpos += n
		s.envelopeLine()
	default:
		if s.inMsg {
			if s.segmentLine() {
				s.tailOff = -1 // what came between is inside the message
			} else if s.tailOff < 0 {
				s.tailOff = s.off(s.rpos)
			}
		}
		if !s.inMsg {
			if n > 0 {
				// A byte order mark outside a message, as at the start of
				// a file: skip it and look at the line again.
				s.rpos += n
				return false
			}
			if s.garbageOff < 0 {
				s.garbageOff = s.off(s.rpos)
			}
		}
	}
	s.atLineStart = false
	return false
}

// segmentID returns the segment ID that b starts with when it is one the
// scanner cares about, and "" otherwise.
func segmentID(b []byte) string {
	if len(b) < 3 {
		return ""
	}
	switch string(b[:3]) {
	case "MSH":
		return "MSH"
	case "FHS":
		return "FHS"
	case "BHS":
		return "BHS"
	case "BTS":
		return "BTS"
	case "FTS":
		return "FTS"
	}
	return ""
}

// consumeLine moves rpos to the end of the current line, or of the
// buffered data.
func (s *Scanner) consumeLine() {
	i := s.rpos
	for i < s.wpos && !lineBreak[s.buf[i]] {
		i++
	}
	s.rpos = i
	if s.inMsg && s.tailOff < 0 {
		s.mend = s.off(i)
	}
}

// lookahead returns up to n bytes from rpos, reading more when needed.
func (s *Scanner) lookahead(n int) []byte {
	for s.wpos-s.rpos < n {
		// Stop early at a line break: the bytes after it do not matter.
		if bytes.IndexAny(s.buf[s.rpos:s.wpos], "\r\n\x0b\x1c") >= 0 {
			break
		}
		if !s.fill() {
			break
		}
	}
	return s.buf[s.rpos:min(s.wpos, s.rpos+n)]
}

// fill reads more data, keeping the current message (if it is still
// wanted) and everything from rpos on. It returns false when no more data
// will come.
func (s *Scanner) fill() bool {
	if s.eof {
		return false
	}
	if s.inMsg && !s.tooLarge {
		if s.mend-s.mstart > int64(s.cfg.max) ||
			s.off(s.rpos)-s.mstart > int64(s.cfg.max)+maxBlankRun {
			s.tooLarge = true
		}
	}
	keep := s.rpos
	if s.inMsg && !s.tooLarge {
		keep = int(s.mstart - s.base)
	}
	if keep > 0 {
		copy(s.buf, s.buf[keep:s.wpos])
		s.wpos -= keep
		s.rpos -= keep
		s.base += int64(keep)
	}
	if len(s.buf)-s.wpos < readSize {
		size := max(2*len(s.buf), s.wpos+readSize)
		nb := make([]byte, size)
		copy(nb, s.buf[:s.wpos])
		s.buf = nb
	}
	for empty := 0; empty < 100; empty++ {
		n, err := s.r.Read(s.buf[s.wpos:])
		s.wpos += n
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.readErr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.eof = true
	s.readErr = io.ErrNoProgress
	return false
}

// emit completes the current message.
func (s *Scanner) emit(err error) {
	m := Message{Source: s.source, Index: s.index, Offset: s.mstart}
	if err != nil {
		m.Err = fmt.Errorf("message %d at offset %d: %w", s.index, s.mstart, err)
	}
	size := s.mend - s.mstart
	if s.tooLarge || size > int64(s.cfg.max) {
		m.Err = fmt.Errorf("message %d at offset %d exceeds %d bytes: %w",
			s.index, s.mstart, s.cfg.max, ErrTooLarge)
	} else {
		m.Raw = s.buf[s.mstart-s.base : s.mend-s.base : s.mend-s.base]
	}
	s.msg = m
	s.inMsg = false
	s.tooLarge = false
	if s.tailOff >= 0 {
		s.warn(s.tailOff, fmt.Sprintf("skipped %d bytes after message %d that are not segments (text between messages; inside a message, a line break in a field must be sent escaped, as \\.br\\)", s.off(s.rpos)-s.tailOff, s.index))
		s.tailOff = -1
	}
}

// segmentLine reports whether the line at rpos starts as a segment of the
// current message: a segment ID followed by its field separator or the
// end of the line.
func (s *Scanner) segmentLine() bool {
	p := s.lookahead(4)
	if len(p) < 3 || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	for _, c := range p[1:3] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return len(p) == 3 || p[3] == s.fs || lineBreak[p[3]]
}

// finish handles the end of the input.
func (s *Scanner) finish() bool {
	if s.readErr != nil {
		s.err = fmt.Errorf("read %s: %w", s.source, s.readErr)
		s.done = true
		return false
	}
	if s.inMsg {
		s.endMessage()
		return true
	}
	s.flushGarbage()
	if s.inFrame {
		s.warn(s.frameOff, "MLLP frame without end byte")
	}
	for i := len(s.envelopes) - 1; i >= 0; i-- {
		e := s.envelopes[i]
		s.warn(e.off, fmt.Sprintf("%cHS without %cTS", e.kind, e.kind))
	}
	s.envelopes = nil
	s.done = true
	return false
}

// Message returns the message found by the last call to Scan. Its Raw
// bytes are valid until the next call to Scan.
func (s *Scanner) Message() Message { return s.msg }

// Err returns the first read error met, or nil at a clean end of input.
// Problems with single messages are reported in Message.Err instead.
func (s *Scanner) Err() error { return s.err }

func (s *Scanner) off(i int) int64 { return s.base + int64(i) }

func (s *Scanner) warn(off int64, text string) {
	if s.cfg.warn != nil {
		s.cfg.warn(Warning{Source: s.source, Offset: off, Text: text})
	}
}

// flushGarbage reports skipped bytes that ended at rpos.
func (s *Scanner) flushGarbage() {
	if s.garbageOff < 0 {
		return
	}
	end := s.off(s.rpos)
	s.warn(s.garbageOff, fmt.Sprintf("skipped %d bytes that are not part of a message", end-s.garbageOff))
	s.garbageOff = -1
}

// countMessage counts a new message in the innermost envelope.
func (s *Scanner) countMessage() {
	if n := len(s.envelopes); n > 0 {
		s.envelopes[n-1].messages++
	}
}

// envelopeLine handles an FHS, BHS, BTS or FTS line at rpos, leaving rpos
// inside the line (the rest is skipped as a line outside any message).
func (s *Scanner) envelopeLine() {
	line := s.lookahead(maxEnvelopeLine)
	if i := bytes.IndexAny(line, "\r\n\x0b\x1c"); i >= 0 {
		line = line[:i]
	}
	off := s.off(s.rpos)
	id := string(line[:3])
	switch id {
	case "FHS", "BHS":
		if len(s.envelopes) >= maxEnvelopeNest {
			s.envIgnored++
			s.warn(off, id+" nested too deeply; ignored")
			break
		}
		if n := len(s.envelopes); n > 0 {
			s.envelopes[n-1].batches++
		}
		s.envelopes = append(s.envelopes, envelope{kind: id[0], off: off})
	case "BTS", "FTS":
		if s.envIgnored > 0 {
			s.envIgnored--
			break
		}
		kind := id[0]
		// Close envelopes left open inside this one.
		for n := len(s.envelopes); n > 0 && s.envelopes[n-1].kind != kind; n-- {
			if kind == 'B' && s.envelopes[n-1].kind == 'F' {
				break
			}
			e := s.envelopes[n-1]
			s.warn(e.off, fmt.Sprintf("%cHS without %cTS", e.kind, e.kind))
			s.envelopes = s.envelopes[:n-1]
		}
		n := len(s.envelopes)
		if n == 0 || s.envelopes[n-1].kind != kind {
			s.warn(off, fmt.Sprintf("%s without %cHS", id, kind))
			break
		}
		e := s.envelopes[n-1]
		s.envelopes = s.envelopes[:n-1]
		s.checkCount(id, line, e, off)
	}
}

// checkCount compares the count in field 1 of a BTS or FTS line with what
// the envelope held: messages for a batch; batches for a file (or messages
// when the file holds no batches).
func (s *Scanner) checkCount(id string, line []byte, e envelope, off int64) {
	if len(line) < 5 {
		return
	}
	sep := line[3]
	f := line[4:]
	if i := bytes.IndexByte(f, sep); i >= 0 {
		f = f[:i]
	}
	f = bytes.TrimSpace(f)
	if len(f) == 0 {
		return
	}
	want, err := strconv.Atoi(string(f))
	if err != nil {
		s.warn(off, fmt.Sprintf("%s-1 %q is not a count", id, f))
		return
	}
	got, what := e.messages, "messages"
	if e.kind == 'F' && e.batches > 0 {
		got, what = e.batches, "batches"
	}
	if got != want {
		s.warn(off, fmt.Sprintf("%s-1 says %d %s, the %cHS at offset %d holds %d", id, want, what, e.kind, e.off, got))
	}
}

// endMessage emits the message being read when a new frame or the end of
// input ends it; inside an unfinished MLLP frame it is reported truncated.
func (s *Scanner) endMessage() {
	if s.inFrame {
		s.emit(ErrUnterminatedFrame)
		s.inFrame = false
		return
	}
	s.emit(nil)
}
