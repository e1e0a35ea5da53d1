package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/configs"
)

func newConfigCmd() *cobra.Command {
	c := group(&cobra.Command{Use: "config", Short: "Check or print configuration"})
	var flagFile string
	check := &cobra.Command{
		Use:   "check [FILE | --config FILE]",
		Short: "Check a configuration file (default: the embedded default) and report every error",
		Long: `Load FILE exactly as serve does (the same loader), including its TLS files, and report
every problem at once as file:line:col: message. Exit status 1 if there is any. FILE may
also be given as --config FILE, as to the other commands.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := flagFile
			if len(args) == 1 {
				if flagFile != "" {
					return usageErrorf(cmd, "give FILE or --config FILE, not both")
				}
				file = args[0]
			}
			cfg, err := config.Load(file)
			if err == nil {
				err = cfg.CheckFiles() // what serve needs: the TLS files
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			// What only warns (a certificate expiring soon) is printed,
			// not refused.
			for _, w := range cfg.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "carebridge: warning: %s\n", w.Error())
			}
			set, err := configuredMappings(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d MLLP listener(s), http %s, data %s, durability %s, mappings %s %s)\n",
				configName(cfg), len(cfg.MLLP), orDash(cfg.HTTP.Addr), cfg.DataDir, cfg.Journal.Durability, mappingsName(cfg), set.Hash())
			return nil
		},
	}
	check.Flags().StringVar(&flagFile, "config", "", "the configuration file (the same as FILE)")
	def := &cobra.Command{
		Use:   "default",
		Short: "Print the embedded default configuration (a starting point for your own)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(configs.Default)
			return err
		},
	}
	c.AddCommand(check, def)
	return c
}
