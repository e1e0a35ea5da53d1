// Package replay drives a replay of HL7 v2 message archives into a Sink:
// in file order, with bounded concurrency, an optional rate limit, progress
// reporting, a resumable checkpoint and a summary of what happened.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/carebridge/carebridge/engine/archive"
)

// Outcome is what became of one replayed message.
type Outcome int

// The outcomes a Sink reports. The zero Outcome is not valid: a Sink
// returning it is counted as Failed.
const (
	// Accepted: the receiver took the message (AA/CA).
	Accepted Outcome = iota + 1
	// Duplicate: the receiver already had the message (same sender and
	// MSH-10) and acknowledged it again.
	Duplicate
	// Rejected: the receiver refused the message as bad (AR/CR) or stored
	// it as rejected.
	Rejected
	// Failed: the receiver could not process the message (AE/CE), or it
	// could not be delivered at all.
	Failed
)

// String returns the outcome's lower-case name.
func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case Rejected:
		return "rejected"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is a Sink's answer for one message.
type Result struct {
	Outcome Outcome
	// AckCode is the acknowledgement code received (MSA-1), if any.
	AckCode string
	// Detail explains a rejection or failure (e.g. the ERR segment's text).
	Detail string
}

// Sink receives replayed messages.
//
// Deliver is called from Options.Concurrency goroutines at once and must
// be safe for concurrent use. msg.Raw is valid only until Deliver returns:
// a Sink that keeps the bytes must copy them. Any other returned error
// means the message could not be delivered; it is counted as Failed and
// the replay goes on.
// An error matching ErrUnavailable (see Unavailable) means the destination
// could not be reached or did not answer, not that the message failed: Run
// keeps the message, waits for the destination and delivers it again, so a
// Sink should not retry such failures itself. A message may therefore be
// delivered twice when its acknowledgement was lost; the destination's
// duplicate detection answers the second delivery.
// ctx is not cancelled when the replay is interrupted, so that deliveries
// under way can finish, but only DrainTimeout later: Deliver must return
// promptly once ctx is done, and an error returned then is not counted (the
// message is delivered again on resume).
type Sink interface {
	Deliver(ctx context.Context, msg archive.Message) (Result, error)
}

// DefaultStateFile is where the checkpoint is kept when Options.StateFile
// is empty: a file in the current directory.
const DefaultStateFile = ".carebridge-replay.state"

