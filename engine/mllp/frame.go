package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/carebridge/carebridge/engine/hl7"
)

// Framing bytes of MLLP.
const (
	StartBlock     byte = 0x0B // vertical tab: opens a frame
	EndBlock       byte = 0x1C // file separator: closes a frame's payload
	CarriageReturn byte = 0x0D // follows the end block; optional when reading
)

// DefaultMaxFrameSize is the largest payload a Reader accepts when no limit is
// given: 10 MiB.
const DefaultMaxFrameSize = 10 << 20

// OversizeHeadSize is how many leading payload bytes a FrameTooLargeError
// keeps, enough for an MSH segment from which a NAK can be built.
const OversizeHeadSize = 4 << 10

// readBufferSize is the size of the Reader's read buffer; frames larger than
// it are assembled from several reads.
const readBufferSize = 16 << 10

// maxKeptScratch bounds the assembly buffer a Reader keeps between frames, so
// one large message does not pin its memory for the life of a connection.
const maxKeptScratch = 256 << 10

var (
	// ErrFrameTooLarge is matched (with errors.Is) by the error a Reader returns
	// for a frame whose payload exceeds its limit. The frame has been discarded
	// up to its end block and the Reader is ready for the next frame.
	ErrFrameTooLarge = errors.New("mllp: frame too large")

	// ErrInvalidPayload is returned by WriteFrame for a payload containing a
	// start or end block byte, which would corrupt the framing.
	ErrInvalidPayload = errors.New("mllp: payload contains a framing byte")
)

// FrameTooLargeError describes a discarded oversized frame. It matches
// ErrFrameTooLarge.
type FrameTooLargeError struct {
	// Limit is the Reader's maximum payload size.
	Limit int
	// Size is the payload size of the discarded frame.
	Size int64
	// Head holds the first bytes of the payload (at most OversizeHeadSize),
	// enough to build a negative acknowledgement. The caller may keep it.
	Head []byte
}

// Error describes the oversized frame without its content.
func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("mllp: frame of %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

// Is reports whether target is ErrFrameTooLarge.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// ErrStrayEndBlock is matched (with errors.Is) by the error a Reader returns
// for a frame whose payload holds an end block byte followed by more of the
// message: a byte no HL7 message may contain, which would otherwise end the
// frame early and cut the message short. The frame has been read up to its
// real end and the Reader is ready for the next frame.
var ErrStrayEndBlock = errors.New("mllp: end block byte inside a message")

// StrayEndBlockError describes a frame discarded because its payload holds
// an end block byte. It matches ErrStrayEndBlock.
type StrayEndBlockError struct {
	// Offset is the payload offset of the first stray end block.
	Offset int64
	// Head holds the first bytes of the payload (at most OversizeHeadSize),
	// enough to build a negative acknowledgement.
	Head []byte
}

// Error describes the frame without its content.
func (e *StrayEndBlockError) Error() string {
	return fmt.Sprintf("mllp: the message holds an end block byte (0x1C) at offset %d, followed by more of it", e.Offset)
}

// Is reports whether target is ErrStrayEndBlock.
func (e *StrayEndBlockError) Is(target error) bool { return target == ErrStrayEndBlock }

// ReaderOption configures a Reader.
type ReaderOption func(*Reader)

// WithMaxFrameSize sets the largest payload the Reader accepts. A value of zero
// or less selects DefaultMaxFrameSize.
func WithMaxFrameSize(n int) ReaderOption {
	return func(r *Reader) {
		if n > 0 {
			r.max = n
		}
	}
}

// WithFrameStart sets a function the Reader calls, from within ReadFrame, as
// soon as it has consumed the start block of a frame and before it reads the
// rest. Servers use it to arm a per-frame deadline once a frame has begun.
func WithFrameStart(fn func()) ReaderOption {
	return func(r *Reader) { r.onStart = fn }
}

// Reader reads MLLP frames from an underlying io.Reader.
//
// Bytes outside frames are skipped and counted (see Skipped). A start block
// inside an unfinished frame means the sender abandoned that frame and began
// a new one: the abandoned part is counted as skipped. The end block closes
// a frame; a carriage return right after it is consumed, and its absence is
// tolerated.
//
// A Reader buffers input, so it may read past the end of the current frame.
// It is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	max     int
	onStart func()
	skipped int64
	// pending is what may still end the last frame when its end block (or
	// its CR) was the last byte buffered: a CR or LF (pendingEnd), or the
	// LF of CR LF (pendingLF).
	pending uint8
	scratch []byte
}

