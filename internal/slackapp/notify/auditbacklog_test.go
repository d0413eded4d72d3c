package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

// backlogged is an audit channel with n requests waiting, one event each.
func backlogged(n int) *AuditChannel {
	c := NewAuditChannel(nil, "CAUDIT", nil, nil, nil, nil)
	for i := range n {
		id := grants.RequestID(fmt.Sprintf("JIT-%06d", i))
		c.order = append(c.order, id)
		c.backlog[id] = []grants.Event{{Type: grants.EventRevoked, Request: grants.Request{ID: id}}}
	}
	return c
}

// TestRoundCostsTheSameWhateverTheBacklog: a round takes from the backlog
// only what one post shows. 100,000 grants expiring over ten minutes put
// tens of thousands of requests in it; copying them all each round made
// the writer slower than the events came, and the process spent its CPU
// (and 230 MiB) on the copies.
func TestRoundCostsTheSameWhateverTheBacklog(t *testing.T) {
	allocs := func(n int) float64 {
		c := backlogged(n + 100)
		return testing.AllocsPerRun(100, func() {
			c.shownLocked(c.waitingLocked(1), false)
		})
	}
	small, large := allocs(10), allocs(50000)
	if large > small+1 {
		t.Errorf("a round allocates %.0f times with 50,000 requests waiting, %.0f with 10: it grows with the backlog", large, small)
	}
}

// TestShownTakesThePrefixAndKeepsOrder: what a round shows leaves the
// backlog; a request with events still to show stays first, in order.
func TestShownTakesThePrefixAndKeepsOrder(t *testing.T) {
	c := backlogged(5)
	batch := c.waitingLocked(3)
	mid := batch[1].id
	c.backlog[mid] = append(c.backlog[mid], grants.Event{Type: grants.EventGranted, Request: grants.Request{ID: mid}}) // came meanwhile
	c.shownLocked(batch, false)
	want := []grants.RequestID{mid, "JIT-000003", "JIT-000004"}
	if !slices.Equal(c.order, want) {
		t.Errorf("order after the round = %v, want %v", c.order, want)
	}
	if len(c.backlog) != 3 || len(c.backlog[mid]) != 1 || c.backlog[mid][0].Type != grants.EventGranted {
		t.Errorf("backlog after the round = %v, want the event that came meanwhile and the two not shown", c.backlog)
	}
	c.shownLocked(c.waitingLocked(digestMax), true)
	if len(c.order) != 0 || len(c.backlog) != 0 || len(c.behind) != 3 || !c.isBehind[mid] {
		t.Errorf("after a digest of everything: order %v, backlog %d, behind %d; want all shown, all behind", c.order, len(c.backlog), len(c.behind))
	}
	first := c.nextBehindLocked()
	if first != mid {
		t.Errorf("the oldest parent behind is %s, want %s (the first of the digest)", first, mid)
	}
	c.caughtUpLocked(mid)
	if c.isBehind[mid] {
		t.Errorf("%s still behind after it caught up", mid)
	}
	if next := c.nextBehindLocked(); next != "JIT-000003" {
		t.Errorf("after %s caught up the next behind is %q, want JIT-000003", mid, next)
	}
	c.caughtUpLocked("JIT-000003")
	c.caughtUpLocked("JIT-000004")
	if next := c.nextBehindLocked(); next != "" || len(c.behind) != 0 {
		t.Errorf("with every parent caught up the next behind is %q (%d listed), want none", next, len(c.behind))
	}
}

// TestBehindKeepsNoCopies: 100,000 grants ending in ten minutes leave
// tens of thousands of parents behind; keeping a copy of each record
// until its catch-up (one every UpdateGap) held over 100 MiB of a
// replica. Only the IDs stay.
func TestBehindKeepsNoCopies(t *testing.T) {
	const n = 20000
	reason := strings.Repeat("r", 1024)
	c := backlogged(0)
	for i := range n {
		id := grants.RequestID(fmt.Sprintf("JIT-%06d", i))
		c.order = append(c.order, id)
		c.backlog[id] = []grants.Event{{Type: grants.EventRevoked, Request: grants.Request{ID: id, Reason: strings.Clone(reason)}}}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for len(c.order) > 0 {
		c.shownLocked(c.waitingLocked(digestMax), true)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(c.isBehind) != n {
		t.Fatalf("%d parents behind, want %d", len(c.isBehind), n)
	}
	// The reasons alone are 20 MiB; the IDs and the set about 2.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 6<<20 {
		t.Errorf("%d parents behind hold %d MiB: the records are kept, not their IDs", n, grew>>20)
	}
	runtime.KeepAlive(c)
}

// staleGetter answers every Get with err.
type staleGetter struct{ err error }

func (g staleGetter) Get(context.Context, grants.RequestID) (*grants.Request, error) {
	return nil, g.err
}

// TestCatchUpOfAnUnreadableRecord: a record gone after its retention, or
// changed in Redis so that it no longer decodes, leaves its parent as it
// was; it must not hold the channel's writer in a retry loop (anyone who
// can write to Redis could otherwise stop the audit channel).
func TestCatchUpOfAnUnreadableRecord(t *testing.T) {
	for _, err := range []error{grants.ErrNotFound, errors.New("record JIT-000001 was changed outside jitbot")} {
		c := NewAuditChannel(nil, "CAUDIT", nil, nil, staleGetter{err}, slog.New(slog.DiscardHandler))
		// A nil Slack client: any call to Slack would panic.
		if got := c.catchUp(t.Context(), "JIT-000001"); got != nil {
			t.Errorf("catch-up of a record that reads %v = %v, want it left as it was", err, got)
		}
	}
}

// storeRefs answers as the store does once its context has ended.
type storeRefs struct{}

func (storeRefs) SetRef(ctx context.Context, _ grants.RequestID, _, _ string) error { return ctx.Err() }
func (storeRefs) Refs(ctx context.Context, _ grants.RequestID) (map[string]string, error) {
	return nil, ctx.Err()
}

// countingHandler counts the records logged.
type countingHandler struct {
	slog.Handler
	n *int
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error { *h.n++; return nil }

// TestStopWithABacklogIsSaidOnce: when the process stops with thousands
// of requests waiting for the channel, the writer stops at once and says
// so in one line, instead of failing and logging each request in turn.
func TestStopWithABacklogIsSaidOnce(t *testing.T) {
	c := backlogged(5000)
	logged := 0
	c.refs, c.log = storeRefs{}, slog.New(countingHandler{slog.DiscardHandler, &logged})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.turn(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a turn after the stop = %v, want it to stop with context.Canceled", err)
	}
	if logged != 1 {
		t.Errorf("the stop logged %d lines, want 1", logged)
	}
	if len(c.order) != 5000 {
		t.Errorf("%d requests still waiting after the stop, want all 5000 (none given up one by one)", len(c.order))
	}
}
