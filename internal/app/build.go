package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/awslimit"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/incidents"
	"github.com/jitbot/jitbot/internal/oncall"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/slackapp/pace"
)

// openStore connects to REDIS_URL or, when it is empty, starts the
// embedded in-memory store, which is fine for a trial and nothing else.
func (a *App) openStore(ctx context.Context) error {
	opts := redisstore.Options{Prefix: a.cfg.RedisPrefix, SigningKeys: signingKeys(a.cfg)}
	if a.cfg.RedisURL == "" {
		a.log.Warn("REDIS_URL is empty: using an embedded in-memory store; every request and grant is LOST when jitbot stops, and grants issued before a restart are not revoked by jitbot. Set REDIS_URL for anything but a trial.")
		store, closeStore, err := redisstore.NewEmbedded(opts)
		if err != nil {
			return fmt.Errorf("start embedded store: %w", err)
		}
		a.store, a.closeStore = store, closeStore
		return nil
	}
	store, err := redisstore.Open(ctx, a.cfg.RedisURL, opts)
	if err != nil {
		return fmt.Errorf("connect to REDIS_URL: %w", err)
	}
	a.store, a.closeStore = store, store.Close
	return nil
}

// loadAWSConfig reads the AWS configuration from the environment, as the
// SDK does.
func (a *App) loadAWSConfig(ctx context.Context) error {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(awsHTTPClient()))
	if err != nil && a.cfg.DryRun {
		// A dry run calls no AWS API. The real backends are still built,
		// for grants made before the dry run, if any: they fail loudly and
		// are retried.
		a.log.Warn("no usable AWS configuration; a dry run needs none", "err", err)
		awsCfg, err = aws.Config{}, nil
	}
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	a.awsCfg = awsCfg
	return nil
}

// limitAWS holds every client later made from the AWS configuration to
// JIT_AWS_RATE_LIMITS and retries what AWS still throttles (awslimit),
// counted by the metrics.
func (a *App) limitAWS() error {
	limits, err := awslimit.Parse(a.cfg.AWSRateLimits)
	if err != nil { // config.Load has checked it; a Config made in code may not be
		return &ConfigError{Err: &config.Error{Var: "JIT_AWS_RATE_LIMITS", Msg: err.Error()}}
	}
	awslimit.New(limits, a.metrics).Apply(&a.awsCfg)
	a.log.Info("AWS calls are rate limited per service (requests/s, JIT_AWS_RATE_LIMITS)", "limits", limits.String())
	return nil
}

// awsHTTPClient is the SDK's default HTTP client keeping an idle
// connection for each AWS call jitbot may have open at once: the
// scheduler's workers and as many approvals again. The SDK keeps 10 per
// host, so with 16 revocations under way connections were closed and
// opened again, each a new TLS handshake with IAM.
func awsHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 2 * grants.DefaultWorkers
	})
}

// connectSlack makes the Slack client, its calls counted by the metrics
// and paced together once Slack answers 429 (pace), and checks the bot
// token.
func (a *App) connectSlack(ctx context.Context) error {
	a.slackPace = pace.New(a.metrics.SlackTransport(a.opts.SlackTransport))
	a.api = slack.New(a.cfg.SlackBotToken, slack.OptionAPIURL(a.cfg.SlackAPIURL), slack.OptionAppLevelToken(a.cfg.SlackAppToken),
		slack.OptionHTTPClient(&http.Client{Transport: a.slackPace}))
	return a.checkSlack(ctx)
}

// checkSlack asks Slack who the bot token belongs to, so that a wrong
// token stops jitbot at once with a clear line rather than failing on the
// first command. A network problem is only a warning: Socket Mode keeps
// trying to connect.
func (a *App) checkSlack(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	who, err := a.api.AuthTestContext(ctx)
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &se):
		return &ConfigError{Err: &config.Error{Var: "SLACK_BOT_TOKEN", Msg: fmt.Sprintf("Slack refused the token (%s)", se.Err)}}
	case err != nil:
		a.log.Warn("cannot reach Slack yet; will keep trying", "err", err)
		return nil
	}
	a.log.Info("Slack bot token accepted", "bot_user", who.UserID, "team", who.Team)
	return nil
}

