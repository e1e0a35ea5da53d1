package main

import (
	"fmt"
	"github.com/carebridge/carebridge/record"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
)

func newServeCmd() *cobra.Command {
	var cf configFlags
	var mllpAddr, httpAddr string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the engine: MLLP listeners, journal, workers, /metrics and health",
		Long: `Run the engine. With no flags it uses the embedded default configuration:
MLLP on 127.0.0.1:2575, HTTP on 127.0.0.1:8080 (/metrics, /healthz, /readyz),
data in ./carebridge-data. SIGTERM or SIGINT shut it down gracefully.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			if err := cfg.CheckFiles(); err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("configuration:\n%w", err)}
			}
			for _, w := range cfg.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "carebridge: warning: %s\n", w.Error())
			}
			for flag, addr := range map[string]string{"--mllp": mllpAddr, "--http": httpAddr} {
				if addr != "" {
					if err := config.CheckAddr(addr); err != nil {
						return usageErrorf(cmd, "%s %v", flag, err)
					}
				}
			}
			if mllpAddr != "" {
				if len(cfg.MLLP) == 0 {
					cfg.MLLP = []config.MLLPListener{{Addr: mllpAddr}}
					cfg.Defaults()
				} else {
					cfg.MLLP[0].Addr = mllpAddr
				}
			}
			if cmd.Flags().Changed("http") {
				cfg.HTTP.Addr = httpAddr
			}
			return serve(cmd, cfg)
		},
	}
	cf.register(c)
	c.Flags().StringVar(&mllpAddr, "mllp", "", "address of the (first) MLLP listener, host:port")
	c.Flags().StringVar(&httpAddr, "http", "", "address of the HTTP listener, host:port (empty disables it)")
	return c
}

func serve(cmd *cobra.Command, cfg *config.Config) error {
	ctx := cmd.Context()
	log := newLogger(cfg, cmd.ErrOrStderr())
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := engine.NewMetrics(reg)
	set, err := configuredMappings(cfg) // before touching the data directory
	if err != nil {
		return err
	}
	lock, err := engine.LockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	store, err := sqlite.Open(ctx, cfg.DatabasePath(), sqlite.Options{
		Durability:      sqlite.Durability(cfg.Journal.Durability),
		DuplicateWindow: duplicateWindow(cfg),
		MaxBatch:        cfg.Journal.MaxBatch,
		OnCommit:        metrics.ObserveCommit,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	rec, err := record.New(store, record.Options{Match: &cfg.Identity, Log: log})
	if err != nil {
		return err
	}
	eng, err := engine.New(cfg, engine.Deps{Journal: store, Logger: log, Metrics: metrics, Gatherer: reg, Mappings: set, Record: rec})
	if err != nil {
		return err
	}
	log.Info("carebridge starting", "version", versionString(), "config", configName(cfg), "data", cfg.DataDir,
		"durability", cfg.Journal.Durability, "mappings", mappingsName(cfg), "mapping_hash", set.Hash())
	if err := eng.Run(ctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// duplicateWindow maps the configuration's window to the store's convention
// (negative turns detection off).
func duplicateWindow(cfg *config.Config) time.Duration {
	if cfg.Journal.DuplicateWindow.D == 0 {
		return -1
	}
	return cfg.Journal.DuplicateWindow.D
}

func configName(cfg *config.Config) string {
	if cfg.File == "" {
		return "(embedded default)"
	}
	return cfg.File
}

// configuredMappings loads the mapping set the configuration names: its
// mappings.dir, or the shipped one.
func configuredMappings(cfg *config.Config) (*mappings.Set, error) {
	fsys := mappings.Shipped()
	if cfg.Mappings.Dir != "" {
		fsys = os.DirFS(cfg.Mappings.Dir)
	}
	set, err := mappings.Load(fsys)
	if err != nil {
		return nil, &exitError{code: exitFailure, err: fmt.Errorf("mappings %s:\n%w", mappingsName(cfg), err)}
	}
	return set, nil
}

func mappingsName(cfg *config.Config) string {
	if cfg.Mappings.Dir == "" {
		return "(shipped)"
	}
	return cfg.Mappings.Dir
}