// NewReader returns a Reader reading frames from r.
func NewReader(r io.Reader, opts ...ReaderOption) *Reader {
	fr := &Reader{max: DefaultMaxFrameSize}
	for _, o := range opts {
		o(fr)
	}
	fr.br = bufio.NewReaderSize(r, readBufferSize)
	return fr
}

// MaxFrameSize returns the largest payload the Reader accepts.
func (r *Reader) MaxFrameSize() int { return r.max }

// Skipped returns how many bytes the Reader has discarded so far because
// they were outside a frame (garbage between frames, abandoned frames). The
// carriage return ending a frame is not counted, nor is an oversized frame.
func (r *Reader) Skipped() int64 { return r.skipped }

// ReadFrame reads the next frame and returns its payload, without the framing
// bytes. The returned slice is freshly allocated: the caller owns it and may
// keep it.
//
// ReadFrame returns io.EOF when the input ends between frames (possibly after
// skipped garbage), io.ErrUnexpectedEOF when it ends inside a frame, and a
// *FrameTooLargeError (matching ErrFrameTooLarge) when a payload exceeds the
// limit, or a *StrayEndBlockError (matching ErrStrayEndBlock) when an end
// block byte inside the message is followed by more of it; after either the
// Reader has discarded the frame up to its end block and the next call
// reads the following frame. Errors of the
// underlying reader, such as deadline errors, are returned wrapped.
func (r *Reader) ReadFrame() ([]byte, error) {
	if err := r.findStart(); err != nil {
		return nil, err
	}
	if r.onStart != nil {
		r.onStart()
	}
	defer func() {
		if cap(r.scratch) > maxKeptScratch {
			r.scratch = nil
		}
	}()
	r.scratch = r.scratch[:0]
	var (
		total     int64 // payload bytes of the current frame, stored or not
		oversized bool
		head      []byte
		stray     = int64(-1) // offset of the first end block inside the message
	)
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		if i := bytes.LastIndexByte(chunk, StartBlock); i >= 0 {
			// The sender began a new frame before ending this one.
			r.skipped += 1 + total + int64(i)
			chunk = chunk[i+1:]
			r.scratch, total, oversized, head, stray = r.scratch[:0], 0, false, nil, -1
		}
		data, ended := chunk, err == nil
		if ended && r.strayEnd() {
			// More of the message follows the end block: it is part of
			// the payload (and the message is refused), not its end.
			if stray < 0 {
				stray = total + int64(len(chunk)) - 1
			}
			ended, err = false, bufio.ErrBufferFull
		}
		if ended {
			data = chunk[:len(chunk)-1]
		}
		total += int64(len(data))
		switch {
		case oversized:
		case total > int64(r.max):
			oversized = true
			n := min(OversizeHeadSize, len(r.scratch))
			head = append(make([]byte, 0, OversizeHeadSize), r.scratch[:n]...)
			head = append(head, data[:min(OversizeHeadSize-n, len(data))]...)
			r.scratch = r.scratch[:0]
		case ended && len(r.scratch) == 0 && stray < 0:
			// The whole payload came in one buffered slice: copy it once.
			r.endFrame()
			return append(make([]byte, 0, len(data)), data...), nil
		default:
			r.scratch = append(r.scratch, data...)
		}
		if ended {
			r.endFrame()
			if oversized {
				return nil, &FrameTooLargeError{Limit: r.max, Size: total, Head: head}
			}
			if stray >= 0 {
				n := min(OversizeHeadSize, len(r.scratch))
				return nil, &StrayEndBlockError{Offset: stray, Head: append(make([]byte, 0, n), r.scratch[:n]...)}
			}
			return append(make([]byte, 0, len(r.scratch)), r.scratch...), nil
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, fmt.Errorf("mllp: read frame: %w", err)
		}
	}
}

