package metrics

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// counterFamily is a counter vector with a label for the catalog's roles,
// kept in the order the exposition wants it. A 1,000-role catalog gives
// the per-role counters thousands of series; through a CounterVec, each
// scrape rebuilt, checked and sorted every one of them, which was most of
// a scrape's time (scrape_100k in make bench). Here a series is sorted
// once, when it first appears, and a scrape only reads the counts.
//
// Its series are consistent by construction: a fixed set of label names,
// valid UTF-8 values (see with), one series per set of values.
type counterFamily struct {
	name, help string
	labels     []string // in the order with takes their values
	order      []int    // label positions in name order, as exposed

	mu     sync.RWMutex
	byKey  map[string]*counterSeries
	sorted []*counterSeries // by label values in name order
}

type counterSeries struct {
	values []string // in name order
	n      atomic.Uint64

	// What a scrape exposes, made once: family sets value and hands out
	// &metric, so a scrape of thousands of series allocates almost
	// nothing (they were half of a scrape's garbage).
	metric  dto.Metric
	counter dto.Counter
	value   float64
}

func newCounterFamily(name, help string, labels ...string) *counterFamily {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return &counterFamily{name: name, help: help, labels: labels, order: order, byKey: map[string]*counterSeries{}}
}

// inc adds one to the series of values, given in the order of the
// family's labels.
func (f *counterFamily) inc(values ...string) { f.with(values...).n.Add(1) }

// with returns the series of values, making it at 0 if it is new, its
// values made label values (labelValue).
func (f *counterFamily) with(values ...string) *counterSeries {
	if len(values) != len(f.labels) {
		panic("metrics: " + f.name + " takes " + strings.Join(f.labels, ", "))
	}
	key := strings.Join(values, "\xff")
	f.mu.RLock()
	s := f.byKey[key]
	f.mu.RUnlock()
	if s != nil {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.byKey[key]; s != nil {
		return s
	}
	s = &counterSeries{values: make([]string, len(values))}
	s.metric.Label = make([]*dto.LabelPair, len(values))
	for i, at := range f.order {
		v := labelValue(values[at])
		s.values[i] = v
		s.metric.Label[i] = &dto.LabelPair{Name: proto.String(f.labels[at]), Value: proto.String(v)}
	}
	s.counter.Value = &s.value
	s.metric.Counter = &s.counter
	at, _ := slices.BinarySearchFunc(f.sorted, s.values, func(e *counterSeries, v []string) int { return slices.Compare(e.values, v) })
	f.sorted = slices.Insert(f.sorted, at, s)
	f.byKey[key] = s
	return s
}

// labelValue is v as a label value: a value that is not valid UTF-8 (a
// role someone wrote into Redis) has its bad bytes replaced, where
// Prometheus would refuse the whole scrape for it.
func labelValue(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// family is the family as a scrape exposes it, or nil before its first
// series. Its series are the family's own, updated in place: what one
// call returns is valid until the next, so calls must not overlap (the
// handler serves one scrape at a time).
func (f *counterFamily) family() *dto.MetricFamily {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.sorted) == 0 {
		return nil
	}
	mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help), Type: dto.MetricType_COUNTER.Enum(), Metric: make([]*dto.Metric, len(f.sorted))}
	for i, s := range f.sorted {
		s.value = float64(s.n.Load())
		mf.Metric[i] = &s.metric
	}
	return mf
}

// gatherer is the registry's families and the families kept beside it,
// in name order as the exposition wants them.
type gatherer struct{ m *Metrics }

func (g gatherer) Gather() ([]*dto.MetricFamily, error) {
	m := g.m
	mfs, err := m.reg.Gather()
	if m.store != nil { // gathered before the counters: it starts their series
		mfs = append(mfs, m.store.families()...)
	}
	for _, f := range []*counterFamily{m.events, m.requests, m.revokeFailures} {
		if mf := f.family(); mf != nil {
			mfs = append(mfs, mf)
		}
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs, err
}
