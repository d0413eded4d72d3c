package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/slack-go/slack"
	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/accessmap"
	"github.com/jitbot/jitbot/internal/awsorg"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
)

const accessMapUsage = `usage: jitbot access-map [--format text|json]

For every role of the catalog ($JIT_RULES), who may approve it and who may
request it, read from Slack with SLACK_BOT_TOKEN. The text format is sorted
and has no timestamp, so a diff of two runs shows who gained or lost access.
The accounts of a role's organizational_unit are read from AWS Organizations
with the AWS configuration of the environment, as jitbot serve does.
`

// accessMapTimeout bounds each Slack call, so an address that swallows packets
// fails the run instead of hanging it; slack-go sets no timeout of its own.
const accessMapTimeout = 30 * time.Second

// Slack answers a token cannot be fixed by retrying: the operator must
// change SLACK_BOT_TOKEN or the app's scopes.
var accessMapTokenErrors = []string{"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
	"not_allowed_token_type", "missing_scope"}

func accessMapCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "access-map",
		Short:             "who may request and who may approve each role, from Slack",
		Long:              accessMapUsage,
		Args:              noArgs("; the catalog comes from JIT_RULES"),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	format := choiceFlag(c, "format", "the output format", "text", "json")
	c.RunE = func(c *cobra.Command, _ []string) error {
		return accessMapCmd(c.Context(), *format, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// accessMapCmd prints the access map. It exits 2 on configuration errors
// (a missing or refused SLACK_BOT_TOKEN, a catalog that does not load) and
// 1 when Slack cannot be read.
func accessMapCmd(ctx context.Context, format string, stdout, stderr io.Writer) error {
	cfg, err := config.Load()
	switch {
	case err != nil:
	case cfg.SlackBotToken == "":
		err = &config.Error{Var: "SLACK_BOT_TOKEN", Msg: "required for access-map: the bot token (xoxb-…, with users:read, users:read.email and usergroups:read)"}
	case !strings.HasPrefix(cfg.SlackBotToken, "xoxb-"):
		err = &config.Error{Var: "SLACK_BOT_TOKEN", Msg: "expected a bot token starting with xoxb-"}
	}
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitError{2}
	}
	catalog, err := rules.Load(cfg.Rules)
	if err != nil {
		printLoadError(stderr, err)
		return exitError{2}
	}

	catalog = withOrganizationalUnits(ctx, catalog, stderr)
	api := slack.New(cfg.SlackBotToken, slack.OptionAPIURL(cfg.SlackAPIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: accessMapTimeout}))
	m, err := accessmap.Build(ctx, catalog, directory.New(api, 0, 0), time.Now())
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && slices.Contains(accessMapTokenErrors, se.Err) {
			fmt.Fprintf(stderr, "jitbot: SLACK_BOT_TOKEN: Slack refused the token (%s); access-map needs the scopes users:read, users:read.email and usergroups:read\n", se.Err)
			return exitError{2}
		}
		fmt.Fprintf(stderr, "jitbot: access-map: %v\n", err)
		return exitError{1}
	}
	if format == "json" {
		err = m.WriteJSON(stdout)
	} else {
		err = m.WriteText(stdout)
	}
	if err != nil {
		return fmt.Errorf("write the access map: %w", err)
	}
	problems := 0
	for _, r := range m.Roles {
		problems += len(r.Errors)
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "jitbot: access-map: %d problem(s) found; see the roles' errors in the map\n", problems)
	}
	return nil
}

// withOrganizationalUnits is catalog with the accounts of its
// organizational units, read from AWS Organizations as jitbot serve reads
// them. A map without them is still worth having: when they cannot be
// read, stderr says so and the roles keep the accounts the catalog lists.
func withOrganizationalUnits(ctx context.Context, catalog *rules.Catalog, stderr io.Writer) *rules.Catalog {
	ous := catalog.OrganizationalUnits()
	if len(ous) == 0 {
		return catalog
	}
	ctx, cancel := context.WithTimeout(ctx, accessMapTimeout)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err == nil {
		var resolved *rules.Catalog
		r := awsorg.NewResolver(organizations.NewFromConfig(cfg), slog.New(slog.DiscardHandler))
		if resolved, err = r.Apply(ctx, catalog); err == nil {
			return resolved
		}
	}
	fmt.Fprintf(stderr, "jitbot: access-map: the accounts of organizational units %v could not be read from AWS Organizations, so their roles show only the accounts the catalog lists: %v\n", ous, err)
	return catalog
}
