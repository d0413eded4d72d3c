// Package metrics exposes jitbot's Prometheus metrics. It listens to the
// domain's events, so the domain itself stays free of instrumentation.
package metrics

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitbot/jitbot/internal/grants"
)

// Metrics holds jitbot's collectors in a registry of its own, so tests can
// build several without clashing.
type Metrics struct {
	reg           *prometheus.Registry
	events        *prometheus.CounterVec
	revocationLag prometheus.Histogram
	slackFailed   *prometheus.CounterVec
}

var _ grants.Notifier = (*Metrics)(nil)

// New registers jitbot's metrics and the Go runtime's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitbot_events_total",
			Help: "Request lifecycle events, by type (requested, granted, revoked, revoke_failed, …).",
		}, []string{"type", "role"}),
		revocationLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jitbot_revocation_lag_seconds",
			Help:    "Time from a grant's expiry to its revocation being done in AWS.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	m.slackFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jitbot_slack_writes_failed_total",
		Help: "Slack messages jitbot gave up on (an error a retry cannot fix, or retries exhausted), by what they were.",
	}, []string{"what"})
	m.reg.MustRegister(m.events, m.revocationLag, m.slackFailed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Notify counts e; for expiries it also records how late revocation was.
func (m *Metrics) Notify(_ context.Context, e grants.Event) {
	m.events.WithLabelValues(string(e.Type), e.Request.Role).Inc()
	r := e.Request
	if e.Type == grants.EventRevoked && r.RevokeReason == grants.ReasonExpired && !r.ExpiresAt.IsZero() {
		m.revocationLag.Observe(r.RevokedAt.Sub(r.ExpiresAt).Seconds())
	}
}

// SlackWriteFailed counts a Slack write given up on. what is the kind of
// message ("audit granted", "approval DMs"), never a user or request.
func (m *Metrics) SlackWriteFailed(what string, _ error) {
	m.slackFailed.WithLabelValues(what).Inc()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
