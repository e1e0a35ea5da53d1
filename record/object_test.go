package record_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/internal/jsonmap"
)

// objectsChecked is the store of the scenario and sequence tests: it fails
// the test when a write's Object (the record's decoded body, which the
// store uses instead of decoding Body again) is not what decoding Body
// gives, as far as the store can tell: the bytes it encodes and the search
// index entries it extracts.
type objectsChecked struct {
	*sqlite.Store
	t testing.TB
}

func (s objectsChecked) Apply(ctx context.Context, cs fhirstore.ChangeSet) ([]*fhirstore.Resource, error) {
	for _, w := range cs.Writes {
		if w.Object == nil {
			continue
		}
		decoded, err := jsonmap.Decode(w.Body)
		if err != nil {
			s.t.Errorf("%s/%s: body does not decode: %v", w.Type, w.ID, err)
			continue
		}
		got, err1 := jsonmap.Append(nil, w.Object, false)
		want, err2 := jsonmap.Append(nil, decoded, false)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			s.t.Errorf("%s/%s: Object encodes otherwise than its Body decoded (%v, %v)", w.Type, w.ID, err1, err2)
		}
		gotEntries, err1 := fhirstore.IndexEntries(w.Object)
		wantEntries, err2 := fhirstore.IndexEntries(decoded)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(gotEntries, wantEntries) {
			s.t.Errorf("%s/%s: Object is indexed otherwise than its Body decoded (%v, %v)", w.Type, w.ID, err1, err2)
		}
	}
	return s.Store.Apply(ctx, cs)
}
