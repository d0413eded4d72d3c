package metrics

import (
	"context"
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
	eachRole func(role string) // called for every role in the catalog at each scrape

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
			for role := range cat.Roles {
				active[role] = 0
				c.eachRole(role)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	open, err := c.store.Open(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	now := c.now()
	var revoking, retrying, pending, scheduled int
	var overdue, late time.Duration
	for _, r := range open {
		switch r.State {
		case grants.Active:
			active[r.Role]++
		case grants.Revoking:
			revoking++
			if r.Attempts > 0 {
				retrying++
			}
		case grants.Pending:
			pending++
		case grants.Scheduled:
			scheduled++
			late = max(late, now.Sub(r.Start))
		}
		if (r.State == grants.Active || r.State == grants.Revoking) && !r.ExpiresAt.IsZero() {
			overdue = max(overdue, now.Sub(r.ExpiresAt))
		}
	}
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
