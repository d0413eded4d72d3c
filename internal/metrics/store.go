package metrics

import (
	"context"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// OpenLister is the part of grants.Store the gauges read.
type OpenLister interface {
	Open(ctx context.Context) ([]*grants.Request, error)
}

// StoreTimeout bounds the store read of one scrape, well inside
// Prometheus's default 10 s scrape timeout.
const StoreTimeout = 3 * time.Second

const replicaNote = " Read from the shared store at scrape time: every replica reports the same global figure, so aggregate with max(), not sum()."

// WatchStore adds the gauges read from store at each scrape: active
// grants by role, revocations in progress and failing, pending requests,
// the most overdue grant, and whether the store could be read at all.
// catalog gives the roles in force, so that a role without grants reports
// 0 rather than nothing; it may be nil. Its roles also start the per-role
// counters at 0 (see startRole).
func (m *Metrics) WatchStore(store OpenLister, catalog func() *rules.Catalog) {
	m.store = newStoreCollector(store, catalog, time.Now, m.startRole)
}

// storeCollector builds the store's families itself, beside the registry,
// as counterFamily does: a 1,000-role catalog's active-grant gauges as
// const metrics were most of what a scrape allocated.
type storeCollector struct {
	store    OpenLister
	catalog  func() *rules.Catalog
	now      func() time.Time
	eachRole func(role string) // called for every role of each catalog, once

	// The active-grant series of the catalog last seen, by role in
	// exposition order, updated in place by each scrape (scrapes do not
	// overlap; see Metrics.Handler).
	seen  *rules.Catalog
	roles []*gaugeSeries
}

// gaugeSeries is one series of jitbot_active_grants.
type gaugeSeries struct {
	role   string
	metric dto.Metric
	gauge  dto.Gauge
	value  float64
}

func newGaugeSeries(role string) *gaugeSeries {
	role = labelValue(role) // a role read from Redis
	s := &gaugeSeries{role: role}
	s.gauge.Value = &s.value
	s.metric.Gauge = &s.gauge
	s.metric.Label = []*dto.LabelPair{{Name: proto.String("role"), Value: proto.String(role)}}
	return s
}

func newStoreCollector(store OpenLister, catalog func() *rules.Catalog, now func() time.Time, eachRole func(string)) *storeCollector {
	return &storeCollector{store: store, catalog: catalog, now: now, eachRole: eachRole}
}

const (
	upHelp        = "1 if the last scrape read the store's open records, 0 if it failed or timed out (the other jitbot_grants_* and jitbot_requests_pending gauges are then absent)."
	activeHelp    = "Grants whose access is issued and not yet ended, by role." + replicaNote
	revokingHelp  = "Grants whose access is being taken away (intent recorded, AWS call not yet done)." + replicaNote
	retryingHelp  = "Revocations whose last AWS attempt failed and that wait for their next retry." + replicaNote
	pendingHelp   = "Requests waiting for approvers." + replicaNote
	overdueHelp   = "How long past its expiry the most overdue grant still not revoked is; 0 when none is." + replicaNote
	scheduledHelp = "Windows approved ahead that wait for their start." + replicaNote
	lateHelp      = "How long past its start the latest scheduled window still not issued is; 0 when none is." + replicaNote
)

// families reads the open records. A store that cannot be read reports
// jitbot_store_up 0 instead of failing the scrape, so the process's other
// metrics still arrive and the alert has something to fire on.
func (c *storeCollector) families() []*dto.MetricFamily {
	cat := c.startCatalog()
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	g, err := c.gauges(ctx)
	if err != nil {
		return []*dto.MetricFamily{gauge("jitbot_store_up", upHelp, 0)}
	}
	now := c.now()
	var overdue, late time.Duration
	if !g.EarliestExpiry.IsZero() {
		overdue = max(0, now.Sub(g.EarliestExpiry))
	}
	if !g.EarliestStart.IsZero() {
		late = max(0, now.Sub(g.EarliestStart))
	}
	return []*dto.MetricFamily{
		gauge("jitbot_store_up", upHelp, 1),
		c.active(cat, g.ActiveByRole),
		gauge("jitbot_grants_revoking", revokingHelp, float64(g.ByState[grants.Revoking])),
		gauge("jitbot_revocations_retrying", retryingHelp, float64(g.Retrying)),
		gauge("jitbot_requests_pending", pendingHelp, float64(g.ByState[grants.Pending])),
		gauge("jitbot_grants_overdue_seconds", overdueHelp, overdue.Seconds()),
		gauge("jitbot_grants_scheduled", scheduledHelp, float64(g.ByState[grants.Scheduled])),
		gauge("jitbot_grants_start_late_seconds", lateHelp, late.Seconds()),
	}
}

// startCatalog makes the series of a catalog not seen before, and starts
// its roles' counters: once a catalog, not at every scrape (4 vector
// look-ups a role, 4,000 for a 1,000-role catalog).
func (c *storeCollector) startCatalog() *rules.Catalog {
	if c.catalog == nil {
		return nil
	}
	cat := c.catalog()
	if cat == nil || cat == c.seen {
		return cat
	}
	c.seen, c.roles = cat, c.roles[:0]
	for role := range cat.Roles {
		c.roles = append(c.roles, newGaugeSeries(role))
		c.eachRole(role)
	}
	slices.SortFunc(c.roles, func(a, b *gaugeSeries) int { return strings.Compare(a.role, b.role) })
	return cat
}

// active is jitbot_active_grants: every catalog role, 0 without grants,
// and the roles gone from the catalog that still have some.
func (c *storeCollector) active(cat *rules.Catalog, byRole map[string]int) *dto.MetricFamily {
	mf := &dto.MetricFamily{Name: proto.String("jitbot_active_grants"), Help: proto.String(activeHelp), Type: dto.MetricType_GAUGE.Enum(),
		Metric: make([]*dto.Metric, 0, len(c.roles))}
	for _, s := range c.roles {
		s.value = float64(byRole[s.role])
		mf.Metric = append(mf.Metric, &s.metric)
	}
	var gone []*gaugeSeries
	for role, n := range byRole {
		if n > 0 && !inCatalog(cat, role) {
			s := newGaugeSeries(role)
			s.value = float64(n)
			gone = append(gone, s)
		}
	}
	if len(gone) > 0 {
		for _, s := range gone {
			mf.Metric = append(mf.Metric, &s.metric)
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(a.Label[0].GetValue(), b.Label[0].GetValue()) })
	}
	return mf
}

