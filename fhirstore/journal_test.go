package fhirstore

import "testing"

func TestSameMessage(t *testing.T) {
	const msg = "MSH|^~\\&|APP|FAC|CB|CB|20261201120000||ADT^A08|C1|P|2.5.1\rPID|1||X1^^^FAC^MR\r"
	for _, tc := range []struct {
		name string
		b    string
		same bool
	}{
		{"identical", msg, true},
		{"CRLF and no final terminator", "MSH|^~\\&|APP|FAC|CB|CB|20261201120000||ADT^A08|C1|P|2.5.1\r\nPID|1||X1^^^FAC^MR", true},
		{"empty lines", "MSH|^~\\&|APP|FAC|CB|CB|20261201120000||ADT^A08|C1|P|2.5.1\r\r\nPID|1||X1^^^FAC^MR\n\n", true},
		{"resent with a new MSH-7", "MSH|^~\\&|APP|FAC|CB|CB|20261201120500||ADT^A08|C1|P|2.5.1\rPID|1||X1^^^FAC^MR\r", true},
		{"another patient", "MSH|^~\\&|APP|FAC|CB|CB|20261201120000||ADT^A08|C1|P|2.5.1\rPID|1||X2^^^FAC^MR\r", false},
		{"another event", "MSH|^~\\&|APP|FAC|CB|CB|20261201120000||ADT^A01|C1|P|2.5.1\rPID|1||X1^^^FAC^MR\r", false},
		{"a segment more", msg + "PV1|1|I\r", false},
		{"PID-7 is not MSH-7", "MSH|^~\\&|APP|FAC|CB|CB|20261201120000||ADT^A08|C1|P|2.5.1\rPID|1||X1^^^FAC^MR|||19800101\r", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SameMessage([]byte(msg), []byte(tc.b)); got != tc.same {
				t.Errorf("SameMessage = %v, want %v", got, tc.same)
			}
		})
	}
}
