package hl7

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

const typed = "MSH|^~\\&|APP^1.2.3^ISO|FAC|C|D|20260101||ADT^A01|1|P|2.5.1\r" +
	"PID|1||MRN7^3^M10^HOSP&1.2.840.1&ISO^MR^WARD&2.3&ISO^20200101^20301231~X1^^^^PI||" +
	"van der Berg&van^Anna^Maria^Jr^Dr^PhD^L~Bergie^^^^^^N||19800214||||" +
	"1 Main St&Main St&1^Apt 2^Springfield^SP^12345^USA^H^^County^44||" +
	"+31 (20) 555-1234^PRN^PH^^31^20^5551234^99^day only^^^+31205551234~^NET^Internet^anna@example.org\r" +
	"PV1|1|I|WARD1^101^A^HOSP&1.2&ISO^^N^BLD^2^West wing||||DOC1^Smith&S^John^Q^III^Dr^MD^^HOSP&1.2&ISO^L^^^NPI^FAC\r" +
	"DG1|1||J18.9^Pneumonia^I10^486^Pneumonia old^I9^2019^^Lung infection\r"

func TestTypedReaders(t *testing.T) {
	m := mustParse(t, typed)
	cx := m.CX("PID-3")
	wantCX := []CX{
		{ID: "MRN7", CheckDigit: "3", CheckDigitScheme: "M10",
			AssigningAuthority: HD{"HOSP", "1.2.840.1", "ISO"}, IdentifierTypeCode: "MR",
			AssigningFacility: HD{"WARD", "2.3", "ISO"}, EffectiveDate: "20200101", ExpirationDate: "20301231"},
		{ID: "X1", IdentifierTypeCode: "PI"},
	}
	if !reflect.DeepEqual(cx, wantCX) {
		t.Errorf("CX = %+v\nwant %+v", cx, wantCX)
	}
	if one := m.CX("PID-3(2)"); len(one) != 1 || one[0].ID != "X1" {
		t.Errorf("CX(PID-3(2)) = %+v", one)
	}
	if none := m.CX("PID-4"); none != nil {
		t.Errorf("CX of empty field = %+v", none)
	}

	xpn := m.XPN("PID-5")
	wantXPN := []XPN{
		{FamilyName: "van der Berg", GivenName: "Anna", MiddleName: "Maria", Suffix: "Jr", Prefix: "Dr", Degree: "PhD", NameTypeCode: "L"},
		{FamilyName: "Bergie", NameTypeCode: "N"},
	}
	if !reflect.DeepEqual(xpn, wantXPN) {
		t.Errorf("XPN = %+v\nwant %+v", xpn, wantXPN)
	}

	xad := m.XAD("PID-11")
	wantXAD := []XAD{{Street: "1 Main St", OtherDesignation: "Apt 2", City: "Springfield", State: "SP",
		PostalCode: "12345", Country: "USA", AddressType: "H", CountyParish: "County", CensusTract: "44"}}
	if !reflect.DeepEqual(xad, wantXAD) {
		t.Errorf("XAD = %+v\nwant %+v", xad, wantXAD)
	}

	xtn := m.XTN("PID-13")
	wantXTN := []XTN{
		{Number: "+31 (20) 555-1234", UseCode: "PRN", EquipmentType: "PH", CountryCode: "31", AreaCode: "20",
			LocalNumber: "5551234", Extension: "99", AnyText: "day only", UnformattedNumber: "+31205551234"},
		{UseCode: "NET", EquipmentType: "Internet", Email: "anna@example.org"},
	}
	if !reflect.DeepEqual(xtn, wantXTN) {
		t.Errorf("XTN = %+v\nwant %+v", xtn, wantXTN)
	}

	pl := m.PL("PV1-3")
	wantPL := []PL{{PointOfCare: "WARD1", Room: "101", Bed: "A", Facility: HD{"HOSP", "1.2", "ISO"},
		PersonLocationType: "N", Building: "BLD", Floor: "2", LocationDescription: "West wing"}}
	if !reflect.DeepEqual(pl, wantPL) {
		t.Errorf("PL = %+v\nwant %+v", pl, wantPL)
	}

	xcn := m.XCN("PV1-7")
	wantXCN := []XCN{{ID: "DOC1", FamilyName: "Smith", GivenName: "John", MiddleName: "Q", Suffix: "III", Prefix: "Dr",
		Degree: "MD", AssigningAuthority: HD{"HOSP", "1.2", "ISO"}, NameTypeCode: "L", IdentifierTypeCode: "NPI",
		AssigningFacility: HD{NamespaceID: "FAC"}}}
	if !reflect.DeepEqual(xcn, wantXCN) {
		t.Errorf("XCN = %+v\nwant %+v", xcn, wantXCN)
	}

	cwe := m.CWE("DG1-3")
	wantCWE := []CWE{{Code: "J18.9", Text: "Pneumonia", System: "I10", AltCode: "486", AltText: "Pneumonia old",
		AltSystem: "I9", SystemVersion: "2019", OriginalText: "Lung infection"}}
	if !reflect.DeepEqual(cwe, wantCWE) {
		t.Errorf("CWE = %+v\nwant %+v", cwe, wantCWE)
	}
	if ce := ParseCE(m.Field("DG1-3")); ce.Code != "J18.9" {
		t.Errorf("ParseCE = %+v", ce)
	}

	hd := m.HD("MSH-3")
	if !reflect.DeepEqual(hd, []HD{{"APP", "1.2.3", "ISO"}}) {
		t.Errorf("HD = %+v", hd)
	}
	if !m.HD("MSH-5")[0].IsZero() == (m.Get("MSH-5") == "") {
		t.Errorf("HD.IsZero wrong")
	}
}

