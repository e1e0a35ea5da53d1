package archive_test

import (
	"fmt"
	"strings"

	"github.com/carebridge/carebridge/engine/archive"
)

// A capture mixing an MLLP frame, a batch and a plain message with LF
// segment terminators yields the three messages without their framing.
func ExampleScanner() {
	input := "\x0bMSH|^~\\&|LAB|GENHOSP|||20260101||ORU^R01|L1|P|2.5.1\rPID|1||MRN1\r\x1c\r" +
		"BHS|^~\\&\rMSH|^~\\&|ADT|GENHOSP|||20260101||ADT^A08|A1|P|2.5.1\rBTS|2\r" +
		"MSH|^~\\&|SCHED|GENHOSP|||20260101||SIU^S12|S1|P|2.5.1\nSCH|1\n"
	s := archive.NewScanner(strings.NewReader(input), "capture.hl7",
		archive.OnWarning(func(w archive.Warning) { fmt.Println("warning:", w) }))
	for s.Scan() {
		m := s.Message()
		segments := strings.FieldsFunc(string(m.Raw), func(r rune) bool { return r == '\r' || r == '\n' })
		fmt.Printf("message %d at offset %d: %q\n", m.Index, m.Offset, segments)
	}
	if err := s.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// message 1 at offset 1: ["MSH|^~\\&|LAB|GENHOSP|||20260101||ORU^R01|L1|P|2.5.1" "PID|1||MRN1"]
	// message 2 at offset 76: ["MSH|^~\\&|ADT|GENHOSP|||20260101||ADT^A08|A1|P|2.5.1"]
	// warning: capture.hl7: offset 128: BTS-1 says 2 messages, the BHS at offset 67 holds 1
	// message 3 at offset 134: ["MSH|^~\\&|SCHED|GENHOSP|||20260101||SIU^S12|S1|P|2.5.1" "SCH|1"]
}
