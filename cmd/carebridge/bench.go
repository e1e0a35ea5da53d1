package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
)

func newBenchCmd() *cobra.Command {
	c := group(&cobra.Command{Use: "bench", Short: "Measure Carebridge: ingest into a running server, or make an archive, or the whole pipeline in this process"})
	c.AddCommand(newBenchIngestCmd(), newBenchArchiveCmd(), newBenchPipelineCmd())
	return c
}

func newBenchArchiveCmd() *cobra.Command {
	var out string
	var total, files int
	var gz bool
	c := &cobra.Command{
		Use:   "archive --out DIR",
		Short: "Write a synthetic archive of ADT^A01 messages to replay (for replay benchmarks)",
		Long: `Write --messages synthetic ADT^A01 messages (about 1 KB each, unique control IDs, synthetic
patients) into --files files under --out, back-to-back with CR segment terminators, gzip-compressed
with --gzip. Then measure, e.g.: carebridge replay DIR --data /tmp/bench-data`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" || total < 1 || files < 1 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--out is required; --messages and --files must be positive")}
			}
			written, err := writeArchive(out, total, files, gz)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d messages in %d file(s) under %s\n", total, written, out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "directory to write the archive into (created)")
	c.Flags().IntVar(&total, "messages", 100000, "messages in all")
	c.Flags().IntVar(&files, "files", 10, "number of files")
	c.Flags().BoolVar(&gz, "gzip", false, "gzip-compress the files")
	return c
}

