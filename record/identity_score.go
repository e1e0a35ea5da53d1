package record

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/carebridge/carebridge/fhirstore"
)

// The fields a MatchConfig scores, in the order Score reports them.
const (
	FieldName       = "name"
	FieldBirthDate  = "birth_date"
	FieldGender     = "gender"
	FieldPhone      = "phone"
	FieldNationalID = "national_id"
	FieldAddress    = "address"
)

var matchFields = []string{FieldName, FieldBirthDate, FieldGender, FieldPhone, FieldNationalID, FieldAddress}

// The outcomes of comparing one field.
const (
	OutcomeAgree    = "agree"
	OutcomePartial  = "partial"
	OutcomeDisagree = "disagree"
	OutcomeMissing  = "missing" // either side lacks the field: 0 points
)

// Decision is what a Score means for the incoming patient.
type Decision string

// The decisions of MatchConfig.Decide.
const (
	DecisionLink   Decision = "link"   // the same patient: link automatically
	DecisionReview Decision = "review" // possibly the same: a person decides
	DecisionNew    Decision = "new"    // another patient
)

// FieldWeights are the points one field adds to a score for each outcome
// (missing always adds 0). Agree is positive, Partial between 0 and Agree,
// Disagree 0 or negative.
type FieldWeights struct {
	Agree    float64 `yaml:"agree"`
	Partial  float64 `yaml:"partial"`
	Disagree float64 `yaml:"disagree"`
}

// MatchConfig configures probabilistic (Fellegi–Sunter style) identity
// matching, used when no identifier links an incoming patient to a stored
// one: each field compared adds the points of its outcome, and the total is
// held against two thresholds in the same points.
type MatchConfig struct {
	// AutoLink is the score from which the patients are linked
	// automatically.
	AutoLink float64 `yaml:"auto_link"`
	// Review is the score from which a person is asked to decide; it is
	// below AutoLink.
	Review float64 `yaml:"review"`
	// Fields weighs each field by name (name, birth_date, gender, phone,
	// national_id, address). A field left out keeps its default weights;
	// all weights 0 switch a field off.
	Fields map[string]FieldWeights `yaml:"fields"`
	// NationalIDSystems are identifier systems holding national ids (a
	// social security or resident id number), besides identifiers typed NI.
	NationalIDSystems []string `yaml:"national_id_systems"`
}

// DefaultMatchConfig returns the default matching configuration. Points
// are roughly log2 likelihood ratios (how much likelier the outcome is for
// the same person than for two different people), rounded:
//
//	field        agree  partial  disagree
//	name           +8      +4       -5    partial: one typo (Jaro–Winkler ≥ 0.9) in family or given, family and given swapped, an initial or shortened given name, or no given name on one side; a typo in the family name with given names that agree on what both have (extra middle names on one side, initials, a first name shortened to three letters or more)
//	birth_date     +6      +2       -6    partial: day and month swapped, one digit off, or one side less precise
//	gender         +1       0       -3    "unknown" counts as missing
//	phone          +4       0       -1    the last 8 digits of any phone; people change numbers, households share them
//	national_id   +12       0      -12    identifiers typed NI or in NationalIDSystems, same system; no partial (twins may have consecutive numbers)
//	address        +3      +1       -1    agree: first line and postal code (or city); partial: postal code (or city) only; people move
//
//	auto_link  17   e.g. name with a typo + birth date + gender + phone + address (18),
//	                or national id + name (20)
//	review     10   e.g. name + birth date alone (14), or everything agrees but the national id (10)
//
// Twins (same birth date, address and phone, different given names) score
// 9 without national ids and below 0 with different ones: a new patient.
// The highest possible score is 34.
func DefaultMatchConfig() MatchConfig {
	return MatchConfig{
		AutoLink: 17,
		Review:   10,
		Fields: map[string]FieldWeights{
			FieldName:       {Agree: 8, Partial: 4, Disagree: -5},
			FieldBirthDate:  {Agree: 6, Partial: 2, Disagree: -6},
			FieldGender:     {Agree: 1, Partial: 0, Disagree: -3},
			FieldPhone:      {Agree: 4, Partial: 0, Disagree: -1},
			FieldNationalID: {Agree: 12, Partial: 0, Disagree: -12},
			FieldAddress:    {Agree: 3, Partial: 1, Disagree: -1},
		},
	}
}

