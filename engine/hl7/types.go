package hl7

// Typed readers for the composite data types the mappings use. Each ParseX
// takes one value (a field repetition, or a component when the type is
// nested, such as HD in CX.4) and returns its components decoded. Fields
// the sender left empty are "". The Message methods of the same name return
// one value per repetition of the field at a path.

// HD is a hierarchic designator (an application, facility or assigning
// authority).
type HD struct {
	NamespaceID     string // HD.1
	UniversalID     string // HD.2, such as an OID
	UniversalIDType string // HD.3, such as "ISO"
}

// ParseHD reads an HD value.
func ParseHD(f Field) HD {
	return HD{
		NamespaceID:     f.Component(1).String(),
		UniversalID:     f.Component(2).String(),
		UniversalIDType: f.Component(3).String(),
	}
}

// IsZero reports whether no component is valued.
func (h HD) IsZero() bool { return h == HD{} }

// CX is an extended composite ID with check digit, such as a medical record
// number in PID-3.
type CX struct {
	ID                          string // CX.1
	CheckDigit                  string // CX.2
	CheckDigitScheme            string // CX.3
	AssigningAuthority          HD     // CX.4
	IdentifierTypeCode          string // CX.5, HL7 table 0203 (MR, NH, VN ...)
	AssigningFacility           HD     // CX.6
	EffectiveDate               string // CX.7
	ExpirationDate              string // CX.8
	AssigningJurisdiction       CWE    // CX.9
	AssigningAgencyOrDepartment CWE    // CX.10
}

// ParseCX reads a CX value.
func ParseCX(f Field) CX {
	return CX{
		ID:                          f.Component(1).String(),
		CheckDigit:                  f.Component(2).String(),
		CheckDigitScheme:            f.Component(3).String(),
		AssigningAuthority:          ParseHD(f.Component(4)),
		IdentifierTypeCode:          f.Component(5).String(),
		AssigningFacility:           ParseHD(f.Component(6)),
		EffectiveDate:               f.Component(7).String(),
		ExpirationDate:              f.Component(8).String(),
		AssigningJurisdiction:       ParseCWE(f.Component(9)),
		AssigningAgencyOrDepartment: ParseCWE(f.Component(10)),
	}
}

// XPN is an extended person name.
type XPN struct {
	FamilyName             string // XPN.1.1 (FN.1 surname; the whole of XPN.1 before v2.3)
	GivenName              string // XPN.2
	MiddleName             string // XPN.3, further given names or initials
	Suffix                 string // XPN.4, such as "JR"
	Prefix                 string // XPN.5, such as "DR"
	Degree                 string // XPN.6
	NameTypeCode           string // XPN.7, HL7 table 0200 (L legal, D display ...)
	NameRepresentationCode string // XPN.8
	ProfessionalSuffix     string // XPN.14
}

// ParseXPN reads an XPN value.
func ParseXPN(f Field) XPN {
	return XPN{
		FamilyName:             f.Component(1).Component(1).String(),
		GivenName:              f.Component(2).String(),
		MiddleName:             f.Component(3).String(),
		Suffix:                 f.Component(4).String(),
		Prefix:                 f.Component(5).String(),
		Degree:                 f.Component(6).String(),
		NameTypeCode:           f.Component(7).String(),
		NameRepresentationCode: f.Component(8).String(),
		ProfessionalSuffix:     f.Component(14).String(),
	}
}

// XAD is an extended address.
type XAD struct {
	Street           string // XAD.1.1 (SAD.1 street or mailing address)
	OtherDesignation string // XAD.2
	City             string // XAD.3
	State            string // XAD.4, state or province
	PostalCode       string // XAD.5
	Country          string // XAD.6, ISO 3166
	AddressType      string // XAD.7, HL7 table 0190 (H home, B business ...)
	OtherGeographic  string // XAD.8
	CountyParish     string // XAD.9
	CensusTract      string // XAD.10
}

