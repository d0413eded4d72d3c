package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"golang.org/x/sync/errgroup"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/cloudtrail"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/metrics"
	"github.com/jitbot/jitbot/internal/oncall"
	"github.com/jitbot/jitbot/internal/report"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
)

// serve runs the bot until ctx is done (SIGINT or SIGTERM), then stops
// taking new work and lets work in flight finish.
func serve(ctx context.Context, stderr io.Writer) error {
	cfg, err := config.Load()
	if err == nil {
		err = cfg.CheckServe()
	}
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitError{2}
	}
	return runBot(ctx, cfg, newLogger(stderr, cfg.LogLevel), stderr)
}

// runBot is the bot, configured by cfg, until ctx is done. serve runs it
// with the environment's configuration; jitbot demo with its own, against
// the Slack fake, so the demo shows the wiring that runs in production.
func runBot(ctx context.Context, cfg config.Config, log *slog.Logger, stderr io.Writer) error {
	if cfg.DryRun {
		log.Warn("DRY RUN (JIT_DRY_RUN=true): nothing is granted or revoked in AWS. Every AWS call jitbot would make is only logged " +
			"and shown in Slack, every message says DRY RUN, no credentials are issued and reconciliation is off. " +
			"Unset JIT_DRY_RUN to grant real access.")
	}
	catalog, err := rules.Load(cfg.Rules)
	if err != nil {
		printLoadError(stderr, err)
		return exitError{2}
	}
	store, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(awsHTTPClient()))
	if err != nil && cfg.DryRun {
		// A dry run calls no AWS API. The real backends are still built,
		// for grants made before the dry run, if any: they fail loudly and
		// are retried.
		log.Warn("no usable AWS configuration; a dry run needs none", "err", err)
		awsCfg, err = aws.Config{}, nil
	}
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	m := metrics.New()
	m.InstrumentAWS(&awsCfg) // before any client is made from it
	api := slack.New(cfg.SlackBotToken, slack.OptionAPIURL(cfg.SlackAPIURL), slack.OptionAppLevelToken(cfg.SlackAppToken),
		slack.OptionHTTPClient(&http.Client{Transport: m.SlackTransport(nil)}))
	if err := checkSlack(ctx, api, log); err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitError{2}
	}
	q := queue.New(log)
	q.Failed = m.SlackWriteFailed
	var dir grants.Directory = directory.New(api, 0, 0)
	onCallDown := func() bool { return false }
	if cfg.PagerDutyToken != "" {
		od := oncall.NewDirectory(dir, oncall.NewPagerDuty(cfg.PagerDutyAPIURL, cfg.PagerDutyToken, nil, log), 0, log)
		dir, onCallDown = od, od.Unavailable
		log.Info("PagerDuty is the on-call source (user.oncall, user.oncall_schedules)")
	}
	evidence := auditlog.New(store.Client(), cfg.RedisPrefix, log)
	var exporter *s3export.Exporter
	if cfg.AuditS3Bucket != "" {
		// A custom endpoint (AWS_ENDPOINT_URL: moto, MinIO) needs path-style
		// addressing; real S3 uses virtual-hosted style.
		s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = awsCfg.BaseEndpoint != nil })
		cursor := s3export.NewRedisCursor(store.Client(), "{"+cfg.RedisPrefix+"}:audit:s3cursor")
		exporter = s3export.New(evidence, cursor, s3c, cfg.AuditS3Bucket, cfg.AuditS3Prefix, log)
		log.Info("audit log export to S3 on", "bucket", cfg.AuditS3Bucket, "prefix", cfg.AuditS3Prefix, "every", time.Duration(cfg.AuditS3Interval))
	}
	svc, err := newService(awsCfg, grants.Options{
		Store:        store,
		Limiter:      store,
		RequestLimit: cfg.RequestLimit,
		Lease:        time.Duration(cfg.Lease),
		Directory:    dir,
		Catalog:      catalog,
		Logger:       log,
		MinDuration:  time.Duration(cfg.MinDuration),
		DryRun:       cfg.DryRun,
	})
	if err != nil {
		return err
	}
	// The durable audit log comes first: its entry is in Redis before
	// anything is posted to Slack.
	messenger := notify.NewMessenger(svc, api, q, store, log)
	trail := notify.NewAuditChannel(api, cfg.AuditChannel, store, q, svc, log)
	notifiers := grants.Notifiers{evidence, m, trail, messenger}
	var watcher *cloudtrail.Watcher
	if cfg.UsageLookup {
		// Summaries go to the evidence and the audit thread, like events.
		watcher = cloudtrail.NewWatcher(store.Client(), cfg.RedisPrefix, cloudtrail.NewLookup(awsCfg), store, grants.Notifiers{evidence, trail}, log)
		watcher.Delay = time.Duration(cfg.UsageDelay)
		notifiers = append(notifiers, watcher)
		log.Info("CloudTrail usage lookups on", "second_look_after", watcher.Delay)
	}
	svc.Subscribe(notifiers...)
	m.WatchStore(store, svc.Catalog)
	if cfg.AuditChannel == "" {
		log.Warn("JIT_AUDIT_CHANNEL is not set: the audit trail goes to this log only")
	}
	h := handlers.New(handlers.Options{
		Service: svc, API: api, Queue: q, Refs: store, Seen: store, Logger: log,
		MinDuration: time.Duration(cfg.MinDuration), OnCallUnavailable: onCallDown, Health: store.Ping,
		Report: func(ctx context.Context, window time.Duration) (string, error) {
			r, err := accessReport(ctx, evidence, svc.Catalog(), window, time.Now())
			if err != nil {
				return "", err
			}
			return report.Text(r), nil
		},
	})
	// Slack reaches jitbot over Socket Mode (jitbot dials out) or, in http
	// mode, by posting to JIT_SLACK_ADDR, a listener apart from the probes
	// and metrics of JIT_HTTP_ADDR, which must not be public.
	var slackLn net.Listener
	if cfg.SlackMode == config.ModeHTTP {
		if slackLn, err = net.Listen("tcp", cfg.SlackAddr); err != nil {
			return fmt.Errorf("listen on JIT_SLACK_ADDR %s: %w", cfg.SlackAddr, err)
		}
		defer slackLn.Close()
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on JIT_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: httpHandler(store, m), ReadHeaderTimeout: 5 * time.Second}
	log.Info("jitbot started", "version", buildVersion(), "roles", len(catalog.Roles),
		"catalog", cfg.Rules, "catalog_sha256", catalog.SHA256, "http_addr", ln.Addr().String())

	// Shutdown runs in two stages. Everything that produces Slack writes
	// (the scheduler, the handlers, the watchers) stops first and finishes
	// the work in its hands; only then is the write queue closed and given
	// its grace to drain. Closing it with the signal would drop the
	// credentials DM of a grant that completes after SIGTERM.
	queueCtx, closeQueue := context.WithCancel(context.WithoutCancel(ctx))
	defer closeQueue()
	// A Slack connection that cannot go on (the app token refused) stops
	// jitbot the same orderly way, and is what it exits with: running on
	// without a connection would look healthy and answer nobody.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var producers, g errgroup.Group
	producers.Go(func() error { return svc.Run(ctx) })
	producers.Go(func() error { return reconcileLoop(ctx, svc, time.Duration(cfg.ReconcileInterval), log) })
	if exporter != nil {
		producers.Go(func() error { return exporter.Run(ctx, time.Duration(cfg.AuditS3Interval)) })
	}
	if watcher != nil {
		poll := min(30*time.Second, max(time.Second, watcher.Delay/4))
		producers.Go(func() error { return watcher.Run(ctx, poll) })
	}
	producers.Go(func() error { return watchCatalog(ctx, cfg.Rules, catalog.SHA256, svc, trail, log) })
	if slackLn != nil {
		log.Info("serving Slack's requests over HTTP", "slack_addr", slackLn.Addr().String(),
			"paths", []string{handlers.PathCommands, handlers.PathInteractivity, handlers.PathEvents})
		producers.Go(func() error { return h.RunHTTP(ctx, slackLn, cfg.SlackSigningSecret) })
	} else {
		sm := socketmode.New(api)
		producers.Go(func() error { return h.Run(ctx, sm) })
		g.Go(func() error {
			err := sm.RunContext(ctx)
			if err == nil || ctx.Err() != nil {
				return nil
			}
			var se slack.SlackErrorResponse
			if errors.As(err, &se) {
				fmt.Fprintln(stderr, "jitbot:", &config.Error{Var: "SLACK_APP_TOKEN", Msg: fmt.Sprintf("Slack refused the app token (%s)", se.Err)})
				fail(exitError{2})
				return nil
			}
			log.Error("Socket Mode stopped; shutting down", "err", err)
			fail(fmt.Errorf("socket mode: %w", err))
			return nil
		})
	}
	g.Go(func() error {
		defer closeQueue()
		return producers.Wait()
	})
	g.Go(func() error { return q.Run(queueCtx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	err = g.Wait()
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	log.Info("jitbot stopped")
	return err
}

// reconcileLoop compares reconciled IAM groups with the grants at start
// and then every interval.
func reconcileLoop(ctx context.Context, svc *grants.Service, every time.Duration, log *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := svc.Reconcile(ctx); err != nil && ctx.Err() == nil {
			log.Error("reconciliation failed; will try again", "err", err, "retry_in", every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// catalogPoll is how often the catalog file is checked for changes.
const catalogPoll = 2 * time.Second

// watchCatalog reloads the role catalog on SIGHUP and when the file's
// content changes. A catalog that does not load is rejected, with its
// problems posted to the audit channel, and the one in force stays.
func watchCatalog(ctx context.Context, path, loaded string, svc *grants.Service, trail *notify.AuditChannel, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(catalogPoll)
	defer tick.Stop()
	tried := loaded // the content last tried, so a bad file is reported once
	for {
		force := false
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			force = true
		case <-tick.C:
		}
		sum, err := fileSHA256(path)
		if err != nil {
			if force {
				log.Error("catalog reload failed", "catalog", path, "err", err)
			}
			continue
		}
		if sum == tried && !force {
			continue
		}
		tried = sum
		c, err := rules.Load(path)
		if err != nil {
			log.Error("new catalog rejected; the previous one stays in force", "catalog", path, "err", err)
			trail.Announce(fmt.Sprintf("Role catalog %s was changed but does not load, so the previous one (sha256 %.12s) stays in force:\n%v", path, svc.Catalog().SHA256, err))
			continue
		}
		if c.SHA256 == svc.Catalog().SHA256 {
			continue
		}
		svc.SetCatalog(c)
		log.Info("catalog reloaded", "catalog", path, "catalog_sha256", c.SHA256, "roles", len(c.Roles))
		trail.Announce(fmt.Sprintf("Role catalog reloaded: %d roles, sha256 %s.", len(c.Roles), c.SHA256))
	}
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// newService wires the domain to its AWS backends. The dry-run backend is
// always there, so that dry-run grants still live when JIT_DRY_RUN is
// turned off end without calling AWS.
func newService(awsCfg aws.Config, opts grants.Options) (*grants.Service, error) {
	opts.Backends = map[string]grants.Backend{
		grants.BackendSTS:   awsgrant.NewSTS(awsCfg, opts.Logger),
		grants.BackendGroup: awsgrant.NewGroup(awsCfg, opts.Logger),
	}
	opts.DryRunBackend = awsgrant.NewDryRun(opts.Logger)
	return grants.New(opts)
}

// openStore connects to REDIS_URL or, when it is empty, starts the
// embedded in-memory store, which is fine for a trial and nothing else.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*redisstore.Store, func() error, error) {
	opts := redisstore.Options{Prefix: cfg.RedisPrefix}
	if cfg.RedisURL == "" {
		log.Warn("REDIS_URL is empty: using an embedded in-memory store; every request and grant is LOST when jitbot stops, and grants issued before a restart are not revoked by jitbot. Set REDIS_URL for anything but a trial.")
		store, closeStore, err := redisstore.NewEmbedded(opts)
		if err != nil {
			return nil, nil, fmt.Errorf("start embedded store: %w", err)
		}
		return store, closeStore, nil
	}
	store, err := redisstore.Open(ctx, cfg.RedisURL, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to REDIS_URL: %w", err)
	}
	return store, store.Close, nil
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

func httpHandler(store *redisstore.Store, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level))) // checked by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// checkSlack asks Slack who the bot token belongs to, so that a wrong
// token stops jitbot at once with a clear line rather than failing on the
// first command. A network problem is only a warning: Socket Mode keeps
// trying to connect.
func checkSlack(ctx context.Context, api *slack.Client, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	who, err := api.AuthTestContext(ctx)
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &se):
		return &config.Error{Var: "SLACK_BOT_TOKEN", Msg: fmt.Sprintf("Slack refused the token (%s)", se.Err)}
	case err != nil:
		log.Warn("cannot reach Slack yet; will keep trying", "err", err)
		return nil
	}
	log.Info("Slack bot token accepted", "bot_user", who.UserID, "team", who.Team)
	return nil
}
