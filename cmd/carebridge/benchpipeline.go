package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/record"
)

// The pipeline benchmark's message mix, per synthetic patient: admit,
// appointment, charge, update, discharge (ADT 60%, SIU 20%, DFT 20%).
const (
	benchS12 = "MSH|^~\\&|BENCH|GENHOSP|CAREBRIDGE|CB|%s||SIU^S12^SIU_S12|%s|P|2.5.1\r" +
		"SCH||AP%[3]s^BENCH|||||FOLLOWUP^Follow-up visit^HL70276|Normal^Routine^HL70277|30|min^minutes^ISO+|^^30^20261201100000+0000^20261201103000+0000||||||||||||||Booked^Booked^HL70278\r" +
		"PID|1||%[3]s^^^GENHOSP^MR||%[4]s||%[5]s|U\r" +
		"RGS|1|A\r" +
		"AIP|1|A|DOC123^Mensah^Kofi^^^Dr|ATND^Attending^HL70443||20261201100000+0000|||30|min^minutes||Booked\r"
	benchP03 = "MSH|^~\\&|BENCH|GENHOSP|CAREBRIDGE|CB|%s||DFT^P03^DFT_P03|%s|P|2.5.1\r" +
		"EVN|P03|%[1]s\r" +
		"PID|1||%[3]s^^^GENHOSP^MR||%[5]s||%[6]s|U||||||||||AC%[3]s^^^GENHOSP^AN\r" +
		"PV1|1|I|WARD4^101^A^GENHOSP||||||||||||||||%[4]s^^^GENHOSP^VN\r" +
		"FT1|1|TX%[3]s|B1|%[1]s|%[1]s|CG|99213^Office visit^CPT|Office visit||1|125.00&GBP|125.00&GBP\r"
	benchA08 = "MSH|^~\\&|BENCH|GENHOSP|CAREBRIDGE|CB|%s||ADT^A08^ADT_A01|%s|P|2.5.1\r" +
		"EVN|A08|%[1]s\r" +
		"PID|1||%[3]s^^^GENHOSP^MR||%[5]s||%[6]s|U|||2 Synthetic Way^^Springfield^^SP1 2AC^GBR^H\r" +
		"PV1|1|I|WARD4^101^A^GENHOSP||||||||||||||||%[4]s^^^GENHOSP^VN\r"
	benchA03 = "MSH|^~\\&|BENCH|GENHOSP|CAREBRIDGE|CB|%s||ADT^A03^ADT_A03|%s|P|2.5.1\r" +
		"EVN|A03|%[1]s\r" +
		"PID|1||%[3]s^^^GENHOSP^MR||%[5]s||%[6]s|U\r" +
		"PV1|1|I|WARD4^101^A^GENHOSP||||||||||||||||%[4]s^^^GENHOSP^VN|||||||||||||||||01||||||||%[1]s|%[1]s\r"
)

// pipelineMessage is the i-th message of the mix: patient i/5, step i%5.
func pipelineMessage(run, i int64, ts string) []byte {
	ctrl := fmt.Sprintf("P%x-%d", run, i)
	p := i / 5
	mrn, visit := fmt.Sprintf("PM%x%07d", run%0xffff, p), fmt.Sprintf("PV%x%07d", run%0xffff, p)
	// Distinct synthetic people: names from the patient number, birth
	// dates spread over 60 years (as many patients share a birth date as
	// in a real population, so identity matching does real work).
	name, birth := benchPerson(p)
	switch i % 5 {
	case 0:
		return withPerson(fmt.Appendf(nil, benchADT, ts, ctrl, mrn, visit), p)
	case 1:
		return fmt.Appendf(nil, benchS12, ts, ctrl, mrn, name, birth)
	case 2:
		return fmt.Appendf(nil, benchP03, ts, ctrl, mrn, visit, name, birth)
	case 3:
		return fmt.Appendf(nil, benchA08, ts, ctrl, mrn, visit, name, birth)
	default:
		return fmt.Appendf(nil, benchA03, ts, ctrl, mrn, visit, name, birth)
	}
}

