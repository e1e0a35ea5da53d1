package fhirstore_test

import (
	"fmt"
	"net/url"

	"github.com/carebridge/carebridge/fhirstore"
)

func ExampleParseQuery() {
	v, _ := url.ParseQuery("name=M%C3%BCller,Zo%C3%AB&birthdate=ge1980&_sort=-birthdate&_count=20")
	q, err := fhirstore.ParseQuery("Patient", v)
	if err != nil {
		fmt.Println(err)
		return
	}
	pq, _ := fhirstore.PrepareQuery(q)
	for _, c := range pq.Clauses {
		fmt.Println(c.Param.Name, c.Param.Kind, c.Strings, len(c.Dates))
	}
	fmt.Println(pq.Sort.Name, pq.Desc, pq.Count)

	_, err = fhirstore.ParseQuery("Patient", url.Values{"colour": {"red"}})
	fmt.Println(err)
	// Output:
	// birthdate date [] 1
	// name string [muller zoe] 0
	// birthdate true 20
	// bad search: colour: Patient has no search parameter "colour"
}

func ExampleIndexEntries() {
	entries, _ := fhirstore.IndexEntries(map[string]any{
		"resourceType": "Patient",
		"name":         []any{map[string]any{"family": "张", "given": []any{"伟"}}},
		"birthDate":    "1975-03",
	})
	for _, e := range entries {
		switch e.Kind {
		case fhirstore.KindDate:
			fmt.Println(e.Param, e.Low.Format("2006-01-02"), e.High.Format("2006-01-02"))
		default:
			fmt.Println(e.Param, e.Value)
		}
	}
	// Output:
	// birthdate 1975-03-01 1975-04-01
	// family 张
	// given 伟
	// name 张
	// name 伟
	// name 张伟
}