func inCatalog(cat *rules.Catalog, role string) bool {
	if cat == nil {
		return false
	}
	_, ok := cat.Roles[role]
	return ok
}

// gauge is a family of one gauge without labels.
func gauge(name, help string, v float64) *dto.MetricFamily {
	return &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(v)}}}}
}

// gauges reads the figures: from the sets a GaugeStore keeps as records
// are written (a few round trips, whatever the number of records), or
// else by reading every open record.
func (c *storeCollector) gauges(ctx context.Context) (grants.Gauges, error) {
	if gs, ok := c.store.(grants.GaugeStore); ok {
		return gs.Gauges(ctx)
	}
	open, err := c.store.Open(ctx)
	if err != nil {
		return grants.Gauges{}, err
	}
	return GaugesOf(open), nil
}

// GaugesOf counts the gauges of open records, as a GaugeStore keeps them.
func GaugesOf(open []*grants.Request) grants.Gauges {
	g := grants.Gauges{ByState: map[grants.State]int{}, ActiveByRole: map[string]int{}}
	for _, r := range open {
		switch r.State {
		case grants.Pending, grants.Scheduled, grants.Granting:
			g.ByState[r.State]++
		case grants.Active:
			g.ByState[r.State]++
			g.ActiveByRole[r.Role]++
		case grants.Revoking:
			g.ByState[r.State]++
			if r.Attempts > 0 {
				g.Retrying++
			}
		}
		if (r.State == grants.Active || r.State == grants.Revoking) && !r.ExpiresAt.IsZero() && (g.EarliestExpiry.IsZero() || r.ExpiresAt.Before(g.EarliestExpiry)) {
			g.EarliestExpiry = r.ExpiresAt
		}
		if r.State == grants.Scheduled && !r.Start.IsZero() && (g.EarliestStart.IsZero() || r.Start.Before(g.EarliestStart)) {
			g.EarliestStart = r.Start
		}
	}
	return g
}
