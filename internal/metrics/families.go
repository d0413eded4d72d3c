package metrics

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
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
	values []string         // in name order
	pairs  []*dto.LabelPair // in name order, shared by every scrape: read only
	n      atomic.Uint64
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

// with returns the series of values, making it at 0 if it is new. A value
// that is not valid UTF-8 (a role read from a record someone wrote in
// Redis) has its bad bytes replaced: Prometheus would refuse the whole
// scrape for it.
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
	s = &counterSeries{values: make([]string, len(values)), pairs: make([]*dto.LabelPair, len(values))}
	for i, at := range f.order {
		v := values[at]
		if !utf8.ValidString(v) {
			v = strings.ToValidUTF8(v, "\uFFFD")
		}
		s.values[i] = v
		s.pairs[i] = &dto.LabelPair{Name: proto.String(f.labels[at]), Value: proto.String(v)}
	}
	at, _ := slices.BinarySearchFunc(f.sorted, s.values, func(e *counterSeries, v []string) int { return slices.Compare(e.values, v) })
	f.sorted = slices.Insert(f.sorted, at, s)
	f.byKey[key] = s
	return s
}

// family is the family as a scrape exposes it, or nil before its first
// series. It allocates a handful of slices, not a few objects a series.
func (f *counterFamily) family() *dto.MetricFamily {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := len(f.sorted)
	if n == 0 {
		return nil
	}
	metrics, counters, values := make([]dto.Metric, n), make([]dto.Counter, n), make([]float64, n)
	mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help), Type: dto.MetricType_COUNTER.Enum(), Metric: make([]*dto.Metric, n)}
	for i, s := range f.sorted {
		values[i] = float64(s.n.Load())
		counters[i].Value = &values[i]
		metrics[i].Label = s.pairs
		metrics[i].Counter = &counters[i]
		mf.Metric[i] = &metrics[i]
	}
	return mf
}

// gatherer is the registry's families and the counter families kept
// beside it, in name order as the exposition wants them.
type gatherer struct {
	reg *prometheus.Registry
	own []*counterFamily
}

func (g gatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := g.reg.Gather()
	for _, f := range g.own {
		if mf := f.family(); mf != nil {
			mfs = append(mfs, mf)
		}
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs, err
}
