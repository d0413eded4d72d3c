package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
)

const auditUsage = `usage: jitbot audit export [--since DURATION] [--format jsonl|csv]
       jitbot audit verify [--file FILE]

export writes the durable audit log (from REDIS_URL) to stdout; verify
recomputes its chain under JIT_SIGNING_KEY, from REDIS_URL or from a jsonl
export, compares it with its anchors, and names the first broken entry.
`

const (
	auditExportUsage = `usage: jitbot audit export [--since DURATION] [--format jsonl|csv]

Writes the durable audit log (from REDIS_URL) to stdout: every entry, or
those of the last DURATION (e.g. 24h or 30d).
`
	auditVerifyUsage = `usage: jitbot audit verify [--file FILE]

Recomputes the audit log's chain under JIT_SIGNING_KEY (or
JIT_SIGNING_KEY_PREVIOUS), from REDIS_URL or from FILE (a jsonl export),
compares it with the anchors kept out of Redis (the S3 export when
JIT_AUDIT_S3_BUCKET is set), and names the first entry that does not match:
exit status 1 if there is one.
`
)

// auditCommand is `jitbot audit export|verify`.
func auditCommand() *cobra.Command {
	group := &cobra.Command{
		Use:                        "audit",
		Short:                      "read and check the durable audit log",
		Long:                       auditUsage,
		Args:                       unknownCommand,
		RunE:                       needCommand,
		SuggestionsMinimumDistance: 2,
	}
	export := &cobra.Command{
		Use:               "export",
		Short:             "write the durable audit log as jsonl or csv",
		Long:              auditExportUsage,
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	since := export.Flags().String("since", "", "only entries of the last DURATION, e.g. 24h or 30d (default: all)")
	format := choiceFlag(export, "format", "the output format", "jsonl", "csv")
	export.RunE = func(c *cobra.Command, _ []string) error {
		return auditExport(c.Context(), *since, *format, c.OutOrStdout(), c.ErrOrStderr())
	}
	verify := &cobra.Command{
		Use:               "verify",
		Short:             "recompute the audit log's hash chain and name the first break",
		Long:              auditVerifyUsage,
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	file := verify.Flags().String("file", "", "a jsonl export to verify instead of the log in REDIS_URL")
	verify.RunE = func(c *cobra.Command, _ []string) error {
		return auditVerify(c.Context(), *file, c.OutOrStdout(), c.ErrOrStderr())
	}
	group.AddCommand(export, verify)
	return group
}

// openAuditLog connects to REDIS_URL: the embedded store of a trial keeps
// nothing, so there is no log to read without it.
func openAuditLog(ctx context.Context, stderr io.Writer) (*auditlog.Log, func() error, error) {
	cfg, err := config.Load()
	if err == nil && cfg.RedisURL == "" {
		err = &config.Error{Var: "REDIS_URL", Msg: "required: the audit log lives in the Redis jitbot serve uses"}
	}
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return nil, nil, exitError{2}
	}
	store, err := redisstore.Open(ctx, cfg.RedisURL, redisstore.Options{Prefix: cfg.RedisPrefix})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to REDIS_URL: %w", err)
	}
	return auditlog.New(store.Client(), cfg.RedisPrefix, nil), store.Close, nil
}

func auditExport(ctx context.Context, since, format string, stdout, stderr io.Writer) error {
	from := time.Time{}
	if since != "" {
		d, err := rules.ParseDuration(since)
		if err != nil {
			return usageError{fmt.Sprintf("jitbot audit export: --since: %v", err)}
		}
		from = time.Now().Add(-d)
	}
	l, closeLog, err := openAuditLog(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	entries, err := l.Since(ctx, from)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if format == "jsonl" {
		for _, s := range entries {
			w.Write(s.Raw)
			w.WriteByte('\n')
		}
		return nil
	}
	return writeCSV(w, entries)
}

// csvColumns are the entry fields a spreadsheet needs; the hashes come
// along so a row can be checked against the log.
var csvColumns = []string{"seq", "type", "at", "request_id", "requester", "requester_email", "actor", "role", "backend",
	"target", "principal", "duration", "reason", "incident", "rule", "catalog_sha256", "auto_approved", "approvers",
	"state", "granted_at", "expires_at", "ended_at", "access_key_id", "grant_aws_request_id", "revoke_aws_request_id",
	"outcome", "prev", "hash"}

func writeCSV(w io.Writer, entries []auditlog.Stored) error {
	cw := csv.NewWriter(w)
	cw.Write(csvColumns)
	for _, s := range entries {
		e := s.Entry
		var approvers []string
		for _, a := range e.Approvals {
			approvers = append(approvers, a.Approver+"@"+a.At.Format(time.RFC3339))
		}
		cw.Write([]string{fmt.Sprint(e.Seq), e.Type, ts(e.At), e.RequestID, e.Requester, e.RequesterEmail, e.Actor, e.Role,
			e.Backend, e.Target, e.Principal, e.Duration, csvSafe(e.Reason), csvSafe(e.Incident), csvSafe(e.Rule), e.CatalogSHA256,
			fmt.Sprint(e.AutoApproved), strings.Join(approvers, " "), e.State, ts(e.GrantedAt), ts(e.ExpiresAt), ts(e.EndedAt),
			e.AccessKeyID, e.GrantAWSRequestID, e.RevokeAWSRequestID, csvSafe(e.Outcome), e.Prev, e.Hash})
	}
	cw.Flush()
	return cw.Error()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// csvSafe keeps user text from being read as a formula by a spreadsheet
// (CSV injection): a leading =, +, - or @ gets a quote in front.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func auditVerify(ctx context.Context, file string, stdout, stderr io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitError{2}
	}
	var entries []auditlog.Stored
	var headSeq int64
	var headHash, source string
	if file != "" {
		if entries, err = readExport(file); err != nil {
			fmt.Fprintln(stderr, "jitbot audit verify:", err)
			return exitError{2}
		}
		source = file
	} else {
		l, closeLog, err := openAuditLog(ctx, stderr)
		if err != nil {
			return err
		}
		defer closeLog()
		if entries, err = l.Read(ctx, "-", 0); err != nil {
			return err
		}
		if headSeq, headHash, err = l.Head(ctx); err != nil {
			return err
		}
		source = "REDIS_URL"
	}
	// The key checks every keyed entry; the previous one those chained
	// before a rotation.
	n, br := auditlog.Verify(entries, headSeq, headHash, cfg.SigningKey.Bytes(), cfg.SigningKeyPrevious.Bytes())
	if br != nil {
		fmt.Fprintf(stdout, "FAIL %s: %d entries verified before the break\n%v\n", source, n, br)
		return exitError{1}
	}
	anchors, from, err := readAnchors(ctx, cfg)
	if err != nil {
		return err
	}
	if file != "" {
		// An export made earlier ends before the newest anchors; what it
		// holds must still match them.
		anchors = slices.DeleteFunc(anchors, func(a auditlog.Anchor) bool { return a.Seq > int64(len(entries)) })
	}
	if br := auditlog.CheckAnchors(entries, anchors); br != nil {
		fmt.Fprintf(stdout, "FAIL %s: the chain is intact but does not match its anchors\n%v\n", source, br)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "OK %s: %d entries, chain intact, %d anchors match%s\n", source, n, len(anchors), from)
	return nil
}

// readExport reads a jsonl export; entries are named by line.
func readExport(path string) ([]auditlog.Stored, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditlog.Stored
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var e auditlog.Entry
		_ = json.Unmarshal(line, &e)
		out = append(out, auditlog.Stored{Raw: line, Entry: e})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New(path + " holds no entries")
	}
	return out, nil
}
