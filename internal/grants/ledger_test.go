package grants_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
)

// eventLedger is the ledger as the audit log keeps it: what each granted
// event said, as it was emitted.
type eventLedger struct{ rec *grantstest.Recorder }

func (l eventLedger) Granted(_ context.Context, id grants.RequestID, _ time.Time) ([]grants.Hold, error) {
	var out []grants.Hold
	for _, ev := range l.rec.All() {
		if ev.Type == grants.EventGranted && ev.Request.ID == id {
			out = append(out, grants.Hold{Backend: ev.Request.Backend, Target: ev.Request.Target, Principal: ev.Request.Principal})
		}
	}
	return out, nil
}

// TestForgedRequesterStillRevokesTheRealHolder: someone who can write to
// the store edits alice's live grant to name bob as its requester (and
// principal), so that its quarantine takes away bob's membership and
// leaves hers. The ledger says what was granted: alice's membership is
// removed all the same, and bob's, held by a grant of his own, is kept.
func TestForgedRequesterStillRevokesTheRealHolder(t *testing.T) {
	e, f, dry := newForgingEnv(t)
	svc, err := grants.New(grants.Options{
		Store:         f,
		Backends:      map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend, grants.BackendSSO: e.backend, grants.BackendSSOGroup: e.backend},
		DryRunBackend: dry,
		Directory:     e.dir,
		Notifier:      e.events,
		Ledger:        eventLedger{e.events},
		Catalog:       e.catalog,
		Now:           e.clock.Now,
		Lease:         30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	alice := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	bob := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
	if got := e.backend.groups["jit-prod-admin"]; !slices.Contains(got, "alice") || !slices.Contains(got, "bob") {
		t.Fatalf("jit-prod-admin = %v before the attack", got)
	}
	f.forge(t, alice.ID, func(r *grants.Request) {
		r.Requester.ID, r.Requester.Name, r.Requester.Email, r.Principal = "UBOB", "bob", "bob@example.com", "bob"
	})
	e.svc.Get(t.Context(), alice.ID)
	for range 4 {
		e.runDue(t, time.Minute)
	}
	if !e.alerted(alice.ID) {
		t.Fatalf("no tampered alert")
	}
	got := e.backend.groups["jit-prod-admin"]
	if slices.Contains(got, "alice") {
		t.Errorf("alice is still in jit-prod-admin: the forged requester steered the quarantine's revocation to bob (record %s)", stateOf(t, e, alice.ID))
	}
	if !slices.Contains(got, "bob") {
		t.Errorf("bob, who holds his own grant %s, lost his membership: %v", bob.ID, got)
	}
}
