package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/cloudtrail"
	"github.com/jitbot/jitbot/internal/suggest"
	"github.com/jitbot/jitbot/internal/suggest/history"
)

const rulesSuggestUsage = `usage: jitbot rules suggest ROLE [--since DURATION]

What the grants of ROLE that ended in the last DURATION (default 90d) did,
from the durable audit log in REDIS_URL and CloudTrail (LookupEvents): the
actions used and the resources named, a session_policy that allows only
those, how many grants wrote nothing, and how long grants were used against
how long they ran, with a shorter default_duration when the data calls
for one. It changes nothing.
`

func rulesSuggestCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "suggest ROLE",
		Short: "least privilege from usage: the actions ROLE's past grants used, as a session_policy",
		Long:  rulesSuggestUsage,
		Args:  argCount(1, 1),
	}
	since := c.Flags().String("since", "90d", "the window: grants that ended in the last DURATION, e.g. 30d")
	c.RunE = func(c *cobra.Command, args []string) error {
		return rulesSuggest(c.Context(), args[0], *since, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// rulesSuggest prints the suggestion for role. It exits 2 on usage and
// configuration errors, an unknown role among them, and 1 when Redis or
// CloudTrail cannot be read. A role without history is not an error.
func rulesSuggest(ctx context.Context, role, since string, stdout, stderr io.Writer) error {
	window, err := parseWindow("jitbot rules suggest", since)
	if err != nil {
		return err
	}
	cfg, catalog, err := configAndCatalog(stderr)
	if err != nil {
		return err
	}
	r, ok := catalog.Roles[role]
	if !ok {
		fmt.Fprintf(stderr, "jitbot rules suggest: no role %q in %s (roles: %s)\n", role, cfg.Rules, strings.Join(catalog.Names(), ", "))
		return exitError{2}
	}
	l, closeLog, err := openAuditLog(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	past, err := history.Load(ctx, l, cloudtrail.NewLookup(awsCfg), role, history.Scan{Since: time.Now().Add(-window)})
	if err != nil {
		return err
	}
	if len(past) == 0 {
		fmt.Fprintf(stdout, "Role %s: no grant ended in the last %s; nothing to suggest.\n", role, since)
		return nil
	}
	_, err = io.WriteString(stdout, suggest.Text(suggest.Build(role, r.DefaultDuration, past), window))
	return err
}
