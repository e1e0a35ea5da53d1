package mllp

import "testing"

func TestControlID(t *testing.T) {
	tests := []struct {
		name, msg, want string
	}{
		{"minimal", `MSH|^~\&|A|B|C|D|E|F|G|CTRL`, "CTRL"},
		{"full header", "MSH|^~\\&|HIS|GEN|CB|CB|20240102||ADT^A01|MSG0001|P|2.5.1\rPID|1\r", "MSG0001"},
		{"components kept whole", "MSH|^~\\&|A|B|C|D|E||ADT^A01|ID^PART2|P|2.5\r", "ID^PART2"},
		{"LF terminators", "MSH|^~\\&|A|B|C|D|E||ADT^A01|LF1|P|2.5\nPID|1\n", "LF1"},
		{"CRLF terminators", "MSH|^~\\&|A|B|C|D|E||ADT^A01|CRLF1|P|2.5\r\nPID|1\r\n", "CRLF1"},
		{"leading newline", "\r\nMSH|^~\\&|A|B|C|D|E||ADT^A01|LEAD|P|2.5\r", "LEAD"},
		{"other field separator", "MSH#^~\\&#A#B#C#D#E##ADT^A01#HASH#P#2.5\r", "HASH"},
		{"empty control id", "MSH|^~\\&|A|B|C|D|E||ADT^A01||P|2.5\r", ""},
		{"too few fields", "MSH|^~\\&|A|B|C\rPID|1|2|3|4|5|6|7|8|9|10\r", ""},
		{"not an HL7 message", "hello", ""},
		{"empty", "", ""},
		{"MSH without separator", "MSH\rPID|1\r", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(controlID([]byte(tt.msg))); got != tt.want {
				t.Errorf("controlID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAckControlID(t *testing.T) {
	tests := []struct {
		name, ack, want string
	}{
		{"plain", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK^A01|ACK1|P|2.5.1\rMSA|AA|MSG0001\r", "MSG0001"},
		{"with text", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A|P|2.5\rMSA|AE|MSG0002|bad PID\rERR|||207\r", "MSG0002"},
		{"LF terminators", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A|P|2.5\nMSA|AA|LF2\n", "LF2"},
		{"components kept whole", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A|P|2.5\rMSA|AA|ID^PART2\r", "ID^PART2"},
		{"other field separator", "MSH#^~\\&#CB#CB#HIS#GEN#20240102##ACK#A#P#2.5\rMSA#AA#HASH\r", "HASH"},
		{"MSA without MSH", "MSA|CA|BARE", "BARE"},
		{"no MSA", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A|P|2.5\r", ""},
		{"MSA-2 missing", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A|P|2.5\rMSA|AR\r", ""},
		{"MSAX is not MSA", "MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A|P|2.5\rMSAX|AA|NO\r", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(ackControlID([]byte(tt.ack))); got != tt.want {
				t.Errorf("ackControlID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestControlIDAllocations(t *testing.T) {
	msg := []byte("MSH|^~\\&|HIS|GEN|CB|CB|20240102||ADT^A01|MSG0001|P|2.5.1\rPID|1\r")
	ack := []byte("MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK^A01|ACK1|P|2.5.1\rMSA|AA|MSG0001\r")
	if n := testing.AllocsPerRun(100, func() {
		controlID(msg)
		ackControlID(ack)
	}); n != 0 {
		t.Errorf("control id extraction allocates %v times, want 0", n)
	}
}

func FuzzControlID(f *testing.F) {
	f.Add([]byte("MSH|^~\\&|A|B|C|D|E||ADT^A01|X|P|2.5\rMSA|AA|X\r"))
	f.Add([]byte("MSA\r"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		controlID(msg)
		ackControlID(msg)
	})
}