// Options configure Run. The zero value is usable once Paths is set.
type Options struct {
	// Paths are the archive files and directories to replay, expanded by
	// archive.Files (directories recursively, hidden entries skipped).
	Paths []string
	// Concurrency is how many messages are delivered at once (default 8).
	// Messages of one file are handed out in order; with Concurrency > 1
	// they may complete out of order.
	Concurrency int
	// Rate limits deliveries to this many messages per second, with bursts
	// of at most a twentieth of a second's worth; 0 means unlimited. A dry
	// run is not limited.
	Rate float64
	// Resume skips what the state file records as already delivered:
	// whole files, and the first messages of files replayed in part. A file
	// whose size, modification time or first KiB changed is replayed from
	// its start. Without Resume, an existing state file is overwritten.
	Resume bool
	// Target names where the messages go, e.g. "mllp://host:port" or
	// "journal:/abs/path/to/carebridge.db". It is recorded in the state
	// file, and Resume with a state file recorded for another target fails
	// with ErrOtherTarget (what it records as delivered was not delivered
	// here). Empty means unknown: nothing is recorded or checked.
	Target string
	// StateFile is the checkpoint's path (default DefaultStateFile). It is
	// written atomically (temporary file and rename) every second and when
	// Run returns, also when interrupted.
	StateFile string
	// DryRun delivers nothing: each message is read and passed to Check,
	// and every problem is listed. A dry run neither reads nor writes the
	// state file.
	DryRun bool
	// Check parses and validates a message in a dry run. It is called from
	// several goroutines at once; raw is valid only during the call. Nil
	// checks only that messages can be read from the archive.
	Check func(raw []byte) error
	// MaxMessageSize is the largest message read from an archive (default
	// archive.DefaultMaxMessageSize); longer ones are reported as problems.
	MaxMessageSize int
	// Progress receives progress reports (typically os.Stderr); nil for
	// none.
	Progress io.Writer
	// Interactive draws a progress bar with messages/s and ETA on Progress
	// (meant for a terminal). Otherwise a plain line is written about every
	// two seconds and at the end:
	//	replay: 12000/100000 msgs 12.0% 21345 msg/s eta 4s
	Interactive bool
	// NoCount skips the pre-count pass (archive.Count) that gives progress a
	// total and an ETA; it runs alongside the replay and reads every file
	// once more.
	NoCount bool
	// Problems receives one line per problem: a message that could not be
	// read or failed Check, a rejected or failed delivery, an archive
	// warning, an unreadable file. Nil means Progress.
	Problems io.Writer
	// JSON writes problem lines as JSON objects, one per line.
	JSON bool
	// GiveUpAfter bounds how long Run waits for a destination that is
	// unavailable (the Sink returns ErrUnavailable), counted from the first
	// failure of an outage: after it, Run stops as if interrupted and
	// returns an error matching ErrGaveUp. Zero means DefaultGiveUpAfter; a
	// negative value waits for ever.
	GiveUpAfter time.Duration
	// RetryMin and RetryMax bound the wait between attempts to reach an
	// unavailable destination: RetryMin after the first failure, doubling
	// up to RetryMax (defaults DefaultRetryMin and DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds how long deliveries under way may take to finish
	// once the replay is interrupted (default 30s).
	DrainTimeout time.Duration
	// Clock tells the time (default time.Now); tests replace it.
	Clock func() time.Time

	// sleep waits for d or until ctx is done (the rate limit's and an
	// outage's waits); tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Summary tells what a replay did.
type Summary struct {
	// Files is the number of archive files.
	Files int `json:"files"`
	// Total counts the messages met: skipped, delivered with an outcome,
	// passed or failed by Check, or unreadable. Messages not delivered
	// because the run was interrupted, or gave up on an unavailable
	// destination, are not counted.
	Total      int `json:"total"`
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
	Failed     int `json:"failed"`
	// Skipped counts messages delivered by an earlier run (Resume).
	Skipped int `json:"skipped"`
	// Fine counts, in a dry run, the messages that passed Check.
	Fine int `json:"fine"`
	// Problems counts messages that could not be read from the archive
	// (too large, truncated frame) or, in a dry run, failed Check.
	Problems int `json:"problems"`
	// Warnings counts archive warnings (skipped bytes, batch counts).
	Warnings int `json:"warnings"`
	// FileErrors counts files that could not be opened or read to the end.
	FileErrors int           `json:"file_errors"`
	DryRun     bool          `json:"dry_run"`
	Elapsed    time.Duration `json:"-"`
	// PerSecond is the rate of messages handled in this run (not skipped).
	PerSecond float64 `json:"per_second"`
}

// Run replays the archives named by opts.Paths into sink (which may be nil
// in a dry run) and returns what happened. It returns an error, with no
// replay done, when the options or paths are wrong, the state file cannot
// be read or written, or a resumed state file is for another Target
// (ErrOtherTarget); such an error matches ErrNotStarted (errors.Is) and the
// Summary is then empty: there is nothing to report. When ctx is cancelled it stops handing out messages,
// lets deliveries under way finish, writes the state file and returns the
// partial summary with ctx.Err(). When the destination stays unavailable
// for GiveUpAfter it stops the same way and returns an error matching
// ErrGaveUp. Rejected and failed messages are not errors: they are counted
// and listed.
func Run(ctx context.Context, sink Sink, opts Options) (Summary, error) {
	o, err := opts.withDefaults(sink)
	if err != nil {
		return Summary{}, notStarted{err}
	}
	files, err := archive.Files(o.Paths)
	if err != nil {
		return Summary{}, notStarted{fmt.Errorf("replay: %w", err)}
	}
	r := &run{opts: o, sink: sink, files: files}
	if !o.DryRun {
		if r.state, err = openState(o.StateFile, o.Resume, o.Target); err != nil {
			return Summary{}, notStarted{err}
		}
		if o.Resume {
			r.prior = make(map[string]fileState, len(r.state.Files))
			for k, v := range r.state.Files {
				r.prior[k] = *v
			}
		}
		// Write the state now so that an unwritable path fails fast.
		if err := r.state.save(o.StateFile, o.Clock()); err != nil {
			return Summary{}, notStarted{err}
		}
	}
	return r.run(ctx)
}

// ErrNotStarted matches (errors.Is) every error Run returns before it
// replays anything; a caller reports the Summary of a run only when the
// error does not match it.
var ErrNotStarted = errors.New("replay not started")

// notStarted marks an error returned before the replay started, without
// changing its message.
type notStarted struct{ err error }

func (e notStarted) Error() string        { return e.err.Error() }
func (e notStarted) Unwrap() error        { return e.err }
func (e notStarted) Is(target error) bool { return target == ErrNotStarted }

func (o Options) withDefaults(sink Sink) (Options, error) {
	var errs []error
	if len(o.Paths) == 0 {
		errs = append(errs, errors.New("no paths to replay"))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d is negative", o.Concurrency))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %g is negative", o.Rate))
	}
	if sink == nil && !o.DryRun {
		errs = append(errs, errors.New("no sink to deliver to"))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("replay: %w", errors.Join(errs...))
	}
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	if o.StateFile == "" {
		o.StateFile = DefaultStateFile
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = archive.DefaultMaxMessageSize
	}
	if o.GiveUpAfter == 0 {
		o.GiveUpAfter = DefaultGiveUpAfter
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.sleep == nil {
		o.sleep = sleep
	}
	if o.Problems == nil {
		o.Problems = o.Progress
	}
	return o, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
