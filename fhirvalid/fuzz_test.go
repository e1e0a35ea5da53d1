package fhirvalid

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// FuzzFastAgrees: whatever the fast path accepts, the full path accepts.
// (The converse holds for Carebridge's own resources; TestFastAgreesOwn
// checks it. Fuzzed variants may fall back.)
func FuzzFastAgrees(f *testing.F) {
	for _, s := range ownSamples(f) {
		f.Add(s.json)
	}
	for i, s := range officialSamples(f) {
		if i%5 == 0 && len(s.json) < 20000 {
			f.Add(s.json)
		}
	}
	for _, c := range fastRegressions {
		f.Add([]byte(c.json))
	}
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !v.fastValid(doc) {
			return // the full path decides; nothing to compare
		}
		if err := v.validateFull(doc, false); err != nil {
			t.Fatalf("fast path accepts what the full path rejects: %v\n%s", err, doc)
		}
	})
}

// primitiveTemplates embed one value (a JSON literal) in a resource that
// is otherwise valid, one per primitive kind the fast path checks.
var primitiveTemplates = map[string]string{
	"boolean":     `{"resourceType":"Patient","active":%s}`,
	"string":      `{"resourceType":"Patient","name":[{"family":%s}]}`,
	"code":        `{"resourceType":"Patient","identifier":[{"type":{"coding":[{"code":%s}]}}]}`,
	"enum":        `{"resourceType":"Patient","gender":%s}`,
	"id":          `{"resourceType":"Patient","id":%s}`,
	"oid":         `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueOid":%s}]}`,
	"uuid":        `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueUuid":%s}]}`,
	"uri":         `{"resourceType":"Patient","identifier":[{"system":%s}]}`,
	"date":        `{"resourceType":"Patient","birthDate":%s}`,
	"dateTime":    `{"resourceType":"Patient","deceasedDateTime":%s}`,
	"instant":     `{"resourceType":"Patient","meta":{"lastUpdated":%s}}`,
	"time":        `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueTime":%s}]}`,
	"decimal":     `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueDecimal":%s}]}`,
	"integer":     `{"resourceType":"Patient","multipleBirthInteger":%s}`,
	"positiveInt": `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valuePositiveInt":%s}]}`,
	"unsignedInt": `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueUnsignedInt":%s}]}`,
	"base64":      `{"resourceType":"Patient","photo":[{"data":%s}]}`,
	"reference":   `{"resourceType":"Patient","managingOrganization":{"reference":%s}}`,
	"periodStart": `{"resourceType":"Patient","name":[{"period":{"start":%s,"end":"2026-03-05T10:00:00+01:00"}}]}`,
	"periodEnd":   `{"resourceType":"Patient","name":[{"period":{"start":"2026-03-05T10:00:00+01:00","end":%s}}]}`,
	"div":         `{"resourceType":"Patient","text":{"status":"generated","div":%s}}`,
}

// FuzzPrimitiveAgrees puts one fuzzed value, as a JSON string and as
// raw JSON, into each template: the fast path must never accept what the
// full path rejects.
func FuzzPrimitiveAgrees(f *testing.F) {
	for _, s := range []string{
		"2026", "2026-03", "2026-03-05", "2026-02-29", "2024-02-29", "2026-03-05T10:00:00Z",
		"2026-03-05T10:00:00.123+14:00", "2026-03-05T10:00:00.1234-13:59", "0001-01-01", "10:00:00.5",
		"female", "in-progress", "Organization/o1", "Patient/p/_history/2", "#c1", "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
		"urn:oid:1.2.3", "http://x.org:80/a%20b?q#f", "a:b", "//host/x", "x y", "1", "-2147483648", "2147483648", "1.5e3",
		"SGVsbG8=", "SGVsbG8", "a\u0001b", "true", `<div xmlns="http://www.w3.org/1999/xhtml">x</div>`,
	} {
		f.Add(s)
	}
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, s string) {
		quoted, err := json.Marshal(s)
		if err != nil {
			return
		}
		for name, tmpl := range primitiveTemplates {
			for _, lit := range []string{string(quoted), s} {
				doc := []byte(strings.Replace(tmpl, "%s", lit, 1))
				if v.fastValid(doc) {
					if err := v.validateFull(doc, false); err != nil {
						t.Fatalf("%s: fast path accepts what the full path rejects: %v\n%s", name, err, doc)
					}
				}
			}
		}
	})
}

var codeRE = regexp.MustCompile(`^[^\s]+(\s[^\s]+)*$`)

