package mappings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/carebridge/carebridge/engine/hl7"
)

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
// output. A mapping error is returned as the error.
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