func TestXTNTelephone(t *testing.T) {
	tests := []struct {
		name string
		x    XTN
		want string
	}{
		{"unformatted wins", XTN{Number: "555", UnformattedNumber: "+1555"}, "+1555"},
		{"formatted", XTN{Number: "(555)123-4567"}, "(555)123-4567"},
		{"assembled", XTN{CountryCode: "44", AreaCode: "1632", LocalNumber: "960001", Extension: "12"}, "+44 (1632) 960001 x12"},
		{"local only", XTN{LocalNumber: "960001"}, "960001"},
		{"email only", XTN{Email: "a@example.org"}, ""},
	}
	for _, tt := range tests {
		if got := tt.x.Telephone(); got != tt.want {
			t.Errorf("%s: Telephone() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	amsterdam, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	plus1 := time.FixedZone("", 3600)
	tests := []struct {
		in        string
		loc       *time.Location
		want      time.Time
		precision Precision
		offset    bool
	}{
		{"2026", nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PrecisionYear, false},
		{"202603", nil, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), PrecisionMonth, false},
		{"20260314", nil, time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), PrecisionDay, false},
		{"2026031409", nil, time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC), PrecisionHour, false},
		{"202603140930", nil, time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), PrecisionMinute, false},
		{"20260314093015", nil, time.Date(2026, 3, 14, 9, 30, 15, 0, time.UTC), PrecisionSecond, false},
		{"20260314093015.1", nil, time.Date(2026, 3, 14, 9, 30, 15, 100e6, time.UTC), PrecisionTenthSecond, false},
		{"20260314093015.12", nil, time.Date(2026, 3, 14, 9, 30, 15, 120e6, time.UTC), PrecisionHundredthSecond, false},
		{"20260314093015.123", nil, time.Date(2026, 3, 14, 9, 30, 15, 123e6, time.UTC), PrecisionMillisecond, false},
		{"20260314093015.1234", nil, time.Date(2026, 3, 14, 9, 30, 15, 123400e3, time.UTC), PrecisionTenthMillisecond, false},
		{"20260314093015+0100", nil, time.Date(2026, 3, 14, 9, 30, 15, 0, plus1), PrecisionSecond, true},
		{"20150601160901.12+0100", nil, time.Date(2015, 6, 1, 16, 9, 1, 120e6, plus1), PrecisionHundredthSecond, true},
		{"202603140930-0530", nil, time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("", -19800)), PrecisionMinute, true},
		{"20260314+0000", amsterdam, time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), PrecisionDay, true},
		// No offset: the sender's zone applies, including summer time.
		{"20260714120000", amsterdam, time.Date(2026, 7, 14, 10, 0, 0, 0, time.UTC), PrecisionSecond, false},
		{"20260114120000", amsterdam, time.Date(2026, 1, 14, 11, 0, 0, 0, time.UTC), PrecisionSecond, false},
		{"  20260314 ", nil, time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), PrecisionDay, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, tt.loc)
			if err != nil {
				t.Fatalf("ParseTime: %v", err)
			}
			if !got.Time.Equal(tt.want) || got.Precision != tt.precision || got.HasOffset != tt.offset {
				t.Errorf("ParseTime = %v %v offset %v, want %v %v offset %v",
					got.Time, got.Precision, got.HasOffset, tt.want, tt.precision, tt.offset)
			}
			if _, off := got.Time.Zone(); tt.offset {
				if _, wantOff := tt.want.Zone(); off != wantOff && tt.want.Location() != time.UTC {
					t.Errorf("offset %d, want %d", off, wantOff)
				}
			}
			if s := got.String(); s != trimBlank(tt.in) {
				t.Errorf("String() = %q, want %q", s, trimBlank(tt.in))
			}
		})
	}
}

func trimBlank(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

func TestParseTimeEmptyAndErrors(t *testing.T) {
	for _, in := range []string{"", `""`, "   "} {
		got, err := ParseTime(in, nil)
		if err != nil || !got.IsZero() {
			t.Errorf("ParseTime(%q) = %v, %v; want zero, nil", in, got, err)
		}
	}
	for _, in := range []string{"20", "202", "2026031", "20261301", "20260230", "2026031425", "202603142360",
		"20260314235960", "20260314093015.", "20260314093015.12345", "2026031409.5", "20260314+01", "20260314+2500",
		"2026x314", "20260314+01x0", "-0100", "2004062916460000"} {
		if _, err := ParseTime(in, nil); !errors.Is(err, ErrInvalidTime) {
			t.Errorf("ParseTime(%q) error = %v, want ErrInvalidTime", in, err)
		}
	}
}

func TestMessageTime(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|20260101120000+0100||ADT^A01|1|P|2.3\rEVN|A01|200603150625^M\rPID|1||1||X||19800214")
	tests := []struct {
		path string
		want string
	}{
		{"MSH-7", "20260101120000+0100"},
		{"EVN-2", "200603150625"}, // TS with degree of precision component (before v2.6)
		{"PID-7", "19800214"},
	}
	for _, tt := range tests {
		got, err := m.Time(tt.path, nil)
		if err != nil || got.String() != tt.want {
			t.Errorf("Time(%q) = %q, %v; want %q", tt.path, got.String(), err, tt.want)
		}
	}
	if _, err := m.Time("bad", nil); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Time(bad) error = %v", err)
	}
}
