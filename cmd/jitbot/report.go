package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/report"
	"github.com/jitbot/jitbot/internal/rules"
)

const reportUsage = `usage: jitbot report [--since DURATION] [--format text|json]

The access report of the last DURATION (default 30d), from the durable
audit log in REDIS_URL: per role, requests, approvals, denials, timeouts,
break-glass grants, time to approval (median and p95), elevated hours and
top requesters; and the roles of the catalog ($JIT_RULES) nobody requested,
candidates for removal.
`

func reportCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "report",
		Short:             "access report per role from the audit log",
		Long:              reportUsage,
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	since := c.Flags().String("since", "30d", "the window: the last DURATION, e.g. 24h, 7d, 30d")
	format := choiceFlag(c, "format", "the output format", "text", "json")
	c.RunE = func(c *cobra.Command, _ []string) error {
		return reportCmd(c.Context(), *since, *format, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// reportCmd prints the access report. It exits 2 on usage and
// configuration errors (a bad --since, no REDIS_URL, a catalog that does
// not load) and 1 when Redis cannot be read.
func reportCmd(ctx context.Context, since, format string, stdout, stderr io.Writer) error {
	window, err := parseWindow("jitbot report", since)
	if err != nil {
		return err
	}

	_, catalog, err := configAndCatalog(stderr)
	if err != nil {
		return err
	}
	l, closeLog, err := openAuditLog(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeLog()

	r, err := report.FromLog(ctx, l, catalog, window, time.Now())
	if err != nil {
		return err
	}

	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err = io.WriteString(stdout, report.Text(r))
	return err
}

// parseWindow reads the --since of cmd, a duration such as 30d that must
// be positive; a bad one is a usage error.
func parseWindow(cmd, since string) (time.Duration, error) {
	window, err := rules.ParseDuration(since)
	if err == nil && window <= 0 {
		err = errors.New("the window must be longer than nothing")
	}
	if err != nil {
		return 0, usageError{fmt.Sprintf("%s: --since: %v", cmd, err)}
	}
	return window, nil
}

// configAndCatalog loads the configuration and the catalog it names, as
// the commands that read both do; on failure it says why on stderr and
// returns exit status 2.
func configAndCatalog(stderr io.Writer) (config.Config, *rules.Catalog, error) {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return config.Config{}, nil, exitError{2}
	}
	catalog, err := rules.Load(cfg.Rules)
	if err != nil {
		printLoadError(stderr, err)
		return config.Config{}, nil, exitError{2}
	}
	return cfg, catalog, nil
}