// writeArchive writes total messages spread evenly over at most files
// files (fewer when there are fewer messages than files) and returns how
// many files it wrote.
func writeArchive(dir string, total, files int, gz bool) (int, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	run := time.Now().UnixNano()
	per := (total + files - 1) / files
	written := 0
	for f := 0; f < files && f*per < total; f++ {
		name := filepath.Join(dir, fmt.Sprintf("archive-%04d.hl7", f+1))
		if gz {
			name += ".gz"
		}
		fh, err := os.Create(name)
		if err != nil {
			return written, err
		}
		var w io.Writer = fh
		var zw *gzip.Writer
		if gz {
			zw = gzip.NewWriter(fh)
			w = zw
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		for i := f * per; i < min((f+1)*per, total); i++ {
			ts := time.Unix(1793000000+int64(i), 0).UTC().Format("20060102150405-0700")
			fmt.Fprintf(bw, benchADT, ts, fmt.Sprintf("A%x-%d", run, i), fmt.Sprintf("BM%08d", i%1000000), fmt.Sprintf("BV%08d", i))
		}
		err = bw.Flush()
		if zw != nil {
			err = errors.Join(err, zw.Close())
		}
		if err = errors.Join(err, fh.Close()); err != nil {
			return written, fmt.Errorf("write %s: %w", name, err)
		}
		written++
	}
	return written, nil
}

// benchADT is a synthetic ADT^A01 (about 1 KB) whose %s fields are filled
// per message: timestamp, control ID, MRN, visit number.
const benchADT = "MSH|^~\\&|BENCH|GENHOSP|CAREBRIDGE|CB|%s||ADT^A01^ADT_A01|%s|P|2.5.1\r" +
	"EVN|A01|%[1]s|||OP123^Osei^Ama^^^Dr\r" +
	"PID|1||%[3]s^^^GENHOSP^MR~NH%[3]s^^^UKNHS^NH||Benchmark^Patient^Q^^Mx||19800214|U|||1 Synthetic Way^Unit 2^Springfield^^SP1 2AB^GBR^H||+44-1632-960001^PRN^PH~bench@example.org^NET^Internet|+44-1632-960002^WPN^PH|en|S|||||||||||||N\r" +
	"NK1|1|Benchmark^Kin^^^Mx|SPO^Spouse^HL70063|1 Synthetic Way^^Springfield^^SP1 2AB^GBR|+44-1632-960003\r" +
	"PV1|1|I|WARD4^101^A^GENHOSP||||DOC123^Mensah^Kofi^^^Dr|DOC456^Lindqvist^Eva^^^Dr||MED|||||||DOC123^Mensah^Kofi^^^Dr|IP|%s^^^GENHOSP^VN|||||||||||||||||||||||||%[1]s\r" +
	"AL1|1|DA|PEN^Penicillin^L|SV|Rash\r" +
	"DG1|1||J18.9^Pneumonia, unspecified organism^I10|||A\r" +
	"IN1|1|GOLD^Gold Plan|INS01^^^GENHOSP|Synthetic Insurance Ltd|||||||||||||||||||||||||||||||||POL998877\r"

type benchResult struct {
	Target      string  `json:"target"`
	Connections int     `json:"connections"`
	Sent        int64   `json:"sent"`
	Accepted    int64   `json:"accepted"`
	NotAccepted int64   `json:"not_accepted"`
	Errors      int64   `json:"errors"`
	ElapsedS    float64 `json:"elapsed_s"`
	PerSecond   float64 `json:"messages_per_s"`
	RateTarget  float64 `json:"rate_target,omitempty"`
	P50MS       float64 `json:"ack_p50_ms"`
	P99MS       float64 `json:"ack_p99_ms"`
	P999MS      float64 `json:"ack_p999_ms"`
	MaxMS       float64 `json:"ack_max_ms"`
}

func newBenchIngestCmd() *cobra.Command {
	var to string
	var conns, total int
	var rate float64
	var asJSON bool
	var tf tlsFlags
	c := &cobra.Command{
		Use:   "ingest",
		Short: "Load-test a running server: N connections send M synthetic ADT^A01 messages",
		Long: `Open --connections MLLP connections to --to and send --messages synthetic ADT^A01 messages
(unique control IDs, synthetic patients) as fast as ACKs return, or at a steady --rate (messages/s
across all connections). Reports messages/s and ACK latency p50/p99/p99.9. With --rate, latency is
measured from each message's scheduled send time, so a stalled server cannot hide its queueing.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if conns < 1 || total < 1 || rate < 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--connections and --messages must be positive, --rate not negative")}
			}
			tcfg, err := tf.config()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			res, err := benchIngest(cmd.Context(), to, mllp.ClientOptions{TLSConfig: tcfg, Reconnect: true}, conns, total, rate, adtA01Message, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "target        %s (%d connections)\n", res.Target, res.Connections)
			fmt.Fprintf(out, "messages      %d sent, %d accepted, %d not accepted, %d errors\n", res.Sent, res.Accepted, res.NotAccepted, res.Errors)
			fmt.Fprintf(out, "elapsed       %.2fs\n", res.ElapsedS)
			fmt.Fprintf(out, "throughput    %.0f messages/s\n", res.PerSecond)
			fmt.Fprintf(out, "ack latency   p50 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms\n", res.P50MS, res.P99MS, res.P999MS, res.MaxMS)
			if res.Errors > 0 || res.NotAccepted > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("%d message(s) were not accepted", res.Errors+res.NotAccepted)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "127.0.0.1:2575", "MLLP receiver, host:port")
	c.Flags().IntVar(&conns, "connections", 32, "concurrent connections")
	c.Flags().IntVar(&total, "messages", 100000, "messages to send in all")
	c.Flags().Float64Var(&rate, "rate", 0, "steady rate in messages/s across all connections (0: as fast as possible)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	tf.register(c)
	return c
}

// adtA01Message is the i-th message of bench ingest: a synthetic ADT^A01
// of one of a million distinct synthetic people.
func adtA01Message(run int64, i int64, ts string) []byte {
	p := i % 1000000
	return withPerson(fmt.Appendf(nil, benchADT, ts, fmt.Sprintf("B%x-%d", run, i), fmt.Sprintf("BM%08d", p), fmt.Sprintf("BV%08d", i)), p)
}

// withPerson gives a benchADT message the name, birth date and phone of
// synthetic person p, so that identity matching sees distinct people (as
// many share a birth date as in a real population).
func withPerson(msg []byte, p int64) []byte {
	name, birth := benchPerson(p)
	msg = bytes.Replace(msg, []byte("|Benchmark^Patient^Q^^Mx||19800214|"), []byte("|"+name+"||"+birth+"|"), 1)
	return bytes.Replace(msg, []byte("+44-1632-960001"), fmt.Appendf(nil, "+44-1632-%06d", p%1000000), 1)
}

// benchPerson is the name (XPN) and birth date of synthetic person p.
func benchPerson(p int64) (string, string) {
	name := fmt.Sprintf("Bench%s^Pat%s", letters(p), letters(p/7+3))
	birth := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(p*7919%21900)).Format("20060102")
	return name, birth
}

// benchGiveUp is how long a load test goes on with every send failing.
const benchGiveUp = 10 * time.Second

func benchIngest(ctx context.Context, to string, opts mllp.ClientOptions, conns, total int, rate float64, gen func(run, i int64, ts string) []byte, progress io.Writer) (benchResult, error) {
	clients := make([]*mllp.Client, conns)
	for i := range clients {
		c, err := mllp.Dial(ctx, to, opts)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return benchResult{}, fmt.Errorf("connect to %s: %w", to, err)
		}
		clients[i] = c
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	run := time.Now().UnixNano()
	latencies := make([]time.Duration, total)
	var next, accepted, notAccepted, errs atomic.Int64
	// A server that stopped answering ends the run instead of letting it
	// crawl through reconnect back-offs: sends have failed, and none
	// succeeded, for benchGiveUp since the first of those failures.
	var failingSince atomic.Int64 // Unix nanoseconds; 0: the last send succeeded
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) || ctx.Err() != nil {
					return
				}
				ts := time.Now().Format("20060102150405.0000-0700")
				msg := gen(run, i, ts)
				sendAt := time.Now()
				if rate > 0 {
					sendAt = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if d := time.Until(sendAt); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
							return
						}
					}
				}
				ack, err := c.Send(ctx, msg)
				latencies[i] = time.Since(sendAt)
				if err == nil {
					failingSince.Store(0)
				}
				switch {
				case err != nil:
					errs.Add(1)
					// The first failure since a success starts the clock.
					failingSince.CompareAndSwap(0, time.Now().UnixNano())
					if failing := time.Since(time.Unix(0, failingSince.Load())); failing > benchGiveUp {
						stop(fmt.Errorf("%s stopped answering: every send failed for %s (last error: %w)", to, failing.Round(time.Second), err))
					}
				case ackAccepted(ack):
					accepted.Add(1)
				default:
					notAccepted.Add(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := accepted.Load() + notAccepted.Load() + errs.Load()
				fmt.Fprintf(progress, "bench: %d/%d messages, %.0f/s\n", n, total, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	wg.Wait()
	close(done)
	elapsed := time.Since(start)
	sent := accepted.Load() + notAccepted.Load() + errs.Load()
	lat := slices.Clone(latencies[:sent])
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	res := benchResult{
		Target: to, Connections: conns, Sent: sent, Accepted: accepted.Load(), NotAccepted: notAccepted.Load(), Errors: errs.Load(),
		ElapsedS: elapsed.Seconds(), PerSecond: float64(sent) / elapsed.Seconds(), RateTarget: rate,
		P50MS: pct(0.50), P99MS: pct(0.99), P999MS: pct(0.999), MaxMS: pct(1),
	}
	return res, context.Cause(ctx)
}

// ackAccepted reports whether an acknowledgement says AA or CA.
func ackAccepted(ack []byte) bool {
	m, err := hl7.ParseAck(ack)
	if err != nil {
		return false
	}
	code := m.Get("MSA-1")
	return code == "AA" || code == "CA"
}
