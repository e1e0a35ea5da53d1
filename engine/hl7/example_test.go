package hl7_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
)

func ExampleParse() {
	raw := []byte("MSH|^~\\&|ADT|HOSP|CB|CB|20260101120000+0100||ADT^A01^ADT_A01|MSG1|P|2.5.1\r" +
		"PID|1||MRN1^^^HOSP^MR~NHS9^^^NHS^NH||Example^Erin^^^Ms||19900101|F\r")
	m, err := hl7.Parse(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Type(), m.ControlID(), m.Version())
	fmt.Println(m.Get("PID-3(2).1"), m.Get("PID-5.1"), m.Get("MSH-9"))
	for _, id := range m.CX("PID-3") {
		fmt.Println(id.ID, id.AssigningAuthority.NamespaceID, id.IdentifierTypeCode)
	}
	// Output:
	// ADT^A01 MSG1 2.5.1
	// NHS9 Example ADT^A01^ADT_A01
	// MRN1 HOSP MR
	// NHS9 NHS NH
}

func ExampleMessage_Get_escapes() {
	m, _ := hl7.Parse([]byte("MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBX|1|FT|||Fish \\T\\ chips\\.br\\Pie \\S\\ mash"))
	fmt.Println(m.Get("OBX-5"))
	// Output:
	// Fish & chips
	// Pie ^ mash
}

func ExampleParseTime() {
	sender, _ := time.LoadLocation("Europe/London")
	t, _ := hl7.ParseTime("20260701093000", sender)
	fmt.Println(t.Time.UTC().Format(time.RFC3339), t.Precision, t.HasOffset)
	// Output: 2026-07-01T08:30:00Z second false
}

func ExampleAck() {
	m, _ := hl7.Parse([]byte("MSH|^~\\&|ADT|HOSP|CB|CB|20260101120000||ADT^A01^ADT_A01|MSG1|P|2.5.1\rPID|1"))
	acker := hl7.Acker{
		Now:       func() time.Time { return time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC) },
		ControlID: func() string { return "ACK1" },
	}
	errs := hl7.Validate(m) // none here
	code := hl7.AckCodeFor(m, hl7.Accepted)
	ack := acker.Ack(m, code, "", errs...)
	fmt.Println(strings.ReplaceAll(string(ack), "\r", "\n"))

	nak := acker.Ack(m, hl7.AckCodeFor(m, hl7.Rejected), "rejected",
		hl7.ErrorDetail{Location: "PID^1^3", Code: hl7.CodeRequiredFieldMissing, Text: "PID-3 is empty"})
	fmt.Println(strings.ReplaceAll(string(nak), "\r", "\n"))
	// Output:
	// MSH|^~\&|CB|CB|ADT|HOSP|20260101120001+0000||ACK^A01^ACK|ACK1|P|2.5.1
	// MSA|AA|MSG1
	//
	// MSH|^~\&|CB|CB|ADT|HOSP|20260101120001+0000||ACK^A01^ACK|ACK1|P|2.5.1
	// MSA|AR|MSG1|rejected
	// ERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 is empty
}

func ExampleAckFromRaw() {
	nak := hl7.AckFromRaw([]byte("this is not HL7"), hl7.ApplicationReject)
	m, _ := hl7.Parse(nak)
	fmt.Println(m.Get("MSA-1"), m.Get("ERR-3.1"), m.Get("ERR-3.2"))
	// Output: AR 100 Segment sequence error
}