// letters spells n in base 26 (a, b, …, z, ba, …).
func letters(n int64) string {
	s := ""
	for {
		s = string(rune('a'+n%26)) + s
		n /= 26
		if n == 0 {
			return s
		}
	}
}

type pipelineResult struct {
	Ingest        benchResult `json:"ingest"`
	ProcessedPerS float64     `json:"processed_per_s"`
	DrainS        float64     `json:"drain_after_send_s"`
	Processed     int64       `json:"processed"`
	Failed        int64       `json:"failed"`
	// CPUMSPerMessage is the process's CPU time (user and system: the
	// engine and the senders) from the first message sent to the last
	// applied, per message; 0 where it cannot be read.
	CPUMSPerMessage float64 `json:"cpu_ms_per_message,omitempty"`
	// CPUsBusy is that CPU time over the same span of wall time: how many
	// cores the run kept busy.
	CPUsBusy        float64 `json:"cpus_busy,omitempty"`
	DatabaseBytes   int64   `json:"database_bytes"`
	BytesPerMessage float64 `json:"database_bytes_per_message"`
	Durability      string  `json:"durability"`
	Workers         int     `json:"workers"`
	KeptDataDir     string  `json:"data_dir,omitempty"`
	// FailedEntries are the first failed messages (journal ID, type and
	// error: the errors name elements and rules, never patient data), so
	// that a failure in a temporary data directory is not lost with it.
	FailedEntries []benchFailure `json:"failed_entries,omitempty"`
}

