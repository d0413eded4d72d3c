package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/doctor"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
)

const doctorUsage = `usage: jitbot doctor [--format table|json]

Checks the posture jitbot depends on, reading only. For every role of the
catalog ($JIT_RULES): the AWS target exists; an aws_sts role trusts jitbot
alone and only with a source identity, its MaxSessionDuration covers
max_duration and jit-boundary bounds it; nobody is in an IAM or Identity
Center group, or assigned a permission set, without a live grant in
REDIS_URL; the policies of each IAM group. For jitbot: the Slack bot
token's scopes against the app manifest, membership of JIT_AUDIT_CHANNEL,
Redis persistence and maxmemory-policy noeviction, JIT_SIGNING_KEY set.

Run it with jitbot serve's environment and AWS credentials. Each finding
is ok, info, warn, wrong or error (a check that could not run), with the
fix. Exit status 1 when any is wrong or error; warnings alone exit 0.
`

func doctorCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "doctor",
		Short:             "check the AWS roles and jitbot's own setup for standing paths and misconfiguration",
		Long:              doctorUsage,
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	format := choiceFlag(c, "format", "the output format", "table", "json")
	c.RunE = func(c *cobra.Command, _ []string) error {
		return doctorCmd(c.Context(), *format, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// doctorCmd prints the findings. It exits 2 when the configuration or the
// catalog does not load (nothing could be checked), 1 when a finding is
// wrong or a check could not run, 0 otherwise.
func doctorCmd(ctx context.Context, format string, stdout, stderr io.Writer) error {
	cfg, catalog, err := configAndCatalog(stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := &doctor.Checker{Catalog: catalog, AuditChannel: cfg.AuditChannel, SigningKeySet: cfg.SigningKey != ""}

	if awsCfg, err := awsconfig.LoadDefaultConfig(ctx); err != nil {
		fmt.Fprintln(stderr, "jitbot: no usable AWS configuration; the AWS checks report it:", err)
	} else {
		c.AWS = doctor.NewSDKAWS(awsCfg, cfg.SSOInstanceARN)
		c.Members = map[string]grants.Lister{
			grants.BackendGroup:    awsgrant.NewGroup(awsCfg, log),
			grants.BackendSSO:      awsgrant.NewSSO(awsCfg, cfg.SSOInstanceARN, log),
			grants.BackendSSOGroup: awsgrant.NewSSOGroup(awsCfg, cfg.SSOInstanceARN, log),
		}
	}
	if cfg.SlackBotToken != "" {
		c.Slack = &doctor.SlackAPI{URL: cfg.SlackAPIURL, Token: cfg.SlackBotToken, Client: &http.Client{Timeout: 30 * time.Second}}
	}
	if cfg.RedisURL != "" {
		// Without JIT_SIGNING_KEY no record verifies, so none counts
		// as a grant; the signing key finding says why.
		var keys [][]byte
		for _, k := range []config.Secret{cfg.SigningKey, cfg.SigningKeyPrevious} {
			if k != "" {
				keys = append(keys, k.Bytes())
			}
		}
		store, err := redisstore.Open(ctx, cfg.RedisURL, redisstore.Options{Prefix: cfg.RedisPrefix, SigningKeys: keys})
		if err != nil {
			broken := unreachable{fmt.Errorf("connect to REDIS_URL: %w", err)}
			c.Redis, c.Records = broken, broken
		} else {
			defer store.Close()
			c.Redis, c.Records = doctor.RedisConfig{Client: store.Client()}, store
		}
	}

	findings := c.Run(ctx)
	if format == "json" {
		err = doctor.WriteJSON(stdout, findings)
	} else {
		err = doctor.WriteTable(stdout, findings)
	}
	if err != nil {
		return err
	}
	if doctor.Failed(findings) {
		return exitError{1}
	}
	return nil
}

// unreachable is a Redis that could not be reached: every check that
// reads it reports err.
type unreachable struct{ err error }

func (u unreachable) ConfigGet(context.Context, string) (string, error) { return "", u.err }
func (u unreachable) Open(context.Context) ([]*grants.Request, error)   { return nil, u.err }
