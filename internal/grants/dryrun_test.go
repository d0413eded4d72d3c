package grants_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// dryBackend stands for awsgrant.DryRun: it counts calls and returns the
// lines it would have sent to AWS.
type dryBackend struct {
	mu      sync.Mutex
	grants  []grants.RequestID
	revokes []grants.RequestID
}

func (b *dryBackend) Grant(_ context.Context, g grants.Grant) (grants.Issued, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.grants = append(b.grants, g.RequestID)
	return grants.Issued{CredsExpire: g.Expires, DryRun: []string{"would grant " + string(g.RequestID)}}, nil
}

func (b *dryBackend) Revoke(_ context.Context, g grants.Grant) (grants.Revocation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revokes = append(b.revokes, g.RequestID)
	return grants.Revocation{DryRun: []string{"would revoke " + string(g.RequestID)}}, nil
}

func (b *dryBackend) Cleanup(context.Context, grants.Grant) error { return nil }

func (b *dryBackend) calls() (grantIDs, revokeIDs []grants.RequestID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.grants), slices.Clone(b.revokes)
}

// dryService is a process of e's deployment started with JIT_DRY_RUN
// (dryRun) or without it, that has the dry-run backend either way.
func (e *env) dryService(t *testing.T, dryRun bool, dry grants.Backend) *grants.Service {
	t.Helper()
	return e.serviceWith(t, e.store, dryRun, dry)
}

// serviceWith is a process of e's deployment on store, in dryRun or not,
// with the dry-run backend dry.
func (e *env) serviceWith(t *testing.T, store grants.Store, dryRun bool, dry grants.Backend) *grants.Service {
	t.Helper()
	svc, err := grants.New(grants.Options{
		Store:         store,
		Backends:      map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend, grants.BackendSSO: e.backend, grants.BackendSSOGroup: e.backend},
		DryRun:        dryRun,
		DryRunBackend: dry,
		Directory:     e.dir,
		Notifier:      e.events,
		Catalog:       e.catalog,
		Now:           e.clock.Now,
		Lease:         30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestDryRunNeverReachesTheRealBackend(t *testing.T) {
	e := newEnv(t)
	dry := &dryBackend{}
	// A real grant from before jitbot was switched to a dry run.
	before := e.request(t, "UALICE", "prod-readonly")
	if _, err := e.svc.Approve(t.Context(), before.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	svc := e.dryService(t, true, dry)

	r, err := svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: "piloting jitbot in dry run"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.DryRun {
		t.Fatalf("a request made in a dry run is not marked DryRun")
	}
	r, err = svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != grants.Active || !slices.Equal(r.DryRunGrant, []string{"would grant " + string(r.ID)}) {
		t.Fatalf("after approval: state %s, DryRunGrant %q", r.State, r.DryRunGrant)
	}
	for _, ev := range e.events.All() {
		if ev.Request.ID == r.ID && (!ev.Request.DryRun || ev.Credentials != nil) {
			t.Errorf("%s event: DryRun %v, credentials %v; every event of a dry run says so and has no keys", ev.Type, ev.Request.DryRun, ev.Credentials)
		}
	}

	// Both expire; each is ended by the backend that issued it.
	e.clock.Advance(time.Hour + time.Minute)
	if _, err := svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	grantIDs, revokeIDs := dry.calls()
	if !slices.Equal(grantIDs, []grants.RequestID{r.ID}) || !slices.Equal(revokeIDs, []grants.RequestID{r.ID}) {
		t.Errorf("dry-run backend granted %v and revoked %v, want %s for both", grantIDs, revokeIDs, r.ID)
	}
	if grantCalls, revokes, holders := e.backend.counts(); grantCalls != 1 || revokes != 1 || holders != 0 {
		t.Errorf("real backend: grants=%d revokes=%d holders=%d, want the one real grant, revoked", grantCalls, revokes, holders)
	}
	got, _ := svc.Get(t.Context(), r.ID)
	if got.State != grants.Revoked || !slices.Equal(got.DryRunGrant, []string{"would grant " + string(r.ID)}) ||
		!slices.Equal(got.DryRunRevoke, []string{"would revoke " + string(r.ID)}) {
		t.Errorf("dry run at the end: state %s, DryRunGrant %q, DryRunRevoke %q", got.State, got.DryRunGrant, got.DryRunRevoke)
	}
	if old, _ := svc.Get(t.Context(), before.ID); old.DryRun || old.State != grants.Revoked {
		t.Errorf("the real grant: DryRun %v, state %s; want a real grant, revoked", old.DryRun, old.State)
	}
}

// TestDryRunRecordOutlivesTheMode: a dry-run grant still live when jitbot
// is switched back to real AWS is ended by the dry-run backend; the real
// backend would remove access that the dry run never gave.
func TestDryRunRecordOutlivesTheMode(t *testing.T) {
	e := newEnv(t)
	dry := &dryBackend{}
	pilot := e.dryService(t, true, dry)
	r, err := pilot.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "prod-admin", Duration: time.Hour, Reason: "piloting jitbot in dry run"})
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"ULEAD1", "ULEAD2"} {
		if _, err := pilot.Approve(t.Context(), r.ID, who); err != nil {
			t.Fatal(err)
		}
	}
	// jitbot restarts without JIT_DRY_RUN; bob gets a real grant too.
	real := e.dryService(t, false, dry)
	e.svc = real
	live := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
	if live.DryRun {
		t.Fatalf("a request made outside a dry run is marked DryRun")
	}
	// The dry run's imaginary membership, still live, must not keep bob's
	// real one.
	if _, err := real.Revoke(t.Context(), live.ID, "UBOB", ""); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); len(m) != 0 {
		t.Errorf("members after the real grant ended = %v, want none", m)
	}
	if _, err := real.Revoke(t.Context(), r.ID, "UBOB", ""); err != nil {
		t.Fatal(err)
	}
	if _, revokeIDs := dry.calls(); !slices.Equal(revokeIDs, []grants.RequestID{r.ID}) {
		t.Errorf("dry-run backend revoked %v, want %s", revokeIDs, r.ID)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 1 {
		t.Errorf("the real backend was called %d times, want once, for the real grant alone", revokes)
	}
}

func TestDryRunReconcilesNothing(t *testing.T) {
	e := reconcileEnv(t, "enforce")
	e.backend.groups["jit-prod-admin"] = []string{"mallory"}
	svc := e.dryService(t, true, &dryBackend{})
	svc.SetCatalog(e.svc.Catalog())
	if err := svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := reconciled(e); len(got) != 0 {
		t.Errorf("a dry run reconciled: %q", got)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); !slices.Equal(m, []string{"mallory"}) {
		t.Errorf("members = %v; a dry run removes nobody", m)
	}
}

func TestDryRunNeedsItsBackend(t *testing.T) {
	e := newEnv(t)
	_, err := grants.New(grants.Options{
		Store:     e.store,
		Backends:  map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend},
		DryRun:    true,
		Directory: e.dir,
		Catalog:   e.catalog,
	})
	if err == nil || !strings.Contains(err.Error(), "dry-run backend") {
		t.Errorf("New with DryRun and no dry-run backend: err = %v", err)
	}
}