func newBenchPipelineCmd() *cobra.Command {
	var conns, total, workers int
	var rate float64
	var durability, data string
	var asJSON bool
	c := &cobra.Command{
		Use:   "pipeline",
		Short: "Measure the whole pipeline in this process: MLLP → journal → map → record (SQLite)",
		Long: `Start an engine in this process on a fresh data directory (a temporary one unless --data),
with the shipped mappings and the unified record, listening on a loopback port; send --messages
synthetic messages over --connections MLLP connections (per patient: ADT^A01, SIU^S12, DFT^P03,
ADT^A08, ADT^A03), as fast as ACKs return or at --rate; then wait until every message is
processed. Reports ingest messages/s with ACK latency, processed messages/s (from the first
message to the last one applied), failures, the process's CPU time per message over that span
(engine and senders: what a message costs the machine) and how many cores were busy, and
database bytes per message.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if conns < 1 || total < 1 || rate < 0 || workers < 1 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--connections, --messages and --workers must be positive, --rate not negative")}
			}
			res, err := benchPipeline(cmd.Context(), data, durability, workers, conns, total, rate, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "messages      %d sent, %d accepted (%d connections, durability %s, %d workers)\n", res.Ingest.Sent, res.Ingest.Accepted, conns, res.Durability, res.Workers)
			fmt.Fprintf(out, "ingest        %.0f messages/s, ack p50 %.2fms  p99 %.2fms  max %.2fms\n", res.Ingest.PerSecond, res.Ingest.P50MS, res.Ingest.P99MS, res.Ingest.MaxMS)
			fmt.Fprintf(out, "processed     %.0f messages/s (%d processed, %d failed; %.2fs to drain after the last ACK)\n", res.ProcessedPerS, res.Processed, res.Failed, res.DrainS)
			if res.CPUMSPerMessage > 0 {
				fmt.Fprintf(out, "cpu           %.2f ms per message (engine and senders, user and system), %.2f of %d cores busy\n", res.CPUMSPerMessage, res.CPUsBusy, runtime.NumCPU())
			}
			fmt.Fprintf(out, "database      %d bytes, %.0f bytes per message\n", res.DatabaseBytes, res.BytesPerMessage)
			for _, f := range res.FailedEntries {
				fmt.Fprintf(out, "failed        entry %d (%s): %s\n", f.ID, f.Type, f.Error)
			}
			if res.Failed > 0 || res.Ingest.Accepted != res.Ingest.Sent {
				return &exitError{code: exitFailure, err: fmt.Errorf("%d message(s) failed, %d not accepted", res.Failed, res.Ingest.Sent-res.Ingest.Accepted)}
			}
			return nil
		},
	}
	c.Flags().IntVar(&conns, "connections", 32, "concurrent connections")
	c.Flags().IntVar(&total, "messages", 20000, "messages to send in all")
	c.Flags().IntVar(&workers, "workers", 1, "processing workers")
	c.Flags().Float64Var(&rate, "rate", 0, "steady rate in messages/s across all connections (0: as fast as possible)")
	c.Flags().StringVar(&durability, "durability", "full", "journal durability: full, normal or off")
	c.Flags().StringVar(&data, "data", "", "data directory to use and keep (default: a temporary one, removed)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

func benchPipeline(ctx context.Context, data, durability string, workers, conns, total int, rate float64, progress io.Writer) (pipelineResult, error) {
	res := pipelineResult{Durability: durability, Workers: workers, KeptDataDir: data}
	if data == "" {
		dir, err := os.MkdirTemp("", "carebridge-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		data = dir
	}
	cfg, err := config.Load("")
	if err != nil {
		return res, err
	}
	cfg.DataDir = data
	cfg.HTTP.Addr = ""
	cfg.MLLP[0].Addr = "127.0.0.1:0"
	cfg.Processing.Workers = workers
	cfg.Journal.Durability = durability
	set, err := configuredMappings(cfg)
	if err != nil {
		return res, err
	}
	store, err := sqlite.Open(ctx, cfg.DatabasePath(), sqlite.Options{Durability: sqlite.Durability(durability), MaxBatch: cfg.Journal.MaxBatch})
	if err != nil {
		return res, err
	}
	defer store.Close()
	rec, err := record.New(store, record.Options{Match: &cfg.Identity})
	if err != nil {
		return res, err
	}
	eng, err := engine.New(cfg, engine.Deps{Journal: store, Mappings: set, Record: rec})
	if err != nil {
		return res, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(runCtx) }()
	select {
	case <-eng.Ready():
	case err := <-ran:
		return res, fmt.Errorf("start the engine: %w", err)
	}
	start := time.Now()
	cpuStart, cpuOK := processCPU()
	res.Ingest, err = benchIngest(ctx, eng.MLLPAddr(cfg.MLLP[0].Name).String(), mllp.ClientOptions{Reconnect: true}, conns, total, rate, pipelineMessage, progress)
	if err != nil {
		return res, err
	}
	sent := time.Now()
	for {
		counts, err := store.Counts(ctx)
		if err != nil {
			return res, err
		}
		if counts[fhirstore.StatusReceived]+counts[fhirstore.StatusProcessing] == 0 {
			res.Processed, res.Failed = counts[fhirstore.StatusProcessed], counts[fhirstore.StatusFailed]
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling the journal for the backlog to drain
		}
	}
	end := time.Now()
	if res.Failed > 0 {
		err := store.List(ctx, fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusFailed}, Limit: maxBenchFailures}, func(e *fhirstore.Entry) error {
			res.FailedEntries = append(res.FailedEntries, benchFailure{ID: e.ID, Type: e.MessageType, Error: e.Error})
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	if cpuEnd, ok := processCPU(); ok && cpuOK && res.Processed+res.Failed > 0 {
		cpu := cpuEnd - cpuStart
		res.CPUMSPerMessage = float64(cpu.Microseconds()) / 1000 / float64(res.Processed+res.Failed)
		res.CPUsBusy = cpu.Seconds() / end.Sub(start).Seconds()
	}
	res.DrainS = end.Sub(sent).Seconds()
	res.ProcessedPerS = float64(res.Processed+res.Failed) / end.Sub(start).Seconds()
	stop()
	if err := <-ran; err != nil {
		return res, err
	}
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(filepath.Clean(cfg.DatabasePath() + suffix)); err == nil {
			res.DatabaseBytes += fi.Size()
		}
	}
	res.BytesPerMessage = float64(res.DatabaseBytes) / float64(max(res.Ingest.Sent, 1))
	return res, nil
}

// benchFailure is a message that failed in a bench run.
type benchFailure struct {
	ID    int64  `json:"id"`
	Type  string `json:"type"`
	Error string `json:"error"`
}

// maxBenchFailures bounds the failed messages a bench run lists.
const maxBenchFailures = 5
