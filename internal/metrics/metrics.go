// Package metrics exposes jitbot's Prometheus metrics. It listens to the
// domain's events, so the domain itself stays free of instrumentation, reads
// the store at scrape time for what is open now, and wraps the Slack and AWS
// clients to count and time their calls.
//
// Labels are bounded: roles come from the catalog, Slack methods and AWS
// operations from the client libraries, results from a fixed list or AWS's
// error codes. No user, request or channel ever becomes a label.
package metrics

import (
	"compress/gzip"
	"context"
	"net/http"
	"sync"

	"github.com/klauspost/compress/gzhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitbot/jitbot/internal/grants"
)

// Outcomes of jitbot_requests_total. Each request ends in exactly one.
const (
	OutcomeGranted      = "granted"       // people approved it and access was issued
	OutcomeAutoApproved = "auto_approved" // an auto_approve rule granted it and access was issued
	OutcomeDenied       = "denied"
	OutcomeCancelled    = "cancelled"
	OutcomeTimedOut     = "timed_out"
	OutcomeGrantFailed  = "grant_failed" // approved (by people or a rule), but AWS refused to issue it
)

// Metrics holds jitbot's collectors in a registry of its own, so tests can
// build several without clashing.
type Metrics struct {
	reg             *prometheus.Registry
	events          *counterFamily // per role: kept beside reg, see counterFamily
	requests        *counterFamily
	revocationLag   prometheus.Histogram
	approvalLatency prometheus.Histogram
	revokeFailures  *counterFamily
	slackFailed     *prometheus.CounterVec
	slackCalls      *prometheus.CounterVec
	slackDuration   *prometheus.HistogramVec
	socketOpenOK    *prometheus.GaugeVec // no labels: a vector only so that it is absent until set
	awsCalls        *prometheus.CounterVec
	awsDuration     *prometheus.HistogramVec
	awsThrottled    *prometheus.CounterVec
	awsLimitWait    *prometheus.HistogramVec
	store           *storeCollector // set once by WatchStore, before serving

	seen seenEvents
}

var _ grants.Notifier = (*Metrics)(nil)

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// callDuration is a histogram of calls to a remote API, 5 ms to half a
// minute.
func callDuration(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: name, Help: help,
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, labels)
}