// directory is who people are, from Slack, and who is on call, from
// PagerDuty when JIT_PAGERDUTY_TOKEN is set. onCallDown reports that
// PagerDuty cannot be reached.
func (a *App) directory() (dir grants.Directory, onCallDown func() bool) {
	a.people = directory.New(a.api, 0, 0)
	a.people.SlackHolds(a.slackPace.Holding)
	dir = a.people
	if a.cfg.PagerDutyToken == "" {
		return dir, func() bool { return false }
	}
	od := oncall.NewDirectory(a.people, oncall.NewPagerDuty(a.cfg.PagerDutyAPIURL, a.cfg.PagerDutyToken, nil, a.log), 0, a.log)
	a.log.Info("PagerDuty is the on-call source (user.oncall, user.oncall_schedules)")
	return od, od.Unavailable
}

// buildService builds the domain service on the store, the directory and
// the AWS backends, or those of Options.Backends.
func (a *App) buildService() error {
	opts := grants.Options{
		Store:        a.store,
		Limiter:      a.store,
		RequestLimit: a.cfg.RequestLimit,
		Lease:        time.Duration(a.cfg.Lease),
		Directory:    a.dir,
		Ledger:       a.evidence,
		Catalog:      a.catalog,
		Logger:       a.log,
		MinDuration:  time.Duration(a.cfg.MinDuration),
		DryRun:       a.cfg.DryRun,
		Backends:     a.opts.Backends,
	}
	if a.cfg.PagerDutyToken != "" {
		a.incidents = incidents.NewPagerDuty(a.cfg.PagerDutyAPIURL, a.cfg.PagerDutyToken, nil)
		opts.Incidents = pagerDutyIncidents{a.incidents}
	}
	if a.opts.Tune != nil {
		a.opts.Tune(&opts)
	}
	svc, err := NewService(a.awsCfg, opts, a.cfg.SSOInstanceARN)
	if err != nil {
		return err
	}
	a.svc = svc
	return nil
}

// The redisstore Store is the cross-replica lock of the STS backend.
var _ awsgrant.Locker = (*redisstore.Store)(nil)

// NewService builds the domain service with opts on the AWS backends of
// awsCfg, unless opts names its own, and the dry-run backend. The dry-run
// backend is always there, so that dry-run grants still live when
// JIT_DRY_RUN is turned off end without calling AWS. A store that can
// lock (redisstore's) serialises the rewrites of a role's revoke deny
// across the replicas that share it. ssoInstance is JIT_SSO_INSTANCE_ARN
// (empty: the account's only Identity Center instance, found at first use).
func NewService(awsCfg aws.Config, opts grants.Options, ssoInstance string) (*grants.Service, error) {
	if opts.Backends == nil {
		var stsOpts []awsgrant.STSOption
		if l, ok := opts.Store.(awsgrant.Locker); ok {
			stsOpts = append(stsOpts, awsgrant.WithLocker(l))
		}
		opts.Backends = map[string]grants.Backend{
			grants.BackendSTS:      awsgrant.NewSTS(awsCfg, opts.Logger, stsOpts...),
			grants.BackendGroup:    awsgrant.NewGroup(awsCfg, opts.Logger),
			grants.BackendSSO:      awsgrant.NewSSO(awsCfg, ssoInstance, opts.Logger),
			grants.BackendSSOGroup: awsgrant.NewSSOGroup(awsCfg, ssoInstance, opts.Logger),
		}
	}
	opts.DryRunBackend = awsgrant.NewDryRun(opts.Logger)
	return grants.New(opts)
}
