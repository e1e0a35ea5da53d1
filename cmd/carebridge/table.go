package main

import (
	"bytes"
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// table aligns tab-separated cells into columns, as text/tabwriter does
// with NewWriter(w, 0, 4, 2, ' ', 0), but measures cells as a terminal
// shows them: a Chinese, Japanese or Korean character takes two columns, a
// combining mark none (tabwriter counts one per character, so that a table
// with 张伟 in it comes out of line).
//
// As with tabwriter, a cell is text ended by a tab; the text after a line's
// last tab is not part of a column. A column is aligned over each run of
// consecutive lines that have a cell in it. Nothing is written before
// Flush.
type table struct {
	w   io.Writer
	buf bytes.Buffer
}

func newTable(w io.Writer) *table { return &table{w: w} }

func (t *table) Write(p []byte) (int, error) { return t.buf.Write(p) }

// cellPadding is the space after the widest cell of a column.
const cellPadding = 2

// Flush writes what was written so far, aligned.
func (t *table) Flush() error {
	text := t.buf.String()
	t.buf.Reset()
	lines := strings.SplitAfter(text, "\n")
	cells := make([][]string, len(lines))
	for i, l := range lines {
		cells[i] = strings.Split(l, "\t")
	}
	// As in tabwriter, a last line not ended yet whose text after its last
	// tab is empty has no column there: its last cell is not padded.
	if last := cells[len(cells)-1]; len(last) > 1 && last[len(last)-1] == "" {
		cells[len(cells)-1] = last[:len(last)-1]
	}
	// pad[i][c] is the width cell c of line i is padded to.
	pad := make([][]int, len(lines))
	for i := range cells {
		pad[i] = make([]int, len(cells[i])-1)
	}
	for c := 0; ; c++ {
		any := false
		for i := 0; i < len(cells); {
			if len(cells[i])-1 <= c {
				i++
				continue
			}
			any = true
			end, widest := i, 0
			for ; end < len(cells) && len(cells[end])-1 > c; end++ {
				widest = max(widest, displayWidth(cells[end][c]))
			}
			for ; i < end; i++ {
				pad[i][c] = widest + cellPadding
			}
		}
		if !any {
			break
		}
	}
	var out strings.Builder
	for i, row := range cells {
		for c, cell := range row[:len(row)-1] {
			out.WriteString(cell)
			out.WriteString(strings.Repeat(" ", pad[i][c]-displayWidth(cell)))
		}
		out.WriteString(row[len(row)-1])
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// displayWidth is how many terminal columns s takes.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		case width.LookupRune(r).Kind() == width.EastAsianWide, width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
