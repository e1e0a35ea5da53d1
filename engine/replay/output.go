package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// output writes progress and problem lines; its methods are safe for
// concurrent use.
type output struct {
	mu       sync.Mutex
	progress io.Writer // nil for no progress
	problems io.Writer // nil for no problem lines
	json     bool
	bar      *progressbar.ProgressBar
	barMax   int64
	clock    func() time.Time
	start    time.Time
	interval time.Duration
}

func newOutput(o Options, start time.Time) *output {
	w := &output{
		progress: o.Progress,
		problems: o.Problems,
		json:     o.JSON,
		clock:    o.Clock,
		start:    start,
		interval: 2 * time.Second,
		barMax:   -1,
	}
	if o.Progress != nil && o.Interactive {
		w.interval = 200 * time.Millisecond
		w.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription("replay"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			// No spinner goroutine: the bar is only drawn from progressLoop.
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
	}
	return w
}

// progressLoop reports progress until ctx is done.
func (w *output) progressLoop(ctx context.Context, counts func() (done, completed, total int64)) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.report(counts())
		}
	}
}

func (w *output) report(done, completed, total int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bar == nil {
		io.WriteString(w.progress, progressLine(done, completed, total, w.clock().Sub(w.start)))
		return
	}
	if total >= 0 && max(total, done) != w.barMax {
		w.barMax = max(total, done)
		w.bar.ChangeMax64(w.barMax)
	}
	w.bar.Set64(done)
}

// finish writes the last progress line, replacing the bar if any.
func (w *output) finish(done, completed, total int64) {
	if w.progress == nil {
		return
	}
	w.mu.Lock()
	if w.bar != nil {
		w.bar.Exit()
		w.bar.Clear()
		w.bar = nil
	}
	w.mu.Unlock()
	w.report(done, completed, total)
}

// progressLine formats a plain progress line.
func progressLine(done, completed, total int64, elapsed time.Duration) string {
	var rate float64
	if secs := elapsed.Seconds(); secs > 0 {
		rate = float64(completed) / secs
	}
	if total < 0 {
		return fmt.Sprintf("replay: %d msgs %.0f msg/s\n", done, rate)
	}
	total = max(total, done)
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	eta := "?"
	switch {
	case done == total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("replay: %d/%d msgs %.1f%% %.0f msg/s eta %s\n", done, total, pct, rate, eta)
}

// problemLine is the JSON form of a problem or warning line.
type problemLine struct {
	File    string `json:"file,omitempty"`
	Index   int    `json:"index,omitempty"`
	Offset  *int64 `json:"offset,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Ack     string `json:"ack,omitempty"`
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// problem lists a message problem: "file:index: [outcome (ack): ]detail".
func (w *output) problem(path string, index int, outcome, ack, detail string) {
	if w.json {
		w.writeJSON(problemLine{File: path, Index: index, Outcome: outcome, Ack: ack, Error: detail})
		return
	}
	line := path + ":" + strconv.Itoa(index) + ":"
	if outcome != "" {
		line += " " + outcome
		if ack != "" {
			line += " (" + ack + ")"
		}
		if detail != "" {
			line += ":"
		}
	}
	if detail != "" {
		line += " " + detail
	}
	w.writeLine(line + "\n")
}

// warning lists an archive warning: "file: offset N: warning: text".
func (w *output) warning(path string, offset int64, text string) {
	if w.json {
		l := problemLine{File: path, Warning: text}
		if offset >= 0 {
			l.Offset = &offset
		}
		w.writeJSON(l)
		return
	}
	if offset >= 0 {
		w.writeLine(fmt.Sprintf("%s: offset %d: warning: %s\n", path, offset, text))
	} else {
		w.writeLine(fmt.Sprintf("%s: warning: %s\n", path, text))
	}
}

// fileError lists a file that could not be read.
func (w *output) fileError(path, text string) {
	if w.json {
		w.writeJSON(problemLine{File: path, Error: text})
		return
	}
	if path == "" {
		w.writeLine("replay: " + text + "\n")
	} else {
		w.writeLine(path + ": " + text + "\n")
	}
}

// waitingLine is the JSON form of a waiting or answering line.
type waitingLine struct {
	Waiting         string   `json:"waiting,omitempty"`
	AnswersAgain    string   `json:"answers_again,omitempty"`
	Error           string   `json:"error,omitempty"`
	RetryInSeconds  *float64 `json:"retry_in_seconds,omitempty"`
	AfterSeconds    *float64 `json:"after_seconds,omitempty"`
	MessagesWaiting int64    `json:"messages_waiting"`
}

// waiting says that the destination is unavailable and when it is tried
// again: "replay: waiting for HOST:PORT (connection refused), retrying in
// 8s; 72 messages waiting".
func (w *output) waiting(dest string, reason error, retry time.Duration, pending int64) {
	if w.json {
		secs := retry.Seconds()
		w.writeJSON(waitingLine{Waiting: dest, Error: reason.Error(), RetryInSeconds: &secs, MessagesWaiting: pending})
		return
	}
	w.writeLine(fmt.Sprintf("replay: waiting for %s (%v), retrying in %v; %d messages waiting\n",
		dest, reason, retry.Round(time.Millisecond), pending))
}

// answering says that the destination answers again after an outage:
// "replay: HOST:PORT answers again after 20.1s; sending the 72 messages
// waiting".
func (w *output) answering(dest string, after time.Duration, pending int64) {
	if w.json {
		secs := after.Seconds()
		w.writeJSON(waitingLine{AnswersAgain: dest, AfterSeconds: &secs, MessagesWaiting: pending})
		return
	}
	w.writeLine(fmt.Sprintf("replay: %s answers again after %v; sending the %d messages waiting\n",
		dest, after.Round(100*time.Millisecond), pending))
}

func (w *output) writeJSON(v any) {
	b, _ := json.Marshal(v)
	w.writeLine(string(b) + "\n")
}

func (w *output) writeLine(s string) {
	if w.problems == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bar != nil && w.problems == w.progress {
		w.bar.Clear()
	}
	io.WriteString(w.problems, s)
}
