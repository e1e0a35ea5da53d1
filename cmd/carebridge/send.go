package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
)

func newSendCmd() *cobra.Command {
	var to string
	var tf tlsFlags
	var asJSON bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "send --to HOST:PORT [flags] FILE... | -",
		Short: "Send HL7 v2 messages over MLLP and print each acknowledgement",
		Long: `Send the messages in FILE... (or standard input with -) to an MLLP receiver, one at a
time on one connection, and print one line per message: control ID (MSH-10), ACK code
(MSA-1) and latency. Files may hold many messages: back-to-back, batches (FHS/BHS),
MLLP-framed captures, gzip. The exit status is 1 if any message was not answered AA or CA,
or a FILE holds no HL7 message.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--to HOST:PORT is required")}
			}
			tcfg, err := tf.config()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			ctx := cmd.Context()
			client, err := mllp.Dial(ctx, to, mllp.ClientOptions{TLSConfig: tcfg, AckTimeout: timeout, Reconnect: true})
			if err != nil {
				return fmt.Errorf("connect to %s: %w", to, err)
			}
			defer client.Close()
			out := cmd.OutOrStdout()
			bad := 0
			sendOne := func(m archive.Message) error {
				if m.Err != nil {
					bad++
					printSend(out, asJSON, sendLine{Source: m.Source, Index: m.Index, Error: m.Err.Error()})
					return nil
				}
				line := sendLine{Source: m.Source, Index: m.Index, ControlID: controlID(m.Raw)}
				start := time.Now()
				ack, err := client.Send(ctx, m.Raw)
				line.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					line.Error = err.Error()
					if tcfg == nil && peerClosed(err) && ackExpected(m.Raw) {
						// What a TLS listener does to a plain client: it
						// reads no handshake and hangs up, saying nothing.
						line.Error += " (the receiver closed the connection without answering: if it listens with TLS, add --tls and --tls-ca)"
					}
				} else if a, perr := hl7.ParseAck(ack); perr != nil {
					line.Error = "unreadable acknowledgement: " + perr.Error()
				} else {
					line.Ack, line.Text = a.Get("MSA-1"), hl7.AckText(a)
				}
				if line.Ack != "AA" && line.Ack != "CA" {
					bad++
				}
				printSend(out, asJSON, line)
				return nil
			}
			var failures []error
			for _, path := range args {
				var sc *archive.Scanner
				if path == "-" {
					sc = archive.NewScanner(cmd.InOrStdin(), "-")
				} else {
					s, closer, err := archive.Open(path)
					if err != nil {
						return err
					}
					defer closer.Close()
					sc = s
				}
				found := false
				for sc.Scan() {
					found = true
					m := sc.Message()
					m.Raw = bytes.Clone(m.Raw)
					if err := sendOne(m); err != nil {
						return err
					}
				}
				if err := sc.Err(); err != nil {
					return fmt.Errorf("read %s: %w", path, err)
				}
				if !found {
					name := path
					if path == "-" {
						name = "standard input"
					}
					failures = append(failures, fmt.Errorf("%s: no HL7 messages found", name))
				}
			}
			if bad > 0 {
				failures = append(failures, fmt.Errorf("%d message(s) not accepted", bad))
			}
			if err := errors.Join(failures...); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "MLLP receiver, host:port (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for each acknowledgement")
	tf.register(c)
	return c
}

type sendLine struct {
	Source    string  `json:"source"`
	Index     int     `json:"index"`
	ControlID string  `json:"control_id"`
	Ack       string  `json:"ack,omitempty"`
	Text      string  `json:"text,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

func printSend(w io.Writer, asJSON bool, l sendLine) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(l)
		return
	}
	status := l.Ack
	if l.Error != "" {
		status = "ERROR " + l.Error
	} else if l.Text != "" {
		status += " " + l.Text
	}
	fmt.Fprintf(w, "%s\t%s\t%.1fms\n", orDash(l.ControlID), status, l.LatencyMS)
}

// ackExpected reports whether the receiver owes raw an answer on success:
// not when its MSH-15 is NE or ER (a receiver may then close an idle
// connection before --timeout, which says nothing about TLS).
func ackExpected(raw []byte) bool {
	m, err := hl7.ParseWithOptions(raw, hl7.ParseOptions{Lenient: true})
	return err != nil || hl7.AcceptAckWanted(m, true)
}

// peerClosed reports whether err is the receiver closing the connection.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// controlID reads MSH-10 from a raw message, "" if it cannot (also from
// one the receiver will refuse for a line that is not a segment).
func controlID(raw []byte) string {
	m, err := hl7.ParseWithOptions(raw, hl7.ParseOptions{Lenient: true})
	if err != nil {
		return ""
	}
	return m.ControlID()
}
