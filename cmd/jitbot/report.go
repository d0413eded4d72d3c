package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

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

// reportCmd prints the access report. It exits 2 on usage and
// configuration errors (a bad flag, no REDIS_URL, a catalog that does not
// load) and 1 when Redis cannot be read.
func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	sinceFlag := fs.String("since", "30d", "the window: the last DURATION, e.g. 24h, 7d, 30d")
	format := fs.String("format", "text", "text or json")
	if ok, err := parseFlags(fs, args, reportUsage, stdout, stderr); !ok {
		return err
	}
	window, err := rules.ParseDuration(*sinceFlag)
	if err == nil && window <= 0 {
		err = errors.New("the window must be longer than nothing")
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "jitbot report: unexpected argument %q\n%s", fs.Arg(0), reportUsage)
		return exitError{2}
	case err != nil:
		fmt.Fprintf(stderr, "jitbot report: --since: %v\n", err)
		return exitError{2}
	case *format != "text" && *format != "json":
		fmt.Fprintf(stderr, "jitbot report: --format must be text or json, got %q\n", *format)
		return exitError{2}
	}

	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitError{2}
	}
	catalog, err := rules.Load(cfg.Rules)
	if err != nil {
		printLoadError(stderr, err)
		return exitError{2}
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

	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err = io.WriteString(stdout, report.Text(r))
	return err
}