// ParseXAD reads an XAD value.
func ParseXAD(f Field) XAD {
	return XAD{
		Street:           f.Component(1).Component(1).String(),
		OtherDesignation: f.Component(2).String(),
		City:             f.Component(3).String(),
		State:            f.Component(4).String(),
		PostalCode:       f.Component(5).String(),
		Country:          f.Component(6).String(),
		AddressType:      f.Component(7).String(),
		OtherGeographic:  f.Component(8).String(),
		CountyParish:     f.Component(9).String(),
		CensusTract:      f.Component(10).String(),
	}
}

// XTN is an extended telecommunication number, in the layout used since
// v2.3 (before v2.3, TN is a single string and only Number is valued).
type XTN struct {
	Number            string // XTN.1, formatted number (deprecated in v2.6 and later)
	UseCode           string // XTN.2, HL7 table 0201 (PRN, WPN, NET ...)
	EquipmentType     string // XTN.3, HL7 table 0202 (PH, CP, Internet ...)
	Email             string // XTN.4
	CountryCode       string // XTN.5
	AreaCode          string // XTN.6
	LocalNumber       string // XTN.7
	Extension         string // XTN.8
	AnyText           string // XTN.9
	UnformattedNumber string // XTN.12
}

// ParseXTN reads an XTN value.
func ParseXTN(f Field) XTN {
	return XTN{
		Number:            f.Component(1).String(),
		UseCode:           f.Component(2).String(),
		EquipmentType:     f.Component(3).String(),
		Email:             f.Component(4).String(),
		CountryCode:       f.Component(5).String(),
		AreaCode:          f.Component(6).String(),
		LocalNumber:       f.Component(7).String(),
		Extension:         f.Component(8).String(),
		AnyText:           f.Component(9).String(),
		UnformattedNumber: f.Component(12).String(),
	}
}

// Telephone returns the best telephone number the value holds: XTN.12 when
// valued, else XTN.1, else one assembled from XTN.5-8 ("+44 (1632) 960001
// x12"); "" when there is none (for example an e-mail address only).
func (x XTN) Telephone() string {
	switch {
	case x.UnformattedNumber != "":
		return x.UnformattedNumber
	case x.Number != "":
		return x.Number
	case x.LocalNumber == "":
		return ""
	}
	s := ""
	if x.CountryCode != "" {
		s += "+" + x.CountryCode + " "
	}
	if x.AreaCode != "" {
		s += "(" + x.AreaCode + ") "
	}
	s += x.LocalNumber
	if x.Extension != "" {
		s += " x" + x.Extension
	}
	return s
}

// CWE is a coded value with exceptions; it also reads CE (whose components
// are its first six) and CNE.
type CWE struct {
	Code             string // CWE.1 identifier
	Text             string // CWE.2
	System           string // CWE.3 name of coding system, such as "LN" or "HL70063"
	AltCode          string // CWE.4
	AltText          string // CWE.5
	AltSystem        string // CWE.6
	SystemVersion    string // CWE.7
	AltSystemVersion string // CWE.8
	OriginalText     string // CWE.9
}

// CE is the coded element of versions before 2.6, read as a CWE.
type CE = CWE

// ParseCWE reads a CWE, CNE or CE value.
func ParseCWE(f Field) CWE {
	return CWE{
		Code:             f.Component(1).String(),
		Text:             f.Component(2).String(),
		System:           f.Component(3).String(),
		AltCode:          f.Component(4).String(),
		AltText:          f.Component(5).String(),
		AltSystem:        f.Component(6).String(),
		SystemVersion:    f.Component(7).String(),
		AltSystemVersion: f.Component(8).String(),
		OriginalText:     f.Component(9).String(),
	}
}

// ParseCE reads a CE value; it is ParseCWE.
func ParseCE(f Field) CE { return ParseCWE(f) }

