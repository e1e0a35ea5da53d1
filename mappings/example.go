package mappings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirvalid"
)

// ErrInvalidFHIR marks a Bundle a mapping produced that is not valid FHIR
// R4: the record would refuse it, so an example that produces one fails
// and is never recorded as expected output.
var ErrInvalidFHIR = errors.New("the Bundle is not valid FHIR R4")

// validator is the FHIR R4 validator, built on first use (it reads the R4
// definitions once); it is immutable and safe for concurrent use.
var validator = sync.OnceValues(fhirvalid.New)

// ValidateBundle checks a Bundle a mapping produced with the FHIR R4
// validator the record uses. It returns nil, or an error wrapping
// ErrInvalidFHIR with the validator's problems.
func ValidateBundle(bundle []byte) error {
	v, err := validator()
	if err != nil {
		return err
	}
	if err := v.Bundle(bundle); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidFHIR, err)
	}
	return nil
}

// ValidateEntries checks each resource of a Bundle a mapping produced as the
// record does before storing it: resource by resource, with the validator's
// fast path (ValidateBundle runs the full one on the whole Bundle, which
// explains more but costs ten times as much: too slow for thousands of
// messages). It returns nil, or an error wrapping ErrInvalidFHIR that names
// the resources at fault.
func ValidateEntries(bundle []byte) error {
	v, err := validator()
	if err != nil {
		return err
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidFHIR, err)
	}
	var errs []error
	for i, e := range b.Entry {
		if err := v.Resource(e.Resource); err != nil {
			var r struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			}
			_ = json.Unmarshal(e.Resource, &r)
			errs = append(errs, fmt.Errorf("entry %d (%s/%s): %w", i, r.ResourceType, r.ID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidFHIR, errors.Join(errs...))
	}
	return nil
}

// PrettyBundle indents a Bundle for people and golden files: two spaces,
// keys sorted, a final newline.
func PrettyBundle(bundle []byte) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(bundle))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ExampleRun is the outcome of running one example.
type ExampleRun struct {
	Example ExampleRef
	Got     []byte // the pretty Bundle produced
	Want    []byte // the expected file's content (nil when missing)
	Result  *Result
}

// Passed reports whether the output equals the expected file.
func (r *ExampleRun) Passed() bool { return r.Want != nil && bytes.Equal(r.Got, r.Want) }

// RunExample maps an example's input (read from fsys) and reads its expected
// output. A mapping error is returned as the error, and so is a Bundle that
// is not valid FHIR R4 (wrapping ErrInvalidFHIR, with the validator's
// problems): such output is never what an example should expect.
func (s *Set) RunExample(fsys fs.FS, ex ExampleRef) (*ExampleRun, error) {
	raw, err := fs.ReadFile(fsys, ex.Input)
	if err != nil {
		return nil, fmt.Errorf("%s: example %s: %w", ex.At, ex.Name, err)
	}
	msg, err := hl7.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: example %s: %s: %w", ex.At, ex.Name, ex.Input, err)
	}
	res, err := s.Map(msg, Options{Sender: ex.Sender, JournalID: 1})
	if err != nil {
		return nil, fmt.Errorf("%s: example %s: %w", ex.At, ex.Name, err)
	}
	if err := ValidateBundle(res.Bundle); err != nil {
		return nil, fmt.Errorf("%s: example %s: %w", ex.At, ex.Name, err)
	}
	got, err := PrettyBundle(res.Bundle)
	if err != nil {
		return nil, err
	}
	run := &ExampleRun{Example: ex, Got: got, Result: res}
	if want, err := fs.ReadFile(fsys, ex.Expect); err == nil {
		run.Want = want
	}
	return run, nil
}