// weights returns the weights of field: configured, else the default.
func (c MatchConfig) weights(field string) FieldWeights {
	if w, ok := c.Fields[field]; ok {
		return w
	}
	return DefaultMatchConfig().Fields[field]
}

// Validate checks the thresholds and weights, and reports every problem at
// once.
func (c MatchConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("identity: "+format, args...))
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	if !finite(c.AutoLink) || !finite(c.Review) {
		bad("auto_link and review must be finite numbers")
	} else {
		if c.Review <= 0 {
			bad("review (%g) must be above 0: a candidate nothing is known about scores 0", c.Review)
		}
		if c.Review >= c.AutoLink {
			bad("review (%g) must be below auto_link (%g)", c.Review, c.AutoLink)
		}
	}
	var unknown []string
	for name := range c.Fields {
		if !slices.Contains(matchFields, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		bad("unknown field %q in fields (known: %s)", name, strings.Join(matchFields, ", "))
	}
	highest := 0.0
	for _, name := range matchFields {
		w := c.weights(name)
		switch {
		case !finite(w.Agree) || !finite(w.Partial) || !finite(w.Disagree):
			bad("fields.%s: weights must be finite numbers", name)
			continue
		case w.Agree == 0 && w.Partial == 0 && w.Disagree == 0:
			continue // switched off
		case w.Agree <= 0:
			bad("fields.%s.agree (%g) must be above 0", name, w.Agree)
		case w.Partial < 0 || w.Partial > w.Agree:
			bad("fields.%s.partial (%g) must be between 0 and agree (%g)", name, w.Partial, w.Agree)
		}
		if w.Disagree > 0 {
			bad("fields.%s.disagree (%g) must be 0 or below", name, w.Disagree)
		}
		highest += math.Max(w.Agree, 0)
	}
	if len(errs) == 0 && c.AutoLink > highest {
		bad("auto_link (%g) is above the highest possible score (%g)", c.AutoLink, highest)
	}
	return errors.Join(errs...)
}

// Score is the comparison of two patients.
type Score struct {
	Total  float64
	Fields []FieldScore // one per field, in a fixed order
}

// FieldScore is one field's outcome and the points it added.
type FieldScore struct {
	Field   string
	Outcome string // OutcomeAgree, OutcomePartial, OutcomeDisagree or OutcomeMissing
	Points  float64
}

// Score compares an incoming Patient with a stored candidate. It never
// fails: a field missing on either side scores 0.
func (c MatchConfig) Score(incoming, candidate map[string]any) Score {
	var s Score
	for _, field := range matchFields {
		var outcome string
		switch field {
		case FieldName:
			outcome = compareNames(incoming, candidate)
		case FieldBirthDate:
			outcome = compareBirthDates(jsonString(incoming["birthDate"]), jsonString(candidate["birthDate"]))
		case FieldGender:
			outcome = compareGenders(jsonString(incoming["gender"]), jsonString(candidate["gender"]))
		case FieldPhone:
			outcome = comparePhones(incoming, candidate)
		case FieldNationalID:
			outcome = c.compareNationalIDs(incoming, candidate)
		case FieldAddress:
			outcome = compareAddresses(incoming, candidate)
		}
		w := c.weights(field)
		fs := FieldScore{Field: field, Outcome: outcome}
		switch outcome {
		case OutcomeAgree:
			fs.Points = w.Agree
		case OutcomePartial:
			fs.Points = w.Partial
		case OutcomeDisagree:
			fs.Points = w.Disagree
		}
		s.Total += fs.Points
		s.Fields = append(s.Fields, fs)
	}
	return s
}

// Decide turns a score into a decision: link from AutoLink, review from
// Review, otherwise a new patient.
func (c MatchConfig) Decide(s Score) Decision {
	switch {
	case s.Total >= c.AutoLink:
		return DecisionLink
	case s.Total >= c.Review:
		return DecisionReview
	}
	return DecisionNew
}

