package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"golang.org/x/sync/errgroup"

	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
)

// Run runs jitbot until ctx is done, then stops taking new work and lets
// the work in flight finish. It returns a *ConfigError when Slack refuses
// the app token, and the error of a Socket Mode connection that cannot go
// on.
//
// Shutdown runs in two stages. Everything that produces Slack writes (the
// scheduler, the handlers, the watchers) stops first and finishes the
// work in its hands; only then is the write queue closed and given its
// grace to drain. Closing it with the signal would drop the credentials DM
// of a grant that completes after SIGTERM.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("jitbot started", "version", a.opts.Version, "roles", len(a.catalog.Roles),
		"catalog", a.cfg.Rules, "catalog_sha256", a.catalog.SHA256, "http_addr", a.httpLn.Addr().String())
	queueCtx, closeQueue := context.WithCancel(context.WithoutCancel(ctx))
	defer closeQueue()
	// A Slack connection that cannot go on (the app token refused) stops
	// jitbot the same orderly way, and is what it exits with: running on
	// without a connection would look healthy and answer nobody.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var producers, g errgroup.Group
	a.startProducers(ctx, &producers)
	if a.slackLn == nil {
		sm := socketmode.New(a.api)
		producers.Go(func() error { return a.handler.Run(ctx, sm) })
		g.Go(func() error { a.runSocketMode(ctx, sm, fail); return nil })
	}
	g.Go(func() error {
		defer closeQueue()
		return producers.Wait()
	})
	g.Go(func() error { return a.queue.Run(queueCtx) })
	a.serveProbes(ctx, &g)
	err := g.Wait()
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	a.log.Info("jitbot stopped")
	return err
}

// startProducers starts everything that makes Slack writes, except the
// Socket Mode handler: the scheduler, reconciliation, the S3 export, the
// audit anchors, the CloudTrail watcher, the catalog watcher, the refresh
// of the user groups listings read, and the HTTP-mode handler.
func (a *App) startProducers(ctx context.Context, producers *errgroup.Group) {
	producers.Go(func() error { return a.svc.Run(ctx) })
	producers.Go(func() error { return a.reconcileLoop(ctx, time.Duration(a.cfg.ReconcileInterval)) })
	if a.exporter != nil {
		producers.Go(func() error { return a.exporter.Run(ctx, time.Duration(a.cfg.AuditS3Interval)) })
	}
	producers.Go(func() error {
		return a.trail.PostAnchors(ctx, a.evidence.Head, time.Duration(a.cfg.AuditAnchorInterval))
	})
	if a.watcher != nil {
		poll := min(30*time.Second, max(time.Second, a.watcher.Delay/4))
		producers.Go(func() error { return a.watcher.Run(ctx, poll) })
		producers.Go(func() error { return a.hints.Run(ctx) })
	}
	producers.Go(func() error { return a.watchCatalog(ctx, a.catalog.SHA256) })
	if a.incidents != nil {
		producers.Go(func() error { return a.incidentLoop(ctx, time.Duration(a.cfg.PagerDutyPollInterval)) })
	}
	producers.Go(func() error {
		a.people.KeepListing(ctx, func(err error) { a.log.Warn("refresh the user groups for listings", "err", err) })
		return nil
	})
	producers.Go(func() error {
		a.people.KeepUsers(ctx, func(err error) { a.log.Warn("copy the workspace's users", "err", err) })
		return nil
	})
	if a.apiLn != nil {
		producers.Go(func() error { return a.serveWorkloadAPI(ctx) })
		producers.Go(func() error { return a.refusals.run(ctx) })
	}
	if a.slackLn != nil {
		a.log.Info("serving Slack's requests over HTTP", "slack_addr", a.slackLn.Addr().String(),
			"paths", []string{handlers.PathCommands, handlers.PathInteractivity, handlers.PathEvents})
		producers.Go(func() error { return a.handler.RunHTTP(ctx, a.slackLn, a.cfg.SlackSigningSecret) })
	}
}

// runSocketMode keeps the Socket Mode connection until ctx is done. When
// it cannot go on, it stops jitbot through fail.
func (a *App) runSocketMode(ctx context.Context, sm *socketmode.Client, fail context.CancelCauseFunc) {
	err := sm.RunContext(ctx)
	if err == nil || ctx.Err() != nil {
		return
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		fail(&ConfigError{Err: &config.Error{Var: "SLACK_APP_TOKEN", Msg: fmt.Sprintf("Slack refused the app token (%s)", se.Err)}})
		return
	}
	a.log.Error("Socket Mode stopped; shutting down", "err", err)
	fail(fmt.Errorf("socket mode: %w", err))
}

// serveProbes serves /healthz, /readyz and /metrics on JIT_HTTP_ADDR
// until ctx is done.
func (a *App) serveProbes(ctx context.Context, g *errgroup.Group) {
	srv := &http.Server{Handler: a.probes(), ReadHeaderTimeout: 5 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(a.httpLn); !errors.Is(err, http.ErrServerClosed) {
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
}

func (a *App) probes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", a.metrics.Handler())
	if a.incidents != nil && a.cfg.PagerDutyWebhookSecret != "" {
		mux.Handle("/pagerduty/webhook", a.pagerDutyWebhook())
	}
	return mux
}
