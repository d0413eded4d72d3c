package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

func TestStoreGauges(t *testing.T) {
	store, closeStore, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	t.Cleanup(func() { closeStore() })
	// The store keeps the times the gauges read to the millisecond.
	now := time.Now().Truncate(time.Millisecond)
	user := rules.User{ID: "UALICE", Email: "alice@example.com"}
	for _, r := range []*grants.Request{
		{ID: "JIT-ACTIV1", State: grants.Active, Role: "admin", ExpiresAt: now.Add(time.Hour)},
		// The scheduler is not running: this one is 40 s past its expiry.
		{ID: "JIT-ACTIV2", State: grants.Active, Role: "admin", ExpiresAt: now.Add(-40 * time.Second)},
		{ID: "JIT-ACTIV3", State: grants.Active, Role: "gone-from-catalog", ExpiresAt: now.Add(time.Hour)},
		{ID: "JIT-REVOK1", State: grants.Revoking, Role: "admin", ExpiresAt: now.Add(-5 * time.Second), NextAttempt: now},
		{ID: "JIT-REVOK2", State: grants.Revoking, Role: "admin", ExpiresAt: now.Add(-10 * time.Second), Attempts: 3, NextAttempt: now.Add(4 * time.Second)},
		{ID: "JIT-PENDI1", State: grants.Pending, Role: "readonly", Deadline: now.Add(time.Hour)},
		{ID: "JIT-SCHED1", State: grants.Scheduled, Role: "readonly", Start: now.Add(time.Hour)},
		{ID: "JIT-SCHED2", State: grants.Scheduled, Role: "readonly", Start: now.Add(-25 * time.Second)},
		{ID: "JIT-DONE01", State: grants.Revoked, Role: "readonly", RevokedAt: now},
	} {
		r.Requester = user
		if err := store.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	catalog := &rules.Catalog{Roles: map[string]*rules.Role{"admin": {}, "readonly": {}}}
	m := New()
	m.store = newStoreCollector(store, func() *rules.Catalog { return catalog }, func() time.Time { return now }, m.startRole)
	// The first scrape starts the per-role counters at 0.
	if _, err := m.gatherer().Gather(); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"jitbot_store_up", nil, 1},
		{"jitbot_active_grants", map[string]string{"role": "admin"}, 2},
		{"jitbot_active_grants", map[string]string{"role": "readonly"}, 0}, // in the catalog, nothing active
		{"jitbot_active_grants", map[string]string{"role": "gone-from-catalog"}, 1},
		{"jitbot_grants_revoking", nil, 2},
		{"jitbot_revocations_retrying", nil, 1},
		{"jitbot_requests_pending", nil, 1},
		{"jitbot_grants_overdue_seconds", nil, 40},
		{"jitbot_grants_scheduled", nil, 2},
		{"jitbot_grants_start_late_seconds", nil, 25},
		{"jitbot_revoke_failures_total", map[string]string{"role": "readonly"}, 0},
		{"jitbot_requests_total", map[string]string{"role": "readonly", "outcome": OutcomeGrantFailed}, 0},
		{"jitbot_requests_total", map[string]string{"role": "admin", "outcome": OutcomeAutoApproved}, 0},
	} {
		if got := value(t, m, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	// A reloaded catalog's new role starts at 0 too, and the others stay.
	// The scrape that sees the new catalog starts its series; the registry
	// gathers collectors at once, so they show from the next.
	catalog = &rules.Catalog{Roles: map[string]*rules.Role{"admin": {}, "readonly": {}, "added": {}}}
	if _, err := m.gatherer().Gather(); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(t, m, "jitbot_requests_total", map[string]string{"role": "added", "outcome": OutcomeGrantFailed}); !ok {
		t.Error("a role added by a catalog reload has no jitbot_requests_total{outcome=grant_failed} series")
	}
	if got := value(t, m, "jitbot_revoke_failures_total", map[string]string{"role": "readonly"}); got != 0 {
		t.Errorf("jitbot_revoke_failures_total{role=readonly} = %v after a reload, want 0", got)
	}

	// A store that cannot be read does not fail the scrape: it says so.
	closeStore()
	start := time.Now()
	if got := value(t, m, "jitbot_store_up", nil); got != 0 {
		t.Errorf("jitbot_store_up = %v with the store closed, want 0", got)
	}
	if d := time.Since(start); d > StoreTimeout+time.Second {
		t.Errorf("a scrape with the store down took %v", d)
	}
	if _, ok := find(t, m, "jitbot_active_grants", map[string]string{"role": "admin"}); ok {
		t.Error("jitbot_active_grants reported while the store cannot be read")
	}
	if got := value(t, m, "go_goroutines", nil); got <= 0 {
		t.Errorf("go_goroutines = %v: the rest of the scrape is missing", got)
	}
}

// With nothing open, the gauges read zero rather than disappearing, and
// WatchStore takes a nil catalog.
func TestStoreGaugesWhenNothingIsOpen(t *testing.T) {
	store, closeStore, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	t.Cleanup(func() { closeStore() })
	m := New()
	m.WatchStore(store, nil)
	for _, name := range []string{"jitbot_grants_revoking", "jitbot_revocations_retrying", "jitbot_requests_pending", "jitbot_grants_overdue_seconds", "jitbot_grants_scheduled", "jitbot_grants_start_late_seconds"} {
		if got := value(t, m, name, nil); got != 0 {
			t.Errorf("%s = %v, want 0", name, got)
		}
	}
	if got := value(t, m, "jitbot_store_up", nil); got != 1 {
		t.Errorf("jitbot_store_up = %v, want 1", got)
	}
}

// BenchmarkScrapeTenThousandGrants is one /metrics scrape with 10,000
// active grants in a real redis-server: the cost each replica pays per
// scrape interval.
func BenchmarkScrapeTenThousandGrants(b *testing.B) {
	srv := testenv.StartRedis(b)
	store, err := redisstore.Open(b.Context(), srv.URL(), redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	now := time.Now()
	for i := range 10000 {
		r := &grants.Request{ID: grants.RequestID(fmt.Sprintf("JIT-%06d", i)), State: grants.Active, Role: fmt.Sprintf("role-%d", i%50),
			Requester: rules.User{ID: "UALICE", Email: "alice@example.com"}, Reason: "fixing INC-42 replica lag",
			GrantedAt: now, ExpiresAt: now.Add(time.Hour), Duration: time.Hour}
		if err := store.Create(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
	m := New()
	m.WatchStore(store, nil)
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.gatherer().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrapeThousandRoles is one /metrics scrape of a 1,000-role
// catalog with no record open, served over HTTP as Prometheus asks for it
// (gzip): the per-role series alone, which the scrape_100k figure of make
// bench found to be most of a scrape.
func BenchmarkScrapeThousandRoles(b *testing.B) {
	benchScrape(b, New(), thousandRoles())
}

// BenchmarkScrapeThousandRolesAfterTraffic is the same scrape after every
// role has seen a grant's lifecycle: the per-role event and outcome
// counters that make bench's earlier phases leave behind.
func BenchmarkScrapeThousandRolesAfterTraffic(b *testing.B) {
	m, catalog := New(), thousandRoles()
	for role := range catalog.Roles {
		r := grants.Request{ID: grants.RequestID("JIT-" + role), Role: role, RevokeReason: grants.ReasonExpired}
		for _, t := range []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventExpiring, grants.EventRevoked} {
			m.Notify(b.Context(), grants.Event{Type: t, Request: r})
		}
	}
	benchScrape(b, m, catalog)
}

func thousandRoles() *rules.Catalog {
	catalog := &rules.Catalog{Roles: map[string]*rules.Role{}}
	for i := range 1000 {
		catalog.Roles[fmt.Sprintf("role-%04d", i)] = &rules.Role{}
	}
	return catalog
}

// benchScrape times m's scrape with an empty store and catalog.
func benchScrape(b *testing.B, m *Metrics, catalog *rules.Catalog) {
	srv := testenv.StartRedis(b)
	store, err := redisstore.Open(b.Context(), srv.URL(), redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	m.WatchStore(store, func() *rules.Catalog { return catalog })
	h := m.Handler()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" {
			b.Fatalf("scrape: %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
		}
	}
}
