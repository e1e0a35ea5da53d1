package mllp

import "bytes"

// controlID returns MSH-10 (message control id) of an HL7 v2 message, or nil
// if msg does not start with a well-formed MSH segment. The whole field is
// returned, components included. The result aliases msg.
func controlID(msg []byte) []byte {
	seg, sep, ok := mshSegment(msg)
	if !ok {
		return nil
	}
	// seg[3] is the field separator (MSH-1); splitting on it, "MSH" is piece
	// 0, MSH-2 piece 1, ..., MSH-10 piece 9.
	return field(seg, sep, 9)
}

// ackControlID returns MSA-2 (the control id of the acknowledged message) of
// an HL7 v2 acknowledgement, or nil if it has no MSA segment. The result
// aliases ack.
func ackControlID(ack []byte) []byte {
	_, sep, ok := mshSegment(ack)
	for rest := ack; len(rest) > 0; {
		var seg []byte
		seg, rest = nextSegment(rest)
		if len(seg) < 4 || string(seg[:3]) != "MSA" {
			continue
		}
		switch {
		case !ok:
			sep = seg[3]
		case seg[3] != sep:
			continue
		}
		return field(seg, sep, 2)
	}
	return nil
}

// mshSegment returns the MSH segment at the start of msg and its field
// separator.
func mshSegment(msg []byte) (seg []byte, sep byte, ok bool) {
	msg = bytes.TrimLeft(msg, "\r\n")
	if len(msg) < 4 || string(msg[:3]) != "MSH" {
		return nil, 0, false
	}
	sep = msg[3]
	if sep == '\r' || sep == '\n' {
		return nil, 0, false
	}
	seg, _ = nextSegment(msg)
	return seg, sep, true
}

// nextSegment splits off the first segment of msg; segments end with CR or
// LF (or both).
func nextSegment(msg []byte) (seg, rest []byte) {
	i := bytes.IndexAny(msg, "\r\n")
	if i < 0 {
		return msg, nil
	}
	return msg[:i], msg[i+1:]
}

// field returns the piece of seg at index n when split on sep, or nil if seg
// has fewer pieces.
func field(seg []byte, sep byte, n int) []byte {
	for ; n > 0; n-- {
		i := bytes.IndexByte(seg, sep)
		if i < 0 {
			return nil
		}
		seg = seg[i+1:]
	}
	if i := bytes.IndexByte(seg, sep); i >= 0 {
		seg = seg[:i]
	}
	return seg
}
