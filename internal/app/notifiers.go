package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/cloudtrail"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/report"
	"github.com/jitbot/jitbot/internal/report/page"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/pace"
	"github.com/jitbot/jitbot/internal/suggest/history"
	"github.com/jitbot/jitbot/internal/turns"
)

// openAuditLog opens the durable audit log, in the store's Redis, and its
// export to S3 when JIT_AUDIT_S3_BUCKET is set.
func (a *App) openAuditLog() {
	a.evidence = auditlog.New(a.store.Client(), a.cfg.RedisPrefix, a.log).WithKey(a.cfg.SigningKey.Bytes())
	if a.cfg.AuditS3Bucket == "" {
		return
	}
	// A custom endpoint (AWS_ENDPOINT_URL: moto, MinIO) needs path-style
	// addressing; real S3 uses virtual-hosted style.
	s3c := s3.NewFromConfig(a.awsCfg, func(o *s3.Options) { o.UsePathStyle = a.awsCfg.BaseEndpoint != nil })
	cursor := s3export.NewRedisCursor(a.store.Client(), redisstore.KeyTag(a.cfg.RedisPrefix)+":audit:s3cursor")
	a.exporter = s3export.New(a.evidence, cursor, s3c, a.cfg.AuditS3Bucket, a.cfg.AuditS3Prefix, a.log)
	a.log.Info("audit log export to S3 on", "bucket", a.cfg.AuditS3Bucket, "prefix", a.cfg.AuditS3Prefix, "every", time.Duration(a.cfg.AuditS3Interval))
}

// subscribe registers the notifiers on the service, which the Slack ones
// read. The durable audit log comes first: its entry is in Redis before
// anything is posted to Slack. The credential vault comes next, so a
// workload's credentials are fetchable before Slack hears of its grant.
func (a *App) subscribe() {
	messenger := notify.NewMessenger(a.svc, a.api, a.queue, a.store, a.log)
	messenger.Portal = blockkit.Portal{StartURL: a.cfg.SSOStartURL, Region: a.awsCfg.Region}
	a.trail = notify.NewAuditChannel(a.api, a.cfg.AuditChannel, a.store, a.queue, a.svc, a.log)
	// Every replica writes the audit channel, within one budget (Slack's
	// per-channel rate): while Slack holds it back, they take turns on one
	// schedule in Redis. Slack's burst is spent by then: no burst.
	a.trail.Turns = turns.New(a.store.Client(), redisstore.KeyTag(a.cfg.RedisPrefix)+":turns:audit",
		time.Duration(float64(time.Minute)/pace.PerChannel.PerMinute), 1)
	notifiers := grants.Notifiers{a.evidence}
	if a.vault != nil {
		notifiers = append(notifiers, a.vault)
	}
	notifiers = append(notifiers, a.metrics, a.trail, messenger)
	if a.cfg.UsageLookup {
		// Summaries go to the evidence and the audit thread, like events.
		lookup := cloudtrail.NewLookup(a.awsCfg)
		a.watcher = cloudtrail.NewWatcher(a.store.Client(), a.cfg.RedisPrefix, lookup, a.store, grants.Notifiers{a.evidence, a.trail}, a.log)
		a.watcher.Delay = time.Duration(a.cfg.UsageDelay)
		notifiers = append(notifiers, a.watcher)
		a.log.Info("CloudTrail usage lookups on", "second_look_after", a.watcher.Delay)
		// The approval DM's usage line comes from the same history.
		a.hints = history.NewHints(a.evidence, lookup, a.log)
		messenger.Usage = a.hints
	}
	a.svc.Subscribe(notifiers...)
	a.metrics.WatchStore(a.store, a.svc.Catalog)
	if a.cfg.AuditChannel == "" {
		a.log.Warn("JIT_AUDIT_CHANNEL is not set: the audit trail goes to this log only")
	}
}

// newHandler builds the Slack handler, which translates commands and
// clicks into calls on the service.
func (a *App) newHandler() *handlers.Handler {
	return handlers.New(handlers.Options{
		Service: a.svc, API: a.api, Queue: a.queue, Refs: a.store, Seen: a.store, Logger: a.log,
		MinDuration: time.Duration(a.cfg.MinDuration), OnCallUnavailable: a.onCallDown, Health: a.store.Ping, People: a.people,
		Report: a.accessReport,
	})
}

// accessReport is the answer to /jit report: the text, and the chart of
// requests per day. A chart that cannot be drawn is logged and left out;
// the text still goes.
func (a *App) accessReport(ctx context.Context, window time.Duration) (handlers.AccessReport, error) {
	r, err := report.FromLog(ctx, a.evidence, a.svc.Catalog(), window, time.Now())
	if err != nil {
		return handlers.AccessReport{}, err
	}
	chart, err := page.MainChartPNG(r)
	if err != nil {
		a.log.ErrorContext(ctx, "draw the report chart", "err", err)
	}
	return handlers.AccessReport{Text: report.Text(r), Chart: chart}, nil
}

// listen opens the listeners. Slack reaches jitbot over Socket Mode
// (jitbot dials out) or, in http mode, by posting to JIT_SLACK_ADDR, a
// listener apart from the probes and metrics of JIT_HTTP_ADDR, which must
// not be public.
func (a *App) listen() error {
	var err error
	if a.cfg.SlackMode == config.ModeHTTP {
		if a.slackLn, err = net.Listen("tcp", a.cfg.SlackAddr); err != nil {
			return fmt.Errorf("listen on JIT_SLACK_ADDR %s: %w", a.cfg.SlackAddr, err)
		}
	}
	if a.httpLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen on JIT_HTTP_ADDR %s: %w", a.cfg.HTTPAddr, err)
	}
	return nil
}
