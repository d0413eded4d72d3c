package notify

import (
	"fmt"
	"slices"
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
	c.caughtUpLocked(mid)
	if c.isBehind[mid] || c.behindIndex(mid) >= 0 || len(c.behind) != 2 {
		t.Errorf("%s still behind after it caught up", mid)
	}
}
