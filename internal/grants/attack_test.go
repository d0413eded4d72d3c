package grants_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// TestForgedLiveGrantRevokedForRealInDryRun: a live grant issued before
// jitbot was switched to a dry run (JIT_DRY_RUN), then tampered with in the
// store, is quarantined by the dry-run process. Its membership is real, so
// its revocation must reach the real backend: sent to the dry-run backend,
// the record ends "revoked" while alice stays in the group.
func TestForgedLiveGrantRevokedForRealInDryRun(t *testing.T) {
	e, f, dry := newForgingEnv(t)
	r := e.approveAll(t, e.request(t, "UALICE", "prod-admin")) // live mode
	if r.State != grants.Active || r.DryRun {
		t.Fatalf("state %s dry run %v, want a live active grant", r.State, r.DryRun)
	}
	// The same deployment, restarted with JIT_DRY_RUN.
	e.svc = e.serviceWith(t, f, true, dry)
	// Any byte changed will do; the attacker needs no key.
	f.forge(t, r.ID, func(r *grants.Request) { r.Reason += "." })
	e.svc.Get(t.Context(), r.ID) // any read finds it, here a listing
	e.runDue(t, time.Second)
	if got := e.get(t, r.ID); !got.State.Terminal() || !e.alerted(r.ID) {
		t.Fatalf("quarantined record %s, alerted %v; want it ended with an alert", got.State, e.alerted(r.ID))
	}
	if _, dr := dry.calls(); len(dr) != 0 {
		t.Errorf("dry-run backend revoked %v: the real membership was left", dr)
	}
	if slices.Contains(e.backend.groups["jit-prod-admin"], "alice") {
		t.Errorf("alice still in jit-prod-admin after her tampered grant was quarantined and marked %s", e.get(t, r.ID).State)
	}
}

// TestForgedPrincipalStillRevokesTheRealMembership: the attacker edits a
// live group grant's IAM user (or group, or backend). Quarantine revokes
// with the record's own fields, which the attacker chose: the revocation
// goes to someone else, the record ends revoked and the tampered alert says
// the access is being taken away, while alice keeps the membership.
func TestForgedPrincipalStillRevokesTheRealMembership(t *testing.T) {
	edits := map[string]func(*grants.Request){
		"principal": func(r *grants.Request) { r.Principal = "nobody" },
		"target":    func(r *grants.Request) { r.Target = "jit-elsewhere" },
		"backend":   func(r *grants.Request) { r.Backend = "aws_nothing" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			e, f, _ := newForgingEnv(t)
			r := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
			f.forge(t, r.ID, edit)
			e.svc.Get(t.Context(), r.ID) // any read finds it, here a listing
			for range 4 {
				e.runDue(t, time.Minute)
			}
			if !e.alerted(r.ID) {
				t.Fatalf("no tampered alert")
			}
			if slices.Contains(e.backend.groups["jit-prod-admin"], "alice") {
				t.Errorf("alice still in jit-prod-admin: the forged %s steered the quarantine's revocation (record %s)", name, stateOf(t, e, r.ID))
			}
		})
	}
}

// stateOf reads id's state straight from the store, signed or not.
func stateOf(t *testing.T, e *env, id grants.RequestID) grants.State {
	t.Helper()
	r, err := e.store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.State
}

// TestRevocationOnAnUnknownBackendAlerts: a record whose backend this
// process does not have (a forged name on a record whose role left the
// catalog, or a backend taken out of the configuration) cannot be revoked.
// That is a failed attempt like any other: retried and alerted, never
// skipped in silence with the record still revoking.
func TestRevocationOnAnUnknownBackendAlerts(t *testing.T) {
	e := newEnv(t)
	r := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	if _, err := e.store.Update(t.Context(), r.ID, func(r *grants.Request) error {
		r.Backend = "aws_retired"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(t.Context(), r.ID, "UALICE", "done"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	for range 8 {
		e.runDue(t, time.Minute)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Revoking || got.Attempts < 5 {
		t.Errorf("record %s after %d attempts, want still revoking after at least 5", got.State, got.Attempts)
	}
	alerts := eventsOf(e.events, r.ID, grants.EventRevokeFailed)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Err, `unknown backend "aws_retired"`) {
		t.Fatalf("revoke_failed alerts %v, want one naming the unknown backend", alerts)
	}
}
