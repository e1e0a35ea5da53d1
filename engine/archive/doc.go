// Package archive reads archives of HL7 v2 messages as a stream of
// messages, whatever way they were stored.
//
// A Scanner recognises, per file and mixed within one file:
//
//   - back-to-back messages: every message starts with a line beginning
//     "MSH"; segments end in CR, LF or CRLF; blank lines between messages
//     and a UTF-8 byte order mark are ignored;
//   - HL7 batch files: FHS, BHS, BTS and FTS lines are envelope lines and
//     are not part of any message; batches may be nested in a file
//     envelope; a message count in BTS-1 (or FTS-1) that does not match
//     the contents is reported as a Warning, not an error;
//   - MLLP captures: 0x0B starts a frame and 0x1C (followed by 0x0D) ends
//     it; bytes between frames that do not form a message are skipped
//     with a Warning;
//   - gzip compression of any of these (Open detects it by its magic bytes
//     0x1f 0x8b, not by the file name).
//
// A message ends where the next one starts ("MSH" at the start of a line),
// at an envelope line, at a frame boundary or at the end of the input. Its
// bytes are kept exactly as they are in the file, except that framing and
// envelope lines are removed and the trailing segment terminator (and any
// blank lines after it) is trimmed.
//
// Memory stays bounded whatever the archive size: a Scanner holds at most
// one message (limited by MaxMessageSize) plus a read buffer.
package archive