// Candidate queries.

// candidateCount caps each blocking search: a common birth date in a large
// record returns many patients, and scoring is per candidate.
const candidateCount = 50

// CandidateQueries returns the blocking searches that find the stored
// patients worth scoring against an incoming Patient: the same birth date
// (finds typos in the name); the family name's first letters and the birth
// year (finds typos in the date); the same phone number (its last 8 digits, however written); the same national
// id (identifiers typed NI). Each is capped at 50 results. A patient with
// none of these fields gets no queries.
func CandidateQueries(incoming map[string]any) []fhirstore.Query {
	q := func(params ...fhirstore.Param) fhirstore.Query {
		return fhirstore.Query{Type: "Patient", Params: params, Count: candidateCount}
	}
	var out []fhirstore.Query
	birth := jsonString(incoming["birthDate"])
	if len(birth) >= 10 {
		birth = birth[:10]
		out = append(out, q(fhirstore.Param{Name: "birthdate", Values: []string{"eq" + birth}}))
	}
	if len(birth) >= 4 {
		var prefixes []string
		for _, n := range patientNames(incoming) {
			if p := familyPrefix(n.family); p != "" && !slices.Contains(prefixes, p) {
				prefixes = append(prefixes, p)
			}
		}
		if len(prefixes) > 0 {
			out = append(out, q(
				fhirstore.Param{Name: "family", Values: prefixes},
				fhirstore.Param{Name: "birthdate", Values: []string{"eq" + birth[:4]}},
			))
		}
	}
	var phones []string
	for _, p := range telecomValues(incoming, "phone", "sms") {
		// By the key every stored phone is indexed under too: the same
		// number however written (comparePhones' rule).
		if k := fhirstore.PhoneKey(p); k != "" {
			if t := (fhirstore.TokenValue{System: fhirstore.PhoneKeySystem, Code: k}).String(); !slices.Contains(phones, t) {
				phones = append(phones, t)
			}
		}
	}
	if len(phones) > 0 {
		out = append(out, q(fhirstore.Param{Name: "phone", Values: phones}))
	}
	var ids []string
	for _, id := range nationalIDs(incoming, nil) {
		v := fhirstore.TokenValue{System: id.system, Code: id.raw, AnySystem: id.system == ""}.String()
		if !slices.Contains(ids, v) {
			ids = append(ids, v)
		}
	}
	if len(ids) > 0 {
		out = append(out, q(fhirstore.Param{Name: "identifier", Values: ids}))
	}
	return out
}

// familyPrefix is the start of a family name used for blocking: three
// letters, or the first character of a Han name.
func familyPrefix(family string) string {
	r := []rune(strings.TrimSpace(family))
	switch {
	case len(r) == 0:
		return ""
	case fhirstore.ContainsCJK(string(r[:1])):
		return string(r[:1])
	case len(r) > 3:
		return string(r[:3])
	}
	return string(r)
}

// Names.

type personName struct {
	family string   // as given
	given  []string // as given
	text   string
}

func patientNames(p map[string]any) []personName {
	var out []personName
	for _, v := range jsonList(p["name"]) {
		m, _ := v.(map[string]any)
		if m == nil {
			continue
		}
		n := personName{family: jsonString(m["family"]), text: jsonString(m["text"])}
		for _, g := range jsonList(m["given"]) {
			if s := jsonString(g); s != "" {
				n.given = append(n.given, s)
			}
		}
		if n.family == "" && len(n.given) == 0 && n.text == "" {
			continue
		}
		out = append(out, n)
	}
	return out
}

// normalizedName is a name ready for comparison.
type normalizedName struct {
	han    bool
	full   string // Han names: family and given run together
	family string
	given  []string
}

