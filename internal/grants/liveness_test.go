package grants_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// liveStore is memStore with liveness keys a test switches on and off.
type liveStore struct {
	*memStore
	mu       sync.Mutex
	dead     map[string]bool // processes whose key is gone
	beatFail bool
}

func (l *liveStore) Beat(_ context.Context, process string, _ time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.beatFail {
		return errors.New("redis: connection refused")
	}
	return nil
}

func (l *liveStore) Alive(_ context.Context, processes []string) (map[string]bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for _, p := range processes {
		out[p] = !l.dead[p]
	}
	return out, nil
}

func (l *liveStore) Leased(ctx context.Context) (map[grants.RequestID]string, error) {
	open, err := l.open(ctx)
	out := map[grants.RequestID]string{}
	for _, r := range open {
		if r.LeaseOwner != "" {
			out[r.ID] = r.LeaseOwner
		}
	}
	return out, err
}

func (l *liveStore) MakeDue(_ context.Context, ids []grants.RequestID, now time.Time) error {
	l.memStore.mu.Lock()
	defer l.memStore.mu.Unlock()
	for _, id := range ids {
		if at, ok := l.due[id]; ok && at.After(now) {
			l.due[id] = now
		}
	}
	return nil
}

func (l *liveStore) set(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn()
}

// TestTakeOverAndFencing: a process that cannot renew its liveness key
// stops calling AWS and leaves the record under its lease; once its key
// is gone, another process takes the record over at once, long before
// the lease lapses, and issues it.
func TestTakeOverAndFencing(t *testing.T) {
	e := newEnv(t)
	live := &liveStore{memStore: e.store, dead: map[string]bool{}}
	service := func(process string) *grants.Service {
		svc, err := grants.New(grants.Options{
			Store: live, Backends: map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend},
			Directory: e.dir, Catalog: e.catalog, Now: e.clock.Now, Lease: 30 * time.Second,
			Process: process, Liveness: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := service("p-a"), service("p-b")
	ctx, cancel := context.WithCancel(t.Context())
	var running sync.WaitGroup
	running.Go(func() { a.Run(ctx) })
	defer running.Wait()
	defer cancel()
	time.Sleep(100 * time.Millisecond) // a has renewed its key

	r, err := a.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatal(err)
	}
	live.set(func() { live.beatFail = true })
	time.Sleep(250 * time.Millisecond) // more than half the key's life
	if _, err = a.Approve(t.Context(), r.ID, "ULEAD2"); err == nil || !strings.Contains(err.Error(), "could not renew its liveness key") {
		t.Errorf("the approval that completes it, on a process without its key: %v; want the AWS call refused", err)
	}
	got := e.get(t, r.ID)
	if grantCalls, _, _ := e.backend.counts(); got.State != grants.Granting || grantCalls != 0 || got.LeaseOwner != "p-a" {
		t.Fatalf("a process that lost its key: %s, %d AWS grant calls, lease of %q; want granting, none, its own", got.State, grantCalls, got.LeaseOwner)
	}

	// a is dead now; b takes its record over while the 30 s lease runs.
	cancel()
	live.set(func() { live.dead["p-a"] = true })
	e.clock.Advance(time.Second)
	if n, err := b.RunDue(t.Context()); err != nil || n != 0 {
		t.Fatalf("before the look for dead processes: claimed %d, %v", n, err)
	}
	bctx, bcancel := context.WithCancel(t.Context())
	var brun sync.WaitGroup
	brun.Go(func() { b.Run(bctx) })
	defer brun.Wait()
	defer bcancel()
	for deadline := time.Now().Add(5 * time.Second); e.get(t, r.ID).State != grants.Active; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("b did not take over the record of dead a: %s", e.get(t, r.ID).State)
		}
	}
	if got := e.get(t, r.ID); got.LeaseOwner != "" || got.GrantedAt.IsZero() {
		t.Errorf("after the takeover: lease of %q, granted at %v", got.LeaseOwner, got.GrantedAt)
	}
	if grantCalls, _, _ := e.backend.counts(); grantCalls != 1 {
		t.Errorf("%d AWS grant calls, want 1", grantCalls)
	}
}