// XCN is an extended composite ID number and name for persons, such as an
// attending doctor.
type XCN struct {
	ID                 string // XCN.1
	FamilyName         string // XCN.2.1
	GivenName          string // XCN.3
	MiddleName         string // XCN.4
	Suffix             string // XCN.5
	Prefix             string // XCN.6
	Degree             string // XCN.7
	SourceTable        string // XCN.8
	AssigningAuthority HD     // XCN.9
	NameTypeCode       string // XCN.10
	CheckDigit         string // XCN.11
	CheckDigitScheme   string // XCN.12
	IdentifierTypeCode string // XCN.13
	AssigningFacility  HD     // XCN.14
}

// ParseXCN reads an XCN value.
func ParseXCN(f Field) XCN {
	return XCN{
		ID:                 f.Component(1).String(),
		FamilyName:         f.Component(2).Component(1).String(),
		GivenName:          f.Component(3).String(),
		MiddleName:         f.Component(4).String(),
		Suffix:             f.Component(5).String(),
		Prefix:             f.Component(6).String(),
		Degree:             f.Component(7).String(),
		SourceTable:        f.Component(8).String(),
		AssigningAuthority: ParseHD(f.Component(9)),
		NameTypeCode:       f.Component(10).String(),
		CheckDigit:         f.Component(11).String(),
		CheckDigitScheme:   f.Component(12).String(),
		IdentifierTypeCode: f.Component(13).String(),
		AssigningFacility:  ParseHD(f.Component(14)),
	}
}

// PL is a person location, such as PV1-3.
type PL struct {
	PointOfCare         string // PL.1
	Room                string // PL.2
	Bed                 string // PL.3
	Facility            HD     // PL.4
	LocationStatus      string // PL.5
	PersonLocationType  string // PL.6
	Building            string // PL.7
	Floor               string // PL.8
	LocationDescription string // PL.9
}

// ParsePL reads a PL value.
func ParsePL(f Field) PL {
	return PL{
		PointOfCare:         f.Component(1).String(),
		Room:                f.Component(2).String(),
		Bed:                 f.Component(3).String(),
		Facility:            ParseHD(f.Component(4)),
		LocationStatus:      f.Component(5).String(),
		PersonLocationType:  f.Component(6).String(),
		Building:            f.Component(7).String(),
		Floor:               f.Component(8).String(),
		LocationDescription: f.Component(9).String(),
	}
}

// readAll applies parse to every repetition of the element at path (or to
// the one repetition the path names).
func readAll[T any](m *Message, path string, parse func(Field) T) []T {
	f := m.Field(path)
	reps := f.Repetitions()
	if len(reps) == 0 {
		return nil
	}
	out := make([]T, len(reps))
	for i, r := range reps {
		out[i] = parse(r)
	}
	return out
}

// HD reads the HD values at path, one per repetition.
func (m *Message) HD(path string) []HD { return readAll(m, path, ParseHD) }

// CX reads the CX values at path, one per repetition, such as m.CX("PID-3").
func (m *Message) CX(path string) []CX { return readAll(m, path, ParseCX) }

// XPN reads the XPN values at path, one per repetition.
func (m *Message) XPN(path string) []XPN { return readAll(m, path, ParseXPN) }

// XAD reads the XAD values at path, one per repetition.
func (m *Message) XAD(path string) []XAD { return readAll(m, path, ParseXAD) }

// XTN reads the XTN values at path, one per repetition.
func (m *Message) XTN(path string) []XTN { return readAll(m, path, ParseXTN) }

// CWE reads the CWE (or CE, CNE) values at path, one per repetition.
func (m *Message) CWE(path string) []CWE { return readAll(m, path, ParseCWE) }

// XCN reads the XCN values at path, one per repetition.
func (m *Message) XCN(path string) []XCN { return readAll(m, path, ParseXCN) }

// PL reads the PL values at path, one per repetition.
func (m *Message) PL(path string) []PL { return readAll(m, path, ParsePL) }
