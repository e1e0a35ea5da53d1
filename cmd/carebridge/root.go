package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/config"
)

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// Exit statuses.
const (
	exitOK       = 0
	exitFailure  = 1 // the command ran, but something it did failed (a NAK, a bad config)
	exitUsage    = 2 // the command line was wrong
	exitCanceled = 130
)

// execute runs the command line and returns the process exit status.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var prof cpuProfile
	root := newRoot(stdin, stdout, stderr, &prof)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	// Stopped here, not in a post-run hook, which cobra skips when the
	// command fails: the profile is complete whatever the outcome.
	if perr := prof.stop(); perr != nil {
		fmt.Fprintln(stderr, "carebridge: cpu profile:", perr)
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "carebridge:", ee.err)
			// Every usage error ends with where to read the usage.
			if ee.code == exitUsage && !strings.Contains(ee.err.Error(), "--help' for usage") && cmd != nil {
				fmt.Fprintf(stderr, "run '%s --help' for usage\n", cmd.CommandPath())
			}
		}
		return ee.code
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		// cobra's own error for an unknown top-level command (with its
		// suggestions); subcommand groups add the hint themselves.
		fmt.Fprintf(stderr, "carebridge: %s\nrun 'carebridge --help' for usage\n", strings.TrimRight(err.Error(), "\n"))
		return exitUsage
	}
	fmt.Fprintln(stderr, "carebridge:", err)
	if errors.Is(err, context.Canceled) {
		return exitCanceled
	}
	return exitFailure
}

// cpuProfile is the CPU profile requested with the hidden --cpuprofile flag.
type cpuProfile struct {
	path string
	f    *os.File
}

// start begins profiling into p.path, if set.
func (p *cpuProfile) start() error {
	if p.path == "" {
		return nil
	}
	f, err := os.Create(p.path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	p.f = f
	return nil
}

// stop ends profiling, if it was started, and closes the file.
func (p *cpuProfile) stop() error {
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	return err
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer, prof *cpuProfile) *cobra.Command {
	root := &cobra.Command{
		Use:           "carebridge",
		Short:         "Carebridge: an HL7 v2 / FHIR R4 integration engine",
		Long:          "Carebridge receives HL7 v2 messages over MLLP, commits each to its journal before acknowledging it,\nand processes them. Run `carebridge serve` to start it with the embedded default configuration.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\nrun '%s --help' for usage", err, c.CommandPath())}
	})
	root.PersistentFlags().StringVar(&prof.path, "cpuprofile", "", "write a CPU profile to this file (for performance work)")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return prof.start() }
	root.SetHelpCommand(newHelpCmd())
	root.AddCommand(newServeCmd(), newSendCmd(), newReplayCmd(), newMessagesCmd(), newConfigCmd(), newVersionCmd(), newBenchCmd(), newMapCmd(), newMappingCmd(), newPatientsCmd(), newStoreCmd())
	return root
}

// newHelpCmd is `carebridge help [command]`. Unlike cobra's default, an
// unknown topic is a usage error (exit 2), not a usage page and exit 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command: carebridge help COMMAND [SUBCOMMAND].",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("unknown help topic %q\nrun 'carebridge --help' for usage", strings.Join(args, " "))}
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}

// usageArgs makes a positional-argument check fail with the usage exit status.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w\nrun '%s --help' for usage", c.CommandPath(), err, c.CommandPath())}
		}
		return nil
	}
}

// group makes c a command that only holds subcommands: alone it prints its
// help; with an unknown subcommand it fails with the usage exit status.
func group(c *cobra.Command) *cobra.Command {
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown command %q for %q\nrun '%s --help' for usage", args[0], c.CommandPath(), c.CommandPath())}
	}
	return c
}

// configFlags are the flags every command that reads the configuration shares.
type configFlags struct {
	file string
	data string
}

func (f *configFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.file, "config", "", "configuration file (default: the embedded default, see docs/configuration.md)")
	c.Flags().StringVar(&f.data, "data", "", "data directory (overrides the configuration's data_dir, which defaults to ./carebridge-data)")
}

// load reads the configuration and applies the flags that override it.
func (f *configFlags) load() (*config.Config, error) {
	cfg, err := config.Load(f.file)
	if err != nil {
		return nil, &exitError{code: exitFailure, err: fmt.Errorf("configuration:\n%w", err)}
	}
	if f.data != "" {
		cfg.DataDir = f.data
	}
	return cfg, nil
}

// databaseExists fails with a helpful message when there is no database yet.
func databaseExists(cfg *config.Config) error {
	if _, err := os.Stat(cfg.DatabasePath()); err != nil {
		abs, _ := filepath.Abs(cfg.DatabasePath())
		return &exitError{code: exitFailure, err: fmt.Errorf("no journal at %s (run `carebridge serve` or pass --data DIR)", abs)}
	}
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
