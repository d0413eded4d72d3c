package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/report"
	"github.com/jitbot/jitbot/internal/report/page"
	"github.com/jitbot/jitbot/internal/rules"
)

const reportUsage = `usage: jitbot report [--since DURATION] [--format text|json] [--out FILE]
       jitbot report [--since DURATION] --format html --out FILE

The access report of the last DURATION (default 30d), from the durable
audit log in REDIS_URL: per role, requests, approvals, denials, timeouts,
break-glass grants, time to approval (median and p95), elevated hours and
top requesters; and the roles of the catalog ($JIT_RULES) nobody requested,
candidates for removal.

--format html writes one self-contained HTML page to FILE, to open in any
browser: a timeline of who held which role when, requests per day by
outcome, time to decision, grants never used and the roles with the most
elevated hours, each chart with its table. Text and JSON go to stdout
unless --out names a file.
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
	format := choiceFlag(c, "format", "the output format", "text", "json", "html")
	out := c.Flags().String("out", "", "write the report to FILE instead of stdout (required for html)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		return reportCmd(c.Context(), reportOptions{since: *since, format: *format, out: *out}, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

type reportOptions struct{ since, format, out string }

// reportCmd prints the access report, or writes it to opts.out. It exits
// 2 on usage and configuration errors (a bad --since, html without --out,
// no REDIS_URL, a catalog that does not load) and 1 when Redis cannot be
// read or the file cannot be written.
func reportCmd(ctx context.Context, opts reportOptions, stdout, stderr io.Writer) error {
	window, err := parseWindow("jitbot report", opts.since)
	if err != nil {
		return err
	}
	if opts.format == "html" && opts.out == "" {
		return usageError{"jitbot report: --format html needs --out FILE: a page is for a browser, not a terminal"}
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

	if opts.out == "" {
		return writeReport(stdout, opts.format, r)
	}
	if err := writeFileAtomic(opts.out, func(w io.Writer) error { return writeReport(w, opts.format, r) }); err != nil {
		fmt.Fprintln(stderr, "jitbot report:", err)
		return exitError{1}
	}
	fmt.Fprintf(stderr, "jitbot report: wrote %s\n", opts.out)
	return nil
}

func writeReport(w io.Writer, format string, r report.Report) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "html":
		return page.Write(w, r)
	}
	_, err := io.WriteString(w, report.Text(r))
	return err
}

// writeFileAtomic writes path through a temporary file in its directory,
// renamed into place once whole, so that a failure leaves the old file
// (or none) rather than half a report.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // fails once renamed, harmlessly
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
