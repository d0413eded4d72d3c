// Package app wires jitbot's parts into the running bot: the store, the
// AWS backends, the Slack client and its write queue, the durable audit
// log, the grants.Service and its notifiers, the Slack handlers and the
// listeners. jitbot serve and jitbot demo run it, and so do the tests
// that run the whole bot in process (docs/design.md §3).
package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/awsorg"
	"github.com/jitbot/jitbot/internal/cloudtrail"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/credvault"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/incidents"
	"github.com/jitbot/jitbot/internal/metrics"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/pace"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
	"github.com/jitbot/jitbot/internal/suggest/history"
)

// Options are what the caller supplies besides the configuration. The
// zero value is production: every field only replaces a part for tests.
type Options struct {
	// Version is the version the start line names.
	Version string
	// Backends, when not nil, replace the AWS backends by kind
	// (grants.BackendSTS, grants.BackendGroup), e.g. with ones that only
	// record. The dry-run backend stays.
	Backends map[string]grants.Backend
	// SlackTransport, when not nil, carries the calls to the Slack Web API
	// (under the metrics' instrumentation), e.g. to record them.
	SlackTransport http.RoundTripper
	// Tune, when not nil, changes the domain's options before the service
	// is built: tests shorten its times (MaxIdle, ExpiryWarning).
	Tune func(*grants.Options)
}

// ConfigError is a start-up failure the operator fixes in the
// configuration: a catalog that does not load (Err is a *rules.LoadError)
// or a token Slack refuses (a *config.Error). jitbot serve exits with
// status 2 on it, as on any other bad setting.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// App is jitbot, built and ready to Run. Close releases what New opened.
type App struct {
	cfg  config.Config
	log  *slog.Logger
	opts Options

	// catalog is the catalog as its file gives it; the service runs it
	// with the accounts of its OUs added (withOUs). After New only the
	// catalog watcher changes it, and orgs and ouFailing.
	catalog    *rules.Catalog
	orgs       *awsorg.Resolver // nil until a catalog names an organizational unit
	ouFailing  bool             // the last reading of the OUs failed
	store      *redisstore.Store
	closeStore func() error
	awsCfg     aws.Config
	metrics    *metrics.Metrics
	api        *slack.Client
	queue      *queue.Queue
	dir        grants.Directory
	people     *directory.Directory // Slack's side of dir, whose group list Run keeps fresh
	slackPace  *pace.Transport      // the Slack client's transport, which knows what Slack holds back
	onCallDown func() bool
	evidence   *auditlog.Log
	exporter   *s3export.Exporter // nil unless JIT_AUDIT_S3_BUCKET is set
	svc        *grants.Service
	trail      *notify.AuditChannel
	watcher    *cloudtrail.Watcher // nil unless JIT_USAGE_LOOKUP is on
	hints      *history.Hints      // likewise
	handler    *handlers.Handler
	slackLn    net.Listener // nil in Socket Mode
	httpLn     net.Listener
	apiLn      net.Listener         // nil unless JIT_API_ADDR is set
	vault      *credvault.Vault     // nil unless JIT_API_ADDR is set
	verifier   *issuerVerifier      // nil unless JIT_API_ADDR is set
	refusals   *refusalDigest       // nil unless JIT_API_ADDR is set
	incidents  *incidents.PagerDuty // nil unless JIT_PAGERDUTY_TOKEN is set
}

// New builds jitbot from cfg: it loads the catalog, opens the store,
// checks the Slack bot token, builds the service and then the notifiers
// that read it, and opens the listeners. It runs nothing; see Run. On
// error, everything it opened is closed again, and a *ConfigError says
// the configuration is at fault.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	cfg = WithSigningKey(cfg)
	a := &App{cfg: cfg, log: log, opts: opts}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if cfg.DryRun {
		log.Warn("DRY RUN (JIT_DRY_RUN=true): nothing is granted or revoked in AWS. Every AWS call jitbot would make is only logged " +
			"and shown in Slack, every message says DRY RUN, no credentials are issued and reconciliation is off. " +
			"Unset JIT_DRY_RUN to grant real access.")
	}
	if a.catalog, err = rules.Load(cfg.Rules); err != nil {
		return nil, &ConfigError{Err: err}
	}
	if err = a.openStore(ctx); err != nil {
		return nil, err
	}
	if err = a.loadAWSConfig(ctx); err != nil {
		return nil, err
	}
	a.metrics = metrics.New()
	a.metrics.InstrumentAWS(&a.awsCfg) // before any client is made from it
	if err = a.limitAWS(); err != nil {
		return nil, err
	}
	if err = a.connectSlack(ctx); err != nil {
		return nil, err
	}
	a.queue = queue.New(log)
	a.queue.Failed = a.metrics.SlackWriteFailed
	a.dir, a.onCallDown = a.directory()
	a.openAuditLog()
	if err = a.buildService(); err != nil {
		return nil, err
	}
	if err = a.openWorkloadAPI(ctx); err != nil {
		return nil, err
	}
	a.subscribe()
	a.svc.SetCatalog(a.withOUs(ctx, a.catalog)) // after subscribe: a failure is announced
	a.handler = a.newHandler()
	if err = a.listen(); err != nil {
		return nil, err
	}
	if err = a.listenWorkloadAPI(); err != nil {
		return nil, err
	}
	return a, nil
}

// Close closes the listeners and the store. Call it after Run returns, or
// instead of Run.
func (a *App) Close() error {
	var errs []error
	for _, ln := range []net.Listener{a.slackLn, a.httpLn, a.apiLn} {
		// Run's HTTP server closes its listener itself.
		if ln != nil {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	if a.closeStore != nil {
		errs = append(errs, a.closeStore())
	}
	return errors.Join(errs...)
}

// Service is the domain service; tests read records through it.
func (a *App) Service() *grants.Service { return a.svc }

// Store is the store the service keeps its records in.
func (a *App) Store() *redisstore.Store { return a.store }

// AuditLog is the durable audit log.
func (a *App) AuditLog() *auditlog.Log { return a.evidence }

// Handler is the Slack handler, for tests that hand it payloads directly.
func (a *App) Handler() *handlers.Handler { return a.handler }

// Queue is the Slack write queue. Run runs it; a test that drives the
// Handler without Run runs it itself.
func (a *App) Queue() *queue.Queue { return a.queue }

// HTTPAddr is the address of the /healthz, /readyz and /metrics listener.
func (a *App) HTTPAddr() net.Addr { return a.httpLn.Addr() }
