package fhirvalid

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

type ooIssue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

type operationOutcome struct {
	ResourceType string    `json:"resourceType"`
	Issue        []ooIssue `json:"issue"`
}

// OperationOutcome renders an error as a FHIR R4 OperationOutcome JSON for
// API responses: one issue per Problem with severity "error", code
// "structure" or "invalid", diagnostics (the message, plus the entry's
// fullUrl) and expression (the element's FHIRPath). A nil error gives an
// informational "no issues" outcome; an error that is not an *Error gives
// one issue with code "exception". The output holds no patient data beyond
// fullUrls.
func OperationOutcome(err error) []byte {
	oo := operationOutcome{ResourceType: "OperationOutcome"}
	var ve *Error
	switch {
	case err == nil:
		oo.Issue = []ooIssue{{Severity: "information", Code: "informational", Diagnostics: "no issues found"}}
	case errors.As(err, &ve) && len(ve.Problems) > 0:
		for _, p := range ve.Problems {
			is := ooIssue{Severity: "error", Code: p.Code, Diagnostics: p.Message}
			if is.Code == "" {
				is.Code = CodeInvalid
			}
			if p.FullURL != "" {
				is.Diagnostics += " (entry fullUrl " + p.FullURL + ")"
			}
			if p.Path != "" {
				is.Expression = []string{fhirPath(p.Path)}
			}
			oo.Issue = append(oo.Issue, is)
		}
	default:
		oo.Issue = []ooIssue{{Severity: "error", Code: "exception", Diagnostics: err.Error()}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(oo) != nil { // cannot happen: only strings
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// fhirPath turns a Problem path into a FHIRPath expression: nested
// resources' type segments become ofType() ("Bundle.entry[0].resource.
// ofType(Patient).gender").
func fhirPath(p string) string {
	segs := strings.Split(p, ".")
	for i := 1; i < len(segs); i++ {
		if resourceTypes[segs[i]] {
			segs[i] = "ofType(" + segs[i] + ")"
		}
	}
	return strings.Join(segs, ".")
}