// FuzzValueChecks compares the fast path's value checks with the rules
// they stand for.
func FuzzValueChecks(f *testing.F) {
	for _, s := range []string{"a", "a b", " a", "a  b", "a\tb", "x.y-z", "http://h:1/p", "urn:x", "%zz", "a:b/c", "//h", "h//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		if uriOK(b) {
			if _, err := url.Parse(s); err != nil {
				t.Errorf("uriOK(%q) but url.Parse: %v", s, err)
			}
		}
		if idOK(b) != idRE.MatchString(s) {
			t.Errorf("idOK(%q) = %v, regexp says %v", s, idOK(b), !idOK(b))
		}
		if codeOK(b) && !codeRE.MatchString(s) {
			t.Errorf("codeOK(%q) but the code regexp refuses it", s)
		}
	})
}

// fastRegressions are inputs on which the two paths once disagreed or
// that pin a rule of the fast path; each must get the stated verdict from
// both paths.
var fastRegressions = []struct {
	name, json string
	valid      bool
}{
	{"upper-case code spelling goes to the full path", `{"resourceType":"Patient","gender":"FEMALE"}`, true},
	{"primitive extension without value", `{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://x.org/e","valueString":"y"}]}}`, true},
	{"primitive extension next to value", `{"resourceType":"Patient","birthDate":"1970-01-01","_birthDate":{"id":"a"}}`, true},
	{"object for a primitive", `{"resourceType":"Patient","gender":{"id":"a"}}`, true},
	{"year zero", `{"resourceType":"Patient","birthDate":"0000"}`, true},
	{"leap second", `{"resourceType":"Patient","deceasedDateTime":"2016-12-31T23:59:60Z"}`, false},
	{"zone beyond 14:00", `{"resourceType":"Patient","deceasedDateTime":"2016-12-31T23:59:00+14:30"}`, false},
	{"day zero", `{"resourceType":"Patient","birthDate":"2026-01-00"}`, false},
	{"escaped control character", `{"resourceType":"Patient","name":[{"family":"a\u0001b"}]}`, false},
	{"escaped tab", `{"resourceType":"Patient","name":[{"family":"a\tb"}]}`, true},
	{"reference to any resource", `{"resourceType":"Provenance","target":[{"reference":"Basic/b"}],"recorded":"2026-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]}`, true},
	{"typed reference with history", `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/o/_history/2"}}`, true},
	{"typed reference with bad history", `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/o/_history/2_"}}`, false},
	{"fragment reference", `{"resourceType":"Patient","managingOrganization":{"reference":"#"}}`, true},
	{"Resource/id reference", `{"resourceType":"Patient","managingOrganization":{"reference":"Resource/1"}}`, false},
	{"conditional reference", `{"resourceType":"Patient","managingOrganization":{"reference":"Organization?identifier=x"}}`, true},
	{"Appointment without times", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"display":"A"},"status":"accepted"}]}`, false},
	{"period of one day", `{"resourceType":"Patient","name":[{"period":{"start":"2026-03-05T23:00:00-05:00","end":"2026-03-05"}}]}`, false},
	{"period within the end's day", `{"resourceType":"Patient","name":[{"period":{"start":"2026-03-05T23:00:00Z","end":"2026-03-05"}}]}`, true},
	{"contained with required element missing", `{"resourceType":"Encounter","status":"planned","class":{"code":"AMB"},"contained":[{"resourceType":"ChargeItem","id":"c"}]}`, false},
	{"contained without resourceType", `{"resourceType":"Encounter","status":"planned","class":{"code":"AMB"},"contained":[{"id":"c"}]}`, false},
	{"resourceType inside an element", `{"resourceType":"Patient","name":[{"resourceType":"Patient","family":"x"}]}`, false},
	{"integer with exponent", `{"resourceType":"Patient","multipleBirthInteger":1e2}`, false},
	{"decimal with exponent", `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueDecimal":1e2}]}`, true},
	{"base64 with stride", `{"resourceType":"Patient","photo":[{"data":"SGVs bG8="}]}`, true},
	{"truncated inside an array (fuzz: index out of range)", `{"resourceType":"Encounter","status":"in-progress","class":{"code":"0"} ,"location":[`, false},
	{"truncated after a comma in an array", `{"resourceType":"Patient","name":[{"family":"x"},`, false},
	{"nested contained", `{"resourceType":"Encounter","status":"planned","class":{"code":"AMB"},"contained":[{"resourceType":"Location","id":"l","contained":[{"resourceType":"Organization","id":"o"}]}]}`, true},
}

func TestFastRegressions(t *testing.T) {
	v := newValidator(t)
	for _, c := range fastRegressions {
		t.Run(c.name, func(t *testing.T) {
			_, full := checkAgree(t, v, c.name, []byte(c.json))
			if full != c.valid {
				t.Errorf("full path valid = %v, want %v (%v)", full, c.valid, v.validateFull([]byte(c.json), false))
			}
		})
	}
}
