package metrics

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// exposition is families in the text format a scrape answers with.
func exposition(t *testing.T, families []*dto.MetricFamily) string {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatalf("encode %s: %v", f.GetName(), err)
		}
	}
	return buf.String()
}

// A counterFamily exposes exactly what a CounterVec fed the same counts
// does: same series, same order, same text, whatever order the series
// first appeared in.
func TestCounterFamilyExposesWhatACounterVecDoes(t *testing.T) {
	const name, help = "jitbot_test_total", "Counts, by type and role."
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"type", "role"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(vec)
	fam := newCounterFamily(name, help, "type", "role")

	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"requested", "granted", "revoked", "refused", "a", "granted2"}
	roles := []string{"admin", "Admin", "admin-ro", "", "rôle", "b\"q", `back\slash`, "new\nline", "z"}
	for range 2000 {
		typ, role := types[rng.IntN(len(types))], roles[rng.IntN(len(roles))]
		vec.WithLabelValues(typ, role).Inc()
		fam.inc(typ, role)
	}
	vec.WithLabelValues("never", "admin") // a started series, at 0
	fam.with("never", "admin")

	want, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := []*dto.MetricFamily{fam.family()}
	if w, g := exposition(t, want), exposition(t, got); w != g {
		t.Errorf("exposition differs from a CounterVec's:\n got:\n%s\nwant:\n%s", g, w)
	}
}

// A role that is not valid UTF-8 (a record someone wrote into Redis)
// neither panics nor fails the scrape: its bad bytes are replaced.
func TestCounterFamilyRoleNotUTF8(t *testing.T) {
	m := New()
	m.Notify(context.Background(), grants.Event{Type: grants.EventRequested, Request: grants.Request{ID: "JIT-BADUT8", Role: "adm\xffin"}})
	families, err := m.gatherer().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	text := exposition(t, families)
	if !strings.Contains(text, `jitbot_events_total{role="adm`+"\uFFFD"+`in",type="requested"} 1`) {
		t.Errorf("the role's series is not exposed with its bad byte replaced:\n%s", text)
	}
}

// Series appear and count while scrapes read them (run with -race).
func TestCounterFamilyConcurrentScrapes(t *testing.T) {
	fam := newCounterFamily("jitbot_test_total", "Counts.", "role")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				fam.inc(fmt.Sprintf("role-%d-%d", w, i%50))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if f := fam.family(); f != nil && len(f.Metric) > 200 {
				t.Errorf("%d series, want at most 200", len(f.Metric))
			}
		}
	})
	wg.Wait()
	f := fam.family()
	if len(f.Metric) != 200 {
		t.Fatalf("%d series, want 200", len(f.Metric))
	}
	for _, s := range f.Metric {
		if s.Counter.GetValue() != 10 {
			t.Errorf("%v = %v, want 10", s.Label, s.Counter.GetValue())
		}
	}
}

// Every family jitbot exposes appears once, in name order, whether the
// registry or a counterFamily keeps it.
func TestGatheredFamiliesAreUniqueAndSorted(t *testing.T) {
	m := New()
	m.WatchStore(openRecords{{ID: "JIT-ACTIVE", State: grants.Active, Role: "admin"}}, nil)
	m.Notify(context.Background(), grants.Event{Type: grants.EventRevokeFailed, Request: grants.Request{ID: "JIT-FAILED", Role: "admin"}})
	m.startRole("readonly")
	families, err := m.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]bool{"jitbot_events_total": false, "jitbot_requests_total": false, "jitbot_revoke_failures_total": false, "jitbot_store_up": false, "jitbot_active_grants": false}
	for i, f := range families {
		if i > 0 && families[i-1].GetName() >= f.GetName() {
			t.Errorf("%s after %s: not in strict name order", f.GetName(), families[i-1].GetName())
		}
		if _, ok := own[f.GetName()]; ok {
			own[f.GetName()] = true
		}
	}
	for name, seen := range own {
		if !seen {
			t.Errorf("%s not gathered", name)
		}
	}
}

// openRecords is a store without gauge sets: the collector counts them.
type openRecords []*grants.Request

func (o openRecords) Open(context.Context) ([]*grants.Request, error) { return o, nil }

// A role read from Redis that is not valid UTF-8, or that the catalog no
// longer has, is still reported, in order, and the scrape still succeeds.
func TestActiveGrantsOfRolesOutsideTheCatalog(t *testing.T) {
	m := New()
	catalog := &rules.Catalog{Roles: map[string]*rules.Role{"b-admin": {}, "d-readonly": {}}}
	m.WatchStore(openRecords{
		{ID: "JIT-ACTIV1", State: grants.Active, Role: "b-admin"},
		{ID: "JIT-ACTIV2", State: grants.Active, Role: "c-gone"},
		{ID: "JIT-ACTIV3", State: grants.Active, Role: "a-bad\xff"},
		{ID: "JIT-ACTIV4", State: grants.Active, Role: "c-gone"},
	}, func() *rules.Catalog { return catalog })
	families, err := m.gatherer().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	text := exposition(t, families)
	want := `jitbot_active_grants{role="a-bad` + "\uFFFD" + `"} 1
jitbot_active_grants{role="b-admin"} 1
jitbot_active_grants{role="c-gone"} 2
jitbot_active_grants{role="d-readonly"} 0
`
	if !strings.Contains(text, want) {
		t.Errorf("jitbot_active_grants not as wanted:\n%s\nwant:\n%s", text, want)
	}
}

// Scrapes that arrive together are served one after the other, while
// events count (run with -race: the families are updated in place).
func TestConcurrentScrapes(t *testing.T) {
	m := New()
	m.WatchStore(openRecords{{ID: "JIT-ACTIVE", State: grants.Active, Role: "admin"}}, func() *rules.Catalog {
		return &rules.Catalog{Roles: map[string]*rules.Role{"admin": {}}}
	})
	h := m.Handler()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			m.Notify(context.Background(), grants.Event{Type: grants.EventRequested, Request: grants.Request{ID: "JIT-CONCUR", Role: fmt.Sprintf("role-%d", i%20)}})
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 10 {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `jitbot_active_grants{role="admin"} 1`) {
					t.Errorf("scrape: %d %.300s", w.Code, w.Body.String())
				}
			}
		})
	}
	wg.Wait()
}