// findStart discards input up to and including the next start block.
func (r *Reader) findStart() error {
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return io.EOF
				}
				return fmt.Errorf("mllp: read frame: %w", err)
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if p := r.pending; p != 0 {
			r.pending = 0
			if (p == pendingEnd && buf[0] == CarriageReturn) || buf[0] == '\n' {
				_, _ = r.br.Discard(1)
				if buf[0] == CarriageReturn {
					r.pending = pendingLF
				}
				continue
			}
		}
		i := bytes.IndexByte(buf, StartBlock)
		if i < 0 {
			r.skipped += int64(len(buf))
			_, _ = r.br.Discard(len(buf))
			continue
		}
		r.skipped += int64(i)
		_, _ = r.br.Discard(i + 1)
		return nil
	}
}

// strayEnd reports whether the end block just read is followed, in what is
// already buffered, by more of a message rather than by the end of the
// frame: a carriage return, a line feed (some senders end frames with FS
// LF), the next frame's start block, or nothing yet (a sender waiting for
// its ACK after an end block without CR) end it.
func (r *Reader) strayEnd() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(min(n, 6))
	if b[0] == CarriageReturn {
		// FS CR ends a frame, unless what follows at once is the next
		// segment of the message: a stray 0x1C at the end of a segment
		// ("…|Emb\x1c\rPV1|…"). Other bytes there are garbage between
		// frames, skipped as before.
		b = b[1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
		return segmentStart(b)
	}
	return b[0] != '\n' && b[0] != StartBlock
}

// segmentStart reports whether b starts like an HL7 segment: a segment ID,
// then a field separator (printable, not a letter or digit).
func segmentStart(b []byte) bool {
	if len(b) < 4 || !hl7.ValidID(string(b[:3])) {
		return false
	}
	c := b[3]
	return c > ' ' && c < 0x7f && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9')
}

// endFrame consumes the optional carriage return after an end block without
// blocking: if it has not arrived yet, the next findStart drops it.
func (r *Reader) endFrame() {
	r.pending = pendingEnd
	if r.br.Buffered() == 0 {
		return
	}
	b, _ := r.br.Peek(min(r.br.Buffered(), 2))
	switch {
	case len(b) == 2 && b[0] == CarriageReturn && b[1] == '\n':
		_, _ = r.br.Discard(2) // FS CR LF, as some senders end frames
		r.pending = 0
	case b[0] == CarriageReturn:
		_, _ = r.br.Discard(1)
		r.pending = pendingLF // its LF may come in the next read
	case b[0] == '\n':
		_, _ = r.br.Discard(1)
		r.pending = 0
	default:
		r.pending = 0
	}
}

// What may still end a frame (Reader.pending).
const (
	pendingEnd uint8 = 1 + iota // a CR or an LF
	pendingLF                   // the LF of CR LF
)

// frameBuffers caches frame-sized write buffers. It is a cache only: no
// state survives a WriteFrame call.
var frameBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledFrame bounds the buffers kept in frameBuffers.
const maxPooledFrame = 64 << 10

// WriteFrame writes payload to w as one frame, in a single Write call. It
// returns ErrInvalidPayload, writing nothing, if payload contains a start or
// end block byte.
func WriteFrame(w io.Writer, payload []byte) error {
	if !validPayload(payload) {
		return ErrInvalidPayload
	}
	bp := frameBuffers.Get().(*[]byte)
	buf := append((*bp)[:0], StartBlock)
	buf = append(buf, payload...)
	buf = append(buf, EndBlock, CarriageReturn)
	_, err := w.Write(buf)
	if cap(buf) <= maxPooledFrame {
		*bp = buf[:0]
		frameBuffers.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("mllp: write frame: %w", err)
	}
	return nil
}

// validPayload reports whether payload can be framed: it contains neither a
// start nor an end block byte.
func validPayload(payload []byte) bool {
	return bytes.IndexByte(payload, StartBlock) < 0 && bytes.IndexByte(payload, EndBlock) < 0
}
