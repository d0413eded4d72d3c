package metrics

import (
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/jitbot/jitbot/internal/grants"
)

// series is one gathered sample: a counter's or gauge's value, or a
// histogram's count and sum.
type series struct {
	value, sum float64
	count      uint64
}

// find gathers m and returns the series of name whose labels include all
// of labels; ok is false when there is none.
func find(t *testing.T, m *Metrics, name string, labels map[string]string) (series, bool) {
	t.Helper()
	families, err := m.gatherer().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if !hasLabels(s, labels) {
				continue
			}
			switch {
			case s.Counter != nil:
				return series{value: s.Counter.GetValue()}, true
			case s.Gauge != nil:
				return series{value: s.Gauge.GetValue()}, true
			case s.Histogram != nil:
				return series{count: s.Histogram.GetSampleCount(), sum: s.Histogram.GetSampleSum()}, true
			}
		}
	}
	return series{}, false
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range s.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// value is the value of a counter or gauge series that must exist.
func value(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	s, ok := find(t, m, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return s.value
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestRequestOutcomesAndLatencies(t *testing.T) {
	m := New()
	ctx := context.Background()
	// Each request's events, in order, as the service emits them.
	notes := 0
	emit := func(typ grants.EventType, r grants.Request) {
		notes++
		m.Notify(ctx, grants.Event{Type: typ, Request: r, Note: notes})
	}
	human := grants.Request{ID: "JIT-HUMAN1", Role: "admin", CreatedAt: t0, DecidedAt: t0.Add(90 * time.Second)}
	emit(grants.EventRequested, human)
	emit(grants.EventApproved, human)
	emit(grants.EventGranted, human)
	human.ExpiresAt, human.RevokedAt, human.RevokeReason = t0.Add(time.Hour), t0.Add(time.Hour+120*time.Millisecond), grants.ReasonExpired
	emit(grants.EventRevoked, human)

	auto := grants.Request{ID: "JIT-AUTO01", Role: "admin", AutoApproved: true, CreatedAt: t0, DecidedAt: t0}
	emit(grants.EventRequested, auto)
	emit(grants.EventAutoApproved, auto)
	emit(grants.EventGranted, auto)
	// Revoked early by its requester: no revocation lag.
	auto.RevokedAt, auto.RevokeReason = t0.Add(time.Minute), "revoked by requester"
	emit(grants.EventRevoked, auto)

	denied := grants.Request{ID: "JIT-DENIED", Role: "readonly", CreatedAt: t0, DecidedAt: t0.Add(30 * time.Second)}
	emit(grants.EventDenied, denied)
	emit(grants.EventCancelled, grants.Request{ID: "JIT-CANCEL", Role: "readonly", CreatedAt: t0, DecidedAt: t0.Add(time.Second)})
	emit(grants.EventTimedOut, grants.Request{ID: "JIT-TIMEDO", Role: "readonly", CreatedAt: t0, DecidedAt: t0.Add(30 * time.Minute)})
	failed := grants.Request{ID: "JIT-FAILED", Role: "readonly", CreatedAt: t0, DecidedAt: t0.Add(10 * time.Second)}
	emit(grants.EventGrantFailed, failed)
	emit(grants.EventRevokeFailed, grants.Request{ID: "JIT-STUCK1", Role: "admin"})

	for _, tt := range []struct {
		role, outcome string
		want          float64
	}{
		{"admin", OutcomeGranted, 1},
		{"admin", OutcomeAutoApproved, 1},
		{"readonly", OutcomeDenied, 1},
		{"readonly", OutcomeCancelled, 1},
		{"readonly", OutcomeTimedOut, 1},
		{"readonly", OutcomeGrantFailed, 1},
	} {
		if got := value(t, m, "jitbot_requests_total", map[string]string{"role": tt.role, "outcome": tt.outcome}); got != tt.want {
			t.Errorf("jitbot_requests_total{role=%q,outcome=%q} = %v, want %v", tt.role, tt.outcome, got, tt.want)
		}
	}
	if _, ok := find(t, m, "jitbot_requests_total", map[string]string{"role": "admin", "outcome": OutcomeGrantFailed}); ok {
		t.Error("a series for an outcome that never happened")
	}
	if got := value(t, m, "jitbot_events_total", map[string]string{"type": "granted", "role": "admin"}); got != 2 {
		t.Errorf("jitbot_events_total{type=granted,role=admin} = %v, want 2 (events are still counted as before)", got)
	}
	if got := value(t, m, "jitbot_revoke_failures_total", map[string]string{"role": "admin"}); got != 1 {
		t.Errorf("jitbot_revoke_failures_total{role=admin} = %v, want 1", got)
	}

	lag, _ := find(t, m, "jitbot_revocation_lag_seconds", nil)
	if lag.count != 1 || math.Abs(lag.sum-0.12) > 1e-9 {
		t.Errorf("revocation lag: count %d sum %v, want one observation of 0.12 s (early revokes have no lag)", lag.count, lag.sum)
	}
	// People decided human (90 s), denied (30 s) and failed (10 s); the
	// break-glass grant, the cancellation and the timeout are nobody's
	// decision.
	approval, _ := find(t, m, "jitbot_approval_latency_seconds", nil)
	if approval.count != 3 || approval.sum != 130 {
		t.Errorf("approval latency: count %d sum %v, want 3 observations summing to 130 s", approval.count, approval.sum)
	}

	families, err := m.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// An event handed over twice (a failed journal write makes the service
// hand it over again) is counted once; a later event of the same request
// still counts.
func TestEventHandedOverTwiceCountsOnce(t *testing.T) {
	m := New()
	r := grants.Request{ID: "JIT-TWICE1", Role: "admin", CreatedAt: t0, DecidedAt: t0.Add(time.Minute)}
	granted := grants.Event{Type: grants.EventGranted, Request: r, Note: 3}
	m.Notify(context.Background(), granted)
	m.Notify(context.Background(), granted)
	r.ExpiresAt, r.RevokedAt, r.RevokeReason = t0.Add(time.Hour), t0.Add(time.Hour+time.Second), grants.ReasonExpired
	m.Notify(context.Background(), grants.Event{Type: grants.EventRevoked, Request: r, Note: 4})

	if got := value(t, m, "jitbot_requests_total", map[string]string{"outcome": OutcomeGranted}); got != 1 {
		t.Errorf("granted = %v after the same event twice, want 1", got)
	}
	if got := value(t, m, "jitbot_events_total", map[string]string{"type": "revoked"}); got != 1 {
		t.Errorf("revoked = %v, want 1", got)
	}
	// Events that change no record have no note and are never deduplicated.
	refused := grants.Event{Type: grants.EventRefused, Request: r}
	m.Notify(context.Background(), refused)
	m.Notify(context.Background(), refused)
	if got := value(t, m, "jitbot_events_total", map[string]string{"type": "refused"}); got != 2 {
		t.Errorf("refused = %v, want 2", got)
	}
}

func TestSeenEventsForgetsTheOldest(t *testing.T) {
	var s seenEvents
	for i := range seenCap + 1 {
		if !s.first("JIT-A", i+1) {
			t.Fatalf("note %d reported as seen", i+1)
		}
	}
	if !s.first("JIT-A", 1) {
		t.Error("the oldest note is still remembered past the cap")
	}
	if s.first("JIT-A", seenCap+1) {
		t.Error("the newest note was forgotten")
	}
	if len(s.set) != seenCap {
		t.Errorf("%d remembered, want the cap %d", len(s.set), seenCap)
	}
}

// TestHandlerGzipsWhenAsked: Prometheus asks for gzip and gets it; a
// client that does not ask gets the text format as it is.
func TestHandlerGzipsWhenAsked(t *testing.T) {
	m := New()
	m.SlackWriteFailed("audit granted", nil)
	for _, gz := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, req)
		body := io.Reader(w.Body)
		if gz {
			if enc := w.Header().Get("Content-Encoding"); enc != "gzip" {
				t.Fatalf("asked for gzip, got Content-Encoding %q", enc)
			}
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		} else if enc := w.Header().Get("Content-Encoding"); enc != "" {
			t.Fatalf("gzip not asked for, got Content-Encoding %q", enc)
		}
		text, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), `jitbot_slack_writes_failed_total{what="audit granted"} 1`) {
			t.Errorf("gzip %v: the scrape lacks the counter:\n%.600s", gz, text)
		}
	}
}
