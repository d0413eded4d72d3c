package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	m.reg.MustRegister(newStoreCollector(store, catalog, time.Now, m.startRole))
}

type storeCollector struct {
	store    OpenLister
	catalog  func() *rules.Catalog
	now      func() time.Time
	eachRole func(role string) // called for every role of each catalog, once
	started  atomic.Pointer[rules.Catalog]

	up, active, revoking, retrying, pending, overdue, scheduled, lateStart *prometheus.Desc
}

func newStoreCollector(store OpenLister, catalog func() *rules.Catalog, now func() time.Time, eachRole func(string)) *storeCollector {
	return &storeCollector{
		store: store, catalog: catalog, now: now, eachRole: eachRole,
		up: prometheus.NewDesc("jitbot_store_up",
			"1 if the last scrape read the store's open records, 0 if it failed or timed out (the other jitbot_grants_* and jitbot_requests_pending gauges are then absent).", nil, nil),
		active: prometheus.NewDesc("jitbot_active_grants",
			"Grants whose access is issued and not yet ended, by role."+replicaNote, []string{"role"}, nil),
		revoking: prometheus.NewDesc("jitbot_grants_revoking",
			"Grants whose access is being taken away (intent recorded, AWS call not yet done)."+replicaNote, nil, nil),
		retrying: prometheus.NewDesc("jitbot_revocations_retrying",
			"Revocations whose last AWS attempt failed and that wait for their next retry."+replicaNote, nil, nil),
		pending: prometheus.NewDesc("jitbot_requests_pending",
			"Requests waiting for approvers."+replicaNote, nil, nil),
		overdue: prometheus.NewDesc("jitbot_grants_overdue_seconds",
			"How long past its expiry the most overdue grant still not revoked is; 0 when none is."+replicaNote, nil, nil),
		scheduled: prometheus.NewDesc("jitbot_grants_scheduled",
			"Windows approved ahead that wait for their start."+replicaNote, nil, nil),
		lateStart: prometheus.NewDesc("jitbot_grants_start_late_seconds",
			"How long past its start the latest scheduled window still not issued is; 0 when none is."+replicaNote, nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.active, c.revoking, c.retrying, c.pending, c.overdue, c.scheduled, c.lateStart} {
		ch <- d
	}
}

// Collect reads the open records. A store that cannot be read reports
// jitbot_store_up 0 instead of failing the scrape, so the process's other
// metrics still arrive and the alert has something to fire on.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	active := make(map[string]int)
	if c.catalog != nil {
		if cat := c.catalog(); cat != nil {
			// A series once started stays, so a catalog's roles are
			// started once, not at every scrape (4 vector look-ups a
			// role, 4,000 for a 1,000-role catalog).
			start := c.started.Swap(cat) != cat
			for role := range cat.Roles {
				active[role] = 0
				if start {
					c.eachRole(role)
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	g, err := c.gauges(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for role, n := range g.ActiveByRole {
		if n > 0 {
			active[role] = n
		}
	}
	now := c.now()
	var overdue, late time.Duration
	if !g.EarliestExpiry.IsZero() {
		overdue = max(0, now.Sub(g.EarliestExpiry))
	}
	if !g.EarliestStart.IsZero() {
		late = max(0, now.Sub(g.EarliestStart))
	}
	revoking, retrying, pending, scheduled := g.ByState[grants.Revoking], g.Retrying, g.ByState[grants.Pending], g.ByState[grants.Scheduled]
	for role, n := range active {
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n), role)
	}
	ch <- prometheus.MustNewConstMetric(c.revoking, prometheus.GaugeValue, float64(revoking))
	ch <- prometheus.MustNewConstMetric(c.retrying, prometheus.GaugeValue, float64(retrying))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, overdue.Seconds())
	ch <- prometheus.MustNewConstMetric(c.scheduled, prometheus.GaugeValue, float64(scheduled))
	ch <- prometheus.MustNewConstMetric(c.lateStart, prometheus.GaugeValue, late.Seconds())
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
