package history

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/suggest"
)

// fakeLog is an audit log in append order; an entry's stream ID is its
// index.
type fakeLog []auditlog.Entry

func (f fakeLog) Back(_ context.Context, end string, count int64) ([]auditlog.Stored, error) {
	before := len(f)
	if end != "+" {
		n, err := strconv.Atoi(strings.TrimPrefix(end, "("))
		if err != nil {
			return nil, fmt.Errorf("fakeLog: end %q", end)
		}
		before = n
	}
	var out []auditlog.Stored
	for i := before - 1; i >= 0 && int64(len(out)) < count; i-- {
		out = append(out, auditlog.Stored{StreamID: strconv.Itoa(i), Entry: f[i]})
	}
	return out, nil
}

// gatedCaller answers every grant with one s3:GetObject, once open is
// closed.
type gatedCaller struct {
	open  chan struct{}
	calls atomic.Int32
}

func (g *gatedCaller) Calls(ctx context.Context, r *grants.Request) ([]suggest.Call, int, bool, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, 0, false, ctx.Err()
	}
	g.calls.Add(1)
	return []suggest.Call{{Action: suggest.Action{Service: "s3", Name: "GetObject"}, At: r.GrantedAt}}, 0, false, nil
}

// TestHintsNeverWait: Line answers at once while CloudTrail is stuck, then
// the line once Run has it, and a stale line until its refresh is done.
func TestHintsNeverWait(t *testing.T) {
	var log fakeLog
	t0 := time.Now()
	for i := range suggest.MinHistory {
		log = append(log, auditlog.Entry{Type: "revoked", Role: "prod-ro", RequestID: fmt.Sprint("JIT-", i), AccessKeyID: "ASIA",
			GrantedAt: t0, ExpiresAt: t0.Add(time.Hour), EndedAt: t0.Add(time.Hour)})
	}
	caller := &gatedCaller{open: make(chan struct{})}
	h := NewHints(log, caller, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	now := t0
	h.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for range 100 { // CloudTrail is stuck; Line must not be
		if l := h.Line("prod-ro"); l != "" {
			t.Fatalf("Line before any history was read = %q", l)
		}
	}
	close(caller.open)
	want := fmt.Sprintf("the last %d grants used only s3:GetObject (read-only)", suggest.MinHistory)
	waitLine(t, h, "prod-ro", want)
	if n := caller.calls.Load(); n != suggest.MinHistory {
		t.Errorf("%d CloudTrail lookups for %d grants; the 100 early Line calls asked more than once", n, suggest.MinHistory)
	}

	mu.Lock()
	now = now.Add(h.TTL + time.Minute)
	mu.Unlock()
	if l := h.Line("prod-ro"); l != want {
		t.Errorf("stale line = %q; want the old one until the refresh", l)
	}
	deadline := time.Now().Add(10 * time.Second)
	for caller.calls.Load() < 2*suggest.MinHistory {
		if time.Now().After(deadline) {
			t.Fatalf("a stale line was not refreshed: %d lookups", caller.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitLine(t *testing.T, h *Hints, role, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := h.Line(role)
		if l == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Line(%q) = %q; want %q", role, l, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