func normalizePersonName(n personName) normalizedName {
	raw := n.family + strings.Join(n.given, "") + n.text
	// Names in a CJK script are compared by exact normalised text: one
	// character more or less is another name.
	if fhirstore.ContainsCJK(raw) {
		full := normalizeText(n.family + strings.Join(n.given, ""))
		if n.family == "" && len(n.given) == 0 {
			full = normalizeText(n.text)
		}
		return normalizedName{han: true, full: strings.ReplaceAll(full, " ", "")}
	}
	out := normalizedName{family: normalizeText(n.family)}
	for _, g := range n.given {
		for _, part := range strings.Fields(normalizeText(g)) {
			out.given = append(out.given, part)
		}
	}
	if out.family == "" && len(out.given) == 0 && n.text != "" {
		// Only text: its last word is taken as the family name.
		words := strings.Fields(normalizeText(n.text))
		if len(words) > 0 {
			out.family = words[len(words)-1]
			out.given = words[:len(words)-1]
		}
	}
	out.full = strings.TrimSpace(strings.Join(out.given, " ") + " " + out.family)
	return out
}

// compareNames compares every name of one patient with every name of the
// other and keeps the best outcome. Names in CJK scripts compare only with
// names in CJK scripts, by their exact normalised text.
func compareNames(a, b map[string]any) string {
	best := OutcomeMissing
	for _, x := range patientNames(a) {
		nx := normalizePersonName(x)
		for _, y := range patientNames(b) {
			ny := normalizePersonName(y)
			best = better(best, compareName(nx, ny))
		}
	}
	return best
}

func compareName(x, y normalizedName) string {
	if x.han != y.han {
		return OutcomeMissing // not comparable (a Han name and a romanised one)
	}
	if x.han {
		if x.full == "" || y.full == "" {
			return OutcomeMissing
		}
		if x.full == y.full {
			return OutcomeAgree
		}
		return OutcomeDisagree
	}
	if x.family == "" || y.family == "" {
		return OutcomeMissing
	}
	gx, gy := strings.Join(x.given, " "), strings.Join(y.given, " ")
	switch {
	case x.family == y.family && gx == gy:
		return OutcomeAgree
	case len(x.given) == 0 || len(y.given) == 0:
		if x.family == y.family || jaroWinkler(x.family, y.family) >= 0.9 {
			return OutcomePartial
		}
		return OutcomeDisagree
	case x.family == y.given[0] && y.family == x.given[0]:
		return OutcomePartial // family and given swapped
	case x.family == y.family && (jaroWinkler(gx, gy) >= 0.9 || givenAbbreviated(x.given, y.given)):
		return OutcomePartial
	case jaroWinkler(x.family, y.family) >= 0.9 && (givenConsistent(x.given, y.given) || givenShortened(x.given, y.given)):
		// A typo in the family name, and given names that agree on what
		// both have (or a first name shortened): two small differences
		// are no worse than either.
		return OutcomePartial
	}
	return OutcomeDisagree
}

// givenShortened reports whether the first given names are one the short
// form of the other, of three letters or more ("Chris" and "Christopher":
// the prefix, not a nickname), and the other given names agree on what both
// have (givenConsistent).
func givenShortened(x, y []string) bool {
	if len(x) == 0 || len(y) == 0 || !givenAbbreviated(x, y) || min(utf8.RuneCountInString(x[0]), utf8.RuneCountInString(y[0])) < 3 {
		return false
	}
	if len(x) == 1 || len(y) == 1 {
		return true
	}
	return givenConsistent(x[1:], y[1:])
}

// givenConsistent reports whether two lists of given names agree on what
// both have: in each place both fill, the names are equal or one is the
// other's initial ("Oona Beth" and "Oona", "Oona B" and "Oona Beth", "O"
// and "Oona"), so that one side may have more middle names.
func givenConsistent(x, y []string) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	for i := range min(len(x), len(y)) {
		a, b := x[i], y[i]
		if utf8.RuneCountInString(a) > utf8.RuneCountInString(b) {
			a, b = b, a
		}
		if a != b && (utf8.RuneCountInString(a) != 1 || !strings.HasPrefix(b, a)) {
			return false
		}
	}
	return true
}

// givenAbbreviated reports whether the first given names are an initial or
// a prefix of one another ("J" and "John", "Chris" and "Christopher").
func givenAbbreviated(x, y []string) bool {
	a, b := x[0], y[0]
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.HasPrefix(b, a)
}

