package grants_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

func reconcileEnv(t *testing.T, mode string) *env {
	t.Helper()
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(strings.Replace(testCatalog, "    group: jit-prod-admin\n", "    group: jit-prod-admin\n    reconcile: "+mode+"\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetCatalog(cat)
	return e
}

func reconciled(e *env) []string {
	var out []string
	for _, ev := range e.events.All() {
		if ev.Type == grants.EventReconciled {
			out = append(out, ev.Err)
		}
	}
	return out
}

func TestReconcileReportKeepsEveryone(t *testing.T) {
	e := reconcileEnv(t, "report")
	e.approveAll(t, e.request(t, "UBOB", "prod-admin")) // bob holds a grant
	e.backend.groups["jit-prod-admin"] = append(e.backend.groups["jit-prod-admin"], "mallory")
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"IAM user mallory is in jit-prod-admin without a grant from jitbot (reconcile: report)"}
	if got := reconciled(e); !slices.Equal(got, want) {
		t.Errorf("reconciled = %q, want %q", got, want)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); !slices.Equal(m, []string{"bob", "mallory"}) {
		t.Errorf("members after report = %v; report removes nobody", m)
	}
}

func TestReconcileEnforceRemovesOnlyStrays(t *testing.T) {
	e := reconcileEnv(t, "enforce")
	e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
	e.backend.groups["jit-prod-admin"] = append(e.backend.groups["jit-prod-admin"], "mallory")
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); !slices.Equal(m, []string{"bob"}) {
		t.Errorf("members after enforce = %v, want the granted bob only", m)
	}
	want := []string{"IAM user mallory was in jit-prod-admin without a grant from jitbot and has been removed (reconcile: enforce)"}
	if got := reconciled(e); !slices.Equal(got, want) {
		t.Errorf("reconciled = %q, want %q", got, want)
	}
}

// TestReconcileEnforceRacingAGrant: a grant that goes live while the
// stray-looking member is being removed gets its membership back.
func TestReconcileEnforceRacingAGrant(t *testing.T) {
	e := reconcileEnv(t, "enforce")
	r := e.request(t, "UBOB", "prod-admin")
	if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatal(err)
	}
	e.backend.groups["jit-prod-admin"] = []string{"bob"} // added behind jitbot's back, or a grant just landing
	e.backend.onRevoke = func() {
		// The second approval lands while reconcile removes bob.
		if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2"); err != nil {
			t.Errorf("approve during reconcile: %v", err)
		}
	}
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Active {
		t.Fatalf("grant state %s, want active", got.State)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); !slices.Equal(m, []string{"bob"}) {
		t.Errorf("members = %v; bob's live grant lost its membership to reconciliation", m)
	}
}

// TestReconcileRacingARevocation: a grant revoked between the listing of
// the group and the reading of the store was never a stray, and is
// neither reported nor removed again.
func TestReconcileRacingARevocation(t *testing.T) {
	for _, mode := range []string{"report", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			e := reconcileEnv(t, mode)
			r := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
			e.backend.onMembers = func() {
				if _, err := e.svc.Revoke(t.Context(), r.ID, "UBOB", ""); err != nil {
					t.Errorf("revoke during reconcile: %v", err)
				}
			}
			_, revokesBefore, _ := e.backend.counts()
			if err := e.svc.Reconcile(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Revoked {
				t.Fatalf("grant state %s, want revoked: the race did not happen", got.State)
			}
			if got := reconciled(e); len(got) != 0 {
				t.Errorf("reconciled = %q; a member whose grant just ended is not a stray", got)
			}
			if _, revokes, _ := e.backend.counts(); revokes != revokesBefore+1 {
				t.Errorf("%d removals, want the revocation's 1 only", revokes-revokesBefore)
			}
		})
	}
}

// TestReconcileStrayStaysReported: a member without a grant who is still
// in the group when it is listed again is reported, once.
func TestReconcileStrayStaysReported(t *testing.T) {
	e := reconcileEnv(t, "report")
	e.backend.groups["jit-prod-admin"] = []string{"mallory"}
	listings := 0
	var count func()
	count = func() { listings++; e.backend.onMembers = count }
	e.backend.onMembers = count
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"IAM user mallory is in jit-prod-admin without a grant from jitbot (reconcile: report)"}
	if got := reconciled(e); !slices.Equal(got, want) {
		t.Errorf("reconciled = %q, want %q", got, want)
	}
	if listings != 2 {
		t.Errorf("the group was listed %d times, want twice: once to find strays, once to confirm them", listings)
	}
}

// TestReconcileIgnoresAReplayedGrant: bob's grant ended, and someone who
// can write to the store writes its old active version back (it is signed:
// jitbot wrote it once) while bob is added to the group by hand. The
// replayed record does not make bob's membership a grant.
func TestReconcileIgnoresAReplayedGrant(t *testing.T) {
	e := reconcileEnv(t, "enforce")
	grant := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
	e.runDue(t, 3*time.Hour) // expired and revoked
	if _, err := e.store.Update(t.Context(), grant.ID, func(r *grants.Request) error {
		*r = *grant
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.backend.groups["jit-prod-admin"] = append(e.backend.groups["jit-prod-admin"], "bob")
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); len(m) != 0 {
		t.Errorf("members after enforce = %v: the replayed grant sheltered bob", m)
	}
}

// TestReconcileLeavesAnOverdueGrantToTheScheduler: a grant whose expiry
// passed while no process ran the scheduler (one was killed, the next has
// not yet taken over) is jitbot's to revoke, not a stray: reconciliation
// neither reports nor removes its member, and the scheduler then revokes
// it as expired.
func TestReconcileLeavesAnOverdueGrantToTheScheduler(t *testing.T) {
	e := reconcileEnv(t, "enforce")
	grant := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
	e.clock.Advance(grant.ExpiresAt.Sub(e.clock.Now()) + 10*time.Second)
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := reconciled(e); len(got) != 0 {
		t.Errorf("reconciliation of an overdue grant: %v, want nothing", got)
	}
	e.runDue(t, 0)
	if got := e.get(t, grant.ID); got.State != grants.Revoked || got.RevokeReason != grants.ReasonExpired {
		t.Errorf("overdue grant %s (%s), want revoked as expired", got.State, got.RevokeReason)
	}
}
