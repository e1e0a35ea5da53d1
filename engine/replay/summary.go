package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// WriteText writes the summary for people, e.g.
//
//	replay: 100000 messages from 12 files in 4.2s (23810 msg/s)
//	  accepted    99000
//	  duplicates    500
//	  ...
//
// or, for a dry run, how many messages were fine and how many had
// problems.
func (s Summary) WriteText(w io.Writer) error {
	elapsed := s.Elapsed.Round(time.Millisecond)
	if s.DryRun {
		_, err := fmt.Fprintf(w, "dry run: %d messages from %d files checked in %v (%.0f msg/s): %d fine, %d problems, %d warnings, %d file errors\n",
			s.Total, s.Files, elapsed, s.PerSecond, s.Fine, s.Problems, s.Warnings, s.FileErrors)
		return err
	}
	_, err := fmt.Fprintf(w, "replay: %d messages from %d files in %v (%.0f msg/s)\n"+
		"  accepted    %d\n  duplicates  %d\n  rejected    %d\n  failed      %d\n"+
		"  skipped     %d (delivered before)\n  problems    %d\n  warnings    %d\n  file errors %d\n",
		s.Total, s.Files, elapsed, s.PerSecond,
		s.Accepted, s.Duplicates, s.Rejected, s.Failed, s.Skipped, s.Problems, s.Warnings, s.FileErrors)
	return err
}

// WriteJSON writes the summary as one JSON object on a line, with the
// elapsed time in seconds as "elapsed_seconds".
func (s Summary) WriteJSON(w io.Writer) error {
	type plain Summary // without methods
	b, err := json.Marshal(struct {
		plain
		ElapsedSeconds float64 `json:"elapsed_seconds"`
	}{plain(s), s.Elapsed.Seconds()})
	if err != nil {
		return fmt.Errorf("replay: encode summary: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
