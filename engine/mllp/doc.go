// Package mllp carries HL7 v2 messages over TCP with the Minimal Lower Layer
// Protocol: framing on any io.Reader/io.Writer, a bounded server and an
// ACK-matching client.
//
// A frame is a start block (0x0B), the payload, an end block (0x1C) and a
// carriage return (0x0D). The payload may contain neither 0x0B nor 0x1C; the
// trailing carriage return is optional when reading.
//
// The package knows nothing about HL7 beyond what the client needs to match an
// acknowledgement to its message (MSH-10 and MSA-2). Building ACKs and NAKs is
// the caller's job. Nothing here logs message content: only sizes, peers and
// errors.
package mllp
