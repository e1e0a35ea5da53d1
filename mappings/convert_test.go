package mappings

import "testing"

// TestDecimalText: an HL7 NM value becomes a valid JSON number with its
// decimal places; anything else is not a number (the value is left out with
// an invalid-value warning, never written as invalid JSON).
func TestDecimalText(t *testing.T) {
	for in, want := range map[string]string{
		"120.00": "120.00", "-20.00": "-20.00", "+20": "20", " 20 ": "20", "020.50": "20.50",
		".5": "0.5", "-.5": "-0.5", "20.": "20", "-0": "0", "-0.00": "0.00", "0": "0", "-020.": "-20",
	} {
		if got, ok := decimalText(in); !ok || got != want {
			t.Errorf("decimalText(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", "+", ".", "-.", "1.5e-2", "1e3", "inf", "-inf", "NaN", "0x10", "20.5.1", "--5", "+-20", "1,5", "2 0"} {
		if got, ok := decimalText(in); ok {
			t.Errorf("decimalText(%q) = %q; want not a number", in, got)
		}
	}
}