// New registers jitbot's metrics and the Go runtime's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: newCounterFamily("jitbot_events_total",
			"Request lifecycle events, by type (requested, approved, granted, revoked, revoke_failed, …) and role.", "type", "role"),
		requests: newCounterFamily("jitbot_requests_total",
			"Requests by role and how they ended: granted, auto_approved (break-glass, issued), denied, cancelled, timed_out, grant_failed. Each request counts once, when its outcome is known.", "role", "outcome"),
		revocationLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jitbot_revocation_lag_seconds",
			Help:    "Time from a grant's expiry to its revocation being done in AWS (grants that ran their full time).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		approvalLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jitbot_approval_latency_seconds",
			Help:    "Time from a request to the decision of the people who approved or denied it (auto-approved, cancelled and timed-out requests are not counted).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400},
		}),
		revokeFailures: newCounterFamily("jitbot_revoke_failures_total",
			"Revocation alerts: a grant whose revocation failed several times in a row (it is still being retried). See jitbot_revocations_retrying for failures happening now.", "role"),
		slackFailed: counter("jitbot_slack_writes_failed_total",
			"Slack messages jitbot gave up on (an error a retry cannot fix, or retries exhausted), by what they were.", "what"),
		slackCalls: counter("jitbot_slack_api_calls_total",
			"Slack Web API calls by method and result: ok, ratelimited (HTTP 429), slack_error (HTTP 200 with \"ok\":false), http_<status>, network_error, cancelled.", "method", "result"),
		slackDuration: callDuration("jitbot_slack_api_duration_seconds",
			"Duration of Slack Web API calls, request sent to response read, by method; every result included.", "method"),
		// A counter cannot say that the last attempt failed: Socket Mode
		// gives up after invalid_auth, so its one failed call is all there is.
		socketOpenOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jitbot_slack_socket_mode_open_ok",
			Help: "1 if the last apps.connections.open (Socket Mode asking Slack for a websocket, at start and at every reconnection) succeeded, 0 if it failed; absent before the first one and in http mode.",
		}, nil),
		awsCalls: counter("jitbot_aws_api_calls_total",
			"AWS API operations by service, operation and result: ok, the AWS error code (AccessDenied, NoSuchEntity, …), network_error, client_error or cancelled. One count per operation, after the SDK's own retries.", "service", "operation", "result"),
		awsDuration: callDuration("jitbot_aws_api_duration_seconds",
			"Duration of AWS API operations, the SDK's retries and their backoff included, by service and operation.", "service", "operation"),
		awsThrottled: counter("jitbot_aws_throttled_total",
			"AWS answers that throttled an attempt (Throttling, ThrottlingException, RequestLimitExceeded, TooManyRequestsException, SlowDown, HTTP 429), by service and operation. Each attempt counts, the SDK's retries included; most are retried to success.", "service", "operation"),
		awsLimitWait: callDuration("jitbot_aws_rate_limit_wait_seconds",
			"Time each AWS attempt waited for jitbot's own rate limit of its service (JIT_AWS_RATE_LIMITS), zero included, by service.", "service"),
	}
	m.reg.MustRegister(m.revocationLag, m.approvalLatency,
		m.slackFailed, m.slackCalls, m.slackDuration, m.socketOpenOK, m.awsCalls, m.awsDuration,
		m.awsThrottled, m.awsLimitWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// gatherer is every metric jitbot exposes.
func (m *Metrics) gatherer() prometheus.Gatherer {
	return gatherer{m}
}

// Notify counts e. An event handed over twice (see grants.Request.Journal)
// is counted once, as long as this process saw the first one recently.
func (m *Metrics) Notify(_ context.Context, e grants.Event) {
	r := e.Request
	if e.Note > 0 && !m.seen.first(r.ID, e.Note) {
		return
	}
	m.events.inc(string(e.Type), r.Role)
	if outcome := outcomeOf(e); outcome != "" {
		m.requests.inc(r.Role, outcome)
	}
	switch e.Type {
	case grants.EventRevoked:
		if r.RevokeReason == grants.ReasonExpired && !r.ExpiresAt.IsZero() && !r.RevokedAt.IsZero() {
			m.revocationLag.Observe(r.RevokedAt.Sub(r.ExpiresAt).Seconds())
		}
	case grants.EventRevokeFailed:
		m.revokeFailures.inc(r.Role)
	}
	// A decision by people: the last approval that made the request
	// granting (its grant may then succeed or fail), or a denial.
	switch e.Type {
	case grants.EventGranted, grants.EventGrantFailed, grants.EventDenied:
		if !r.AutoApproved && !r.DecidedAt.IsZero() && !r.CreatedAt.IsZero() {
			m.approvalLatency.Observe(r.DecidedAt.Sub(r.CreatedAt).Seconds())
		}
	}
}

// startRole gives role a zero series in the per-role counters that alerts
// watch for a single event (a failed grant, a break-glass, a revoke
// alert). Prometheus's increase() cannot see a series that appears with
// its first event already counted. The other outcomes appear with their
// first event: a rate over them needs no zero, and with 1,000 roles
// their zeros were 4,000 series, a third of every scrape's time.
func (m *Metrics) startRole(role string) {
	m.revokeFailures.with(role)
	for _, o := range alertedOutcomes {
		m.requests.with(role, o)
	}
}

// alertedOutcomes are the outcomes the documented alerts fire on at the
// first event (docs/operations.md).
var alertedOutcomes = []string{OutcomeGrantFailed, OutcomeAutoApproved}

// outcomeOf is the jitbot_requests_total outcome e settles, or "" for
// events that settle none (requested, approved, revoked, …). A break-glass
// request emits auto_approved and then granted; it counts as auto_approved,
// at granted, so that every request has one outcome.
func outcomeOf(e grants.Event) string {
	switch e.Type {
	case grants.EventGranted:
		if e.Request.AutoApproved {
			return OutcomeAutoApproved
		}
		return OutcomeGranted
	case grants.EventGrantFailed:
		return OutcomeGrantFailed
	case grants.EventDenied:
		return OutcomeDenied
	case grants.EventCancelled:
		return OutcomeCancelled
	case grants.EventTimedOut:
		return OutcomeTimedOut
	}
	return ""
}

// SlackWriteFailed counts a Slack write given up on. what is the kind of
// message ("audit granted", "approval DMs"), never a user or request.
func (m *Metrics) SlackWriteFailed(what string, _ error) {
	m.slackFailed.WithLabelValues(what).Inc()
}

// Handler serves the metrics in the Prometheus text format, gzipped at
// the fastest level when asked (Prometheus always asks). promhttp's own
// gzip uses the default level: with a 1,000-role catalog that was a
// quarter of a scrape's time, for a body a few percent smaller.
func (m *Metrics) Handler() http.Handler {
	h := fastGzip(promhttp.HandlerFor(m.gatherer(), promhttp.HandlerOpts{Registry: m.reg, DisableCompression: true}))
	// One scrape at a time: the per-role families hand out their series
	// for the encoder to read (see counterFamily.family). Prometheus
	// scrapes every 15–60 s; a second scraper waits a few milliseconds.
	var one sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		one.Lock()
		defer one.Unlock()
		h.ServeHTTP(w, r)
	})
}

// fastGzip compresses h's answers with gzip's fastest level.
var fastGzip = func() func(http.Handler) http.HandlerFunc {
	wrap, err := gzhttp.NewWrapper(gzhttp.CompressionLevel(gzip.BestSpeed))
	if err != nil {
		panic(err) // the options are constants
	}
	return wrap
}()

// seenCap bounds the events remembered for deduplication. An event is
// handed over again only after a failed journal write, within seconds, so
// the last few thousand are plenty.
const seenCap = 4096

// seenEvents remembers the last seenCap events by request and note number.
type seenEvents struct {
	mu   sync.Mutex
	set  map[eventKey]struct{}
	ring []eventKey
	next int
}

type eventKey struct {
	id   grants.RequestID
	note int
}

// first reports whether the event is new, and remembers it.
func (s *seenEvents) first(id grants.RequestID, note int) bool {
	k := eventKey{id, note}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[k]; ok {
		return false
	}
	if s.set == nil {
		s.set = make(map[eventKey]struct{}, seenCap)
		s.ring = make([]eventKey, seenCap)
	}
	if old := s.ring[s.next]; old != (eventKey{}) {
		delete(s.set, old)
	}
	s.ring[s.next] = k
	s.next = (s.next + 1) % seenCap
	s.set[k] = struct{}{}
	return true
}