// normalizeText decomposes (NFKD), drops combining marks, folds case and
// turns punctuation into single spaces: "Müller-Lüdenscheidt" becomes
// "muller ludenscheidt".
func normalizeText(s string) string {
	if ascii, ok := normalizeASCII(s); ok {
		return ascii
	}
	return normalizeUnicode(s)
}

// normalizeUnicode is normalizeText for any string.
func normalizeUnicode(s string) string {
	s = cases.Fold().String(norm.NFKD.String(s))
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		default:
			space = true
		}
	}
	return b.String()
}

// normalizeASCII is normalizeText for a string of ASCII characters (most
// names and addresses, where NFKD and the combining marks change nothing
// and folding is lower-casing), without the Unicode tables' cost; ok is
// false for any other string.
func normalizeASCII(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return "", false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			space = true
			continue
		}
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = append(b, c)
	}
	return string(b), true
}

// jaroWinkler is the Jaro–Winkler similarity of two strings (by rune), 1
// for equal strings, 0 for nothing in common.
func jaroWinkler(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 || len(rb) == 0 {
		if len(ra) == len(rb) {
			return 1
		}
		return 0
	}
	window := max(len(ra), len(rb))/2 - 1
	window = max(window, 0)
	ma := make([]bool, len(ra))
	mb := make([]bool, len(rb))
	matches := 0
	for i, r := range ra {
		lo, hi := max(0, i-window), min(len(rb)-1, i+window)
		for j := lo; j <= hi; j++ {
			if !mb[j] && rb[j] == r {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range ra {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if ra[i] != rb[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(ra)) + m/float64(len(rb)) + (m-float64(transpositions/2))/m) / 3
	prefix := 0
	for prefix < min(4, len(ra), len(rb)) && ra[prefix] == rb[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// better returns the more favourable of two outcomes for "same person":
// agree, then partial, then disagree, then missing.
func better(a, b string) string {
	rank := map[string]int{OutcomeAgree: 3, OutcomePartial: 2, OutcomeDisagree: 1, OutcomeMissing: 0}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Birth date, gender.

// compareBirthDates compares FHIR dates (YYYY, YYYY-MM, YYYY-MM-DD, or a
// dateTime whose date part is used).
func compareBirthDates(a, b string) string {
	a, b = datePart(a), datePart(b)
	if a == "" || b == "" {
		return OutcomeMissing
	}
	if a == b {
		if len(a) == 10 {
			return OutcomeAgree
		}
		return OutcomePartial // equal but imprecise ("1980")
	}
	if len(a) != len(b) {
		short, long := a, b
		if len(short) > len(long) {
			short, long = long, short
		}
		if strings.HasPrefix(long, short) {
			return OutcomePartial
		}
		return OutcomeDisagree
	}
	if len(a) == 10 && a[:4] == b[:4] && a[5:7] == b[8:10] && a[8:10] == b[5:7] {
		return OutcomePartial // day and month swapped
	}
	diff := 0
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			diff++
		}
	}
	if diff == 1 {
		return OutcomePartial // one digit off
	}
	return OutcomeDisagree
}

// datePart returns the YYYY[-MM[-DD]] part of a FHIR date or dateTime,
// "" when it is not one.
func datePart(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 10 {
		s = s[:10]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (i == 4 || i == 7) && c == '-' {
			continue
		}
		if c < '0' || c > '9' || i == 4 || i == 7 {
			return ""
		}
	}
	if len(s) != 4 && len(s) != 7 && len(s) != 10 {
		return ""
	}
	return s
}

func compareGenders(a, b string) string {
	if a == "" || b == "" || a == "unknown" || b == "unknown" {
		return OutcomeMissing
	}
	if a == b {
		return OutcomeAgree
	}
	return OutcomeDisagree
}

// Phone.

// comparePhones compares phone numbers by their last digits
// (fhirstore.PhoneKey), ignoring country and trunk prefixes (+49 30 ... and
// 030 ...).
func comparePhones(a, b map[string]any) string {
	tails := func(p map[string]any) []string {
		var out []string
		for _, v := range telecomValues(p, "phone", "sms") {
			if k := fhirstore.PhoneKey(v); k != "" {
				out = append(out, k)
			}
		}
		return out
	}
	ta, tb := tails(a), tails(b)
	if len(ta) == 0 || len(tb) == 0 {
		return OutcomeMissing
	}
	for _, x := range ta {
		if slices.Contains(tb, x) {
			return OutcomeAgree
		}
	}
	return OutcomeDisagree
}

// telecomValues returns the values of p's telecom entries of the systems.
func telecomValues(p map[string]any, systems ...string) []string {
	var out []string
	for _, v := range jsonList(p["telecom"]) {
		m, _ := v.(map[string]any)
		if m == nil || !slices.Contains(systems, jsonString(m["system"])) {
			continue
		}
		if s := jsonString(m["value"]); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// National id.

type nationalID struct {
	system string
	raw    string // as given
	value  string // normalised: upper case, letters and digits only
}

// nationalIDs returns p's identifiers typed NI or whose system is one of
// systems.
func nationalIDs(p map[string]any, systems []string) []nationalID {
	var out []nationalID
	for _, v := range jsonList(p["identifier"]) {
		m, _ := v.(map[string]any)
		if m == nil {
			continue
		}
		sys, raw := jsonString(m["system"]), jsonString(m["value"])
		if raw == "" {
			continue
		}
		typed := false
		if t, ok := m["type"].(map[string]any); ok {
			for _, c := range jsonList(t["coding"]) {
				if cm, ok := c.(map[string]any); ok && jsonString(cm["code"]) == "NI" {
					typed = true
				}
			}
		}
		if !typed && (sys == "" || !slices.Contains(systems, sys)) {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToUpper(raw) {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				b.WriteRune(r)
			}
		}
		out = append(out, nationalID{system: sys, raw: raw, value: b.String()})
	}
	return out
}

// compareNationalIDs compares national ids of the same system (or without
// one): any equal pair agrees; comparable pairs that all differ disagree.
func (c MatchConfig) compareNationalIDs(a, b map[string]any) string {
	best := OutcomeMissing
	for _, x := range nationalIDs(a, c.NationalIDSystems) {
		for _, y := range nationalIDs(b, c.NationalIDSystems) {
			if x.system != "" && y.system != "" && x.system != y.system {
				continue
			}
			if x.value == y.value {
				return OutcomeAgree
			}
			best = OutcomeDisagree
		}
	}
	return best
}

// Address.

type placeKey struct {
	line, postal, city string
}

func addresses(p map[string]any) []placeKey {
	var out []placeKey
	for _, v := range jsonList(p["address"]) {
		m, _ := v.(map[string]any)
		if m == nil {
			continue
		}
		k := placeKey{
			postal: strings.ToUpper(strings.ReplaceAll(normalizeText(jsonString(m["postalCode"])), " ", "")),
			city:   normalizeText(jsonString(m["city"])),
		}
		if lines := jsonList(m["line"]); len(lines) > 0 {
			k.line = normalizeText(jsonString(lines[0]))
		}
		if k != (placeKey{}) {
			out = append(out, k)
		}
	}
	return out
}

// compareAddresses keeps the best outcome over every pair of addresses:
// agree when the first line and the locality (postal code, or city when a
// postal code is missing) agree, partial when only the locality does.
func compareAddresses(a, b map[string]any) string {
	best := OutcomeMissing
	for _, x := range addresses(a) {
		for _, y := range addresses(b) {
			best = better(best, comparePlace(x, y))
		}
	}
	return best
}

func comparePlace(x, y placeKey) string {
	var locality bool
	switch {
	case x.postal != "" && y.postal != "":
		locality = x.postal == y.postal
	case x.city != "" && y.city != "":
		locality = x.city == y.city
	}
	line := x.line != "" && x.line == y.line
	switch {
	case line && locality:
		return OutcomeAgree
	case locality:
		return OutcomePartial
	}
	return OutcomeDisagree
}

// Decoded JSON access.

func jsonString(v any) string {
	s, _ := v.(string)
	return s
}

func jsonList(v any) []any {
	l, _ := v.([]any)
	return l
}
