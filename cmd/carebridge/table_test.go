package main

import (
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestTableAsTabwriter: on text whose characters all take one column, the
// table lays out exactly as text/tabwriter (the layout the commands had).
func TestTableAsTabwriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "a", "ID", "Synthetic", "2026-12-07", "Müller", "x y", "PATIENT"}
	for round := range 2000 {
		var b strings.Builder
		for range rng.IntN(6) {
			for range rng.IntN(5) {
				b.WriteString(words[rng.IntN(len(words))])
				b.WriteByte('\t')
			}
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(8) > 0 {
				b.WriteByte('\n')
			}
		}
		in := b.String()
		var want, got strings.Builder
		tw := tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
		_, _ = tw.Write([]byte(in))
		_ = tw.Flush()
		tb := newTable(&got)
		_, _ = tb.Write([]byte(in))
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("round %d, input %q:\ngot\n%s\nwant (tabwriter)\n%s", round, in, got.String(), want.String())
		}
	}
}

// TestTableWideCharacters: a cell of Chinese characters counts two columns
// per character, so the next column starts where the terminal shows the
// others' do.
func TestTableWideCharacters(t *testing.T) {
	var b strings.Builder
	tb := newTable(&b)
	_, _ = tb.Write([]byte("ID\tNAME\tBORN\np1\t张伟\t1980-01-01\np2\tTestperson\t1990-02-02\n"))
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "ID  NAME        BORN\n" +
		"p1  张伟        1980-01-01\n" +
		"p2  Testperson  1990-02-02\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	for _, tc := range []struct {
		s    string
		want int
	}{{"张伟", 4}, {"Ｔｅｓｔ", 8}, {"e\u0301", 1}, {"abc", 3}, {"", 0}} {
		if got := displayWidth(tc.s); got != tc.want {
			t.Errorf("displayWidth(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}
