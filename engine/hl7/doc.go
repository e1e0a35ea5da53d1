// Package hl7 reads and writes HL7 version 2 messages: it parses a message
// (delimiters, character set, segments, fields, repetitions, components and
// sub-components), resolves escape sequences, gives path and typed access to
// values, encodes messages back to the wire, validates the header and builds
// acknowledgments (ACK/NAK).
//
// # Parsing
//
// [Parse] keeps the received bytes ([Message.Raw]) and works on a UTF-8 copy
// of them: the character set named in MSH-18 (or [ParseOptions.FallbackCharset])
// is decoded before the message is split on its delimiters, because in
// multi-byte sets such as GB 18030 and Big5 a trailing byte may equal a
// delimiter.
//
// The parser is lenient about framing and strict about structure:
//
//   - segments may end in CR, LF or CRLF, mixed within one message;
//   - a leading UTF-8 byte order mark, whitespace before the message, blank
//     lines (anywhere, including after the message) and blanks before a
//     segment name are ignored; blanks at the end of a segment are data;
//   - a line that does not start with a segment name (three characters, an
//     upper-case letter then upper-case letters or digits, followed by the
//     field separator or the end of the line) is an error (code 100): it is
//     mostly the rest of a segment after an unescaped line break, whose
//     fields would otherwise be lost. With [ParseOptions.Lenient] it is
//     skipped (it stays in Raw but is not encoded again);
//   - the message must start with MSH, and MSH-2 must hold distinct encoding
//     characters. The common mistake "^~\\&" (a doubled escape character) is
//     read as "^~\&".
//
// Fields are split when the message is parsed; repetitions, components and
// sub-components are found on access without allocating, and a [Message] that
// is not being modified may be read from several goroutines at once.
//
// # Values
//
// [Message.Get] takes a terser-style path ("PID-3(2).1", "OBX(2)-5") and
// returns the value with escape sequences resolved. A path that stops above
// the leaf level (for example "PID-3" when PID-3 has components) returns the
// element's wire text, delimiters and escape sequences included, so that its
// structure is not lost. The HL7 explicit null "" is returned as the two
// quote characters; use [Field.IsNull] to test for it.
package hl7
