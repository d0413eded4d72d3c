package grants_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// deactivate marks id deactivated in the directory, as Slack would.
func (e *env) deactivate(id string) {
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users[id]
		u.Deleted = true
		d.users[id] = u
	})
}

func (e *env) get(t *testing.T, id grants.RequestID) *grants.Request {
	t.Helper()
	r, err := e.svc.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// aliceHoldsAndAsks gives UALICE an active prod-readonly grant and a pending
// prod-admin request, and UBOB an active prod-readonly grant.
func (e *env) aliceHoldsAndAsks(t *testing.T) (grant, pending, bobs *grants.Request) {
	t.Helper()
	var err error
	grant = e.request(t, "UALICE", "prod-readonly")
	if grant, err = e.svc.Approve(t.Context(), grant.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	bobs = e.request(t, "UBOB", "prod-readonly")
	if bobs, err = e.svc.Approve(t.Context(), bobs.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	pending = e.request(t, "UALICE", "prod-admin")
	return grant, pending, bobs
}

// wantEnded checks that the deactivated requester's grant is revoked and
// their request denied, both for ReasonDeactivated, and bob's grant kept.
func (e *env) wantEnded(t *testing.T, grant, pending, bobs *grants.Request) {
	t.Helper()
	if g := e.get(t, grant.ID); g.State != grants.Revoked || g.RevokeReason != grants.ReasonDeactivated {
		t.Errorf("grant: state %s reason %q, want revoked for %q", g.State, g.RevokeReason, grants.ReasonDeactivated)
	}
	if p := e.get(t, pending.ID); p.State != grants.Denied || p.DenyReason != grants.ReasonDeactivated || p.DecidedBy != "" {
		t.Errorf("request: state %s reason %q by %q, want denied by jitbot for %q", p.State, p.DenyReason, p.DecidedBy, grants.ReasonDeactivated)
	}
	e.events.Want(t, grant.ID, grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventRevoked)
	e.events.Want(t, pending.ID, grants.EventRequested, grants.EventDenied)
	if b := e.get(t, bobs.ID); b.State != grants.Active {
		t.Errorf("bob's grant is %s; another user's deactivation ended it", b.State)
	}
}

func TestDeactivatedEndsGrantsAndRequests(t *testing.T) {
	e := newEnv(t)
	grant, pending, bobs := e.aliceHoldsAndAsks(t)

	// An event for a user Slack does not say is deactivated (a replay,
	// or a profile edit) changes nothing.
	if gone, err := e.svc.Deactivated(t.Context(), "UALICE"); err != nil || gone {
		t.Fatalf("Deactivated of an active user = %v, %v; want false, nil", gone, err)
	}
	if g := e.get(t, grant.ID); g.State != grants.Active {
		t.Fatalf("grant is %s after an event for an active user", g.State)
	}

	e.deactivate("UALICE")
	if gone, err := e.svc.Deactivated(t.Context(), "UALICE"); err != nil || !gone {
		t.Fatalf("Deactivated = %v, %v; want true, nil", gone, err)
	}
	e.wantEnded(t, grant, pending, bobs)
	if _, _, holders := e.backend.counts(); holders != 1 {
		t.Errorf("%d holders in AWS, want only bob's", holders)
	}
}

func TestSweepCatchesAMissedDeactivation(t *testing.T) {
	e := newEnv(t)
	grant, pending, bobs := e.aliceHoldsAndAsks(t)
	if err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if g := e.get(t, grant.ID); g.State != grants.Active {
		t.Fatalf("sweep ended the grant of an active user: %s", g.State)
	}
	e.deactivate("UALICE") // and the user_change event never arrives
	if err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.wantEnded(t, grant, pending, bobs)
}

// extended gives UALICE an active prod-readonly grant and a pending
// extension of it.
func (e *env) extended(t *testing.T) (orig, ext *grants.Request) {
	t.Helper()
	orig = e.request(t, "UALICE", "prod-readonly")
	orig, err := e.svc.Approve(t.Context(), orig.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Minute) // extensions are asked for near the end
	if ext, err = e.svc.Extend(t.Context(), orig.ID, "UALICE", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	return orig, ext
}

func TestRevokingTheOriginalDeniesItsPendingExtension(t *testing.T) {
	e := newEnv(t)
	orig, ext := e.extended(t)
	if _, err := e.svc.Revoke(t.Context(), orig.ID, "UAPPROVER1", "suspicious"); err != nil {
		t.Fatal(err)
	}
	if x := e.get(t, ext.ID); x.State != grants.Denied {
		t.Fatalf("extension is %s after its grant was revoked, want denied", x.State)
	}
	before := e.grantCalls()
	_, err := e.svc.Approve(t.Context(), ext.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrDecided, "was revoked")
	e.wantNothingIssued(t, before)
}

func TestExtensionOfAnExpiredGrantCannotBeApproved(t *testing.T) {
	e := newEnv(t)
	orig, ext := e.extended(t)
	e.runDue(t, 10*time.Minute) // the original expires; the extension waits
	if o := e.get(t, orig.ID); o.State != grants.Revoked {
		t.Fatalf("original is %s, want revoked at expiry", o.State)
	}
	before := e.grantCalls()
	_, err := e.svc.Approve(t.Context(), ext.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrDecided, "is no longer active (it is revoked)")
	e.wantNothingIssued(t, before)
	x := e.get(t, ext.ID)
	if x.State != grants.Denied || x.DecidedBy != "" {
		t.Fatalf("extension: state %s by %q, want denied by jitbot", x.State, x.DecidedBy)
	}
	e.events.Want(t, ext.ID, grants.EventRequested, grants.EventDenied)
}

func TestSweepDeniesExtensionsOfEndedGrants(t *testing.T) {
	e := newEnv(t)
	_, ext := e.extended(t)
	e.runDue(t, 10*time.Minute)
	if err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if x := e.get(t, ext.ID); x.State != grants.Denied {
		t.Fatalf("extension of an expired grant is %s after the sweep, want denied", x.State)
	}
}

// An approved extension shares its original's IAM group membership: when
// the original was revoked, the extension kept the member in the group.
func TestRevokingTheOriginalEndsItsActiveExtension(t *testing.T) {
	e := newEnv(t)
	orig := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	ext, err := e.svc.Extend(t.Context(), orig.ID, "UALICE", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ext = e.approveAll(t, ext); ext.State != grants.Active {
		t.Fatalf("extension is %s, want active", ext.State)
	}
	if _, err := e.svc.Revoke(t.Context(), orig.ID, "ULEAD1", "compromised laptop"); err != nil {
		t.Fatal(err)
	}
	if x := e.get(t, ext.ID); x.State != grants.Revoked {
		t.Errorf("extension is %s after its grant was revoked, want revoked", x.State)
	}
	if m, _ := e.backend.Members(t.Context(), "jit-prod-admin"); len(m) != 0 {
		t.Errorf("jit-prod-admin still holds %v after the grant was revoked", m)
	}
}

func TestGroupChangedAuditsOnlyTheCatalogsGroups(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		handle string
		named  bool
	}{
		{"platform-leads", true}, // approvers of both roles
		{"sre", true},            // prod-admin's eligible rule
		{"oncall", true},         // prod-readonly's auto_approve rule
		{"marketing", false},
	} {
		before := len(e.events.All())
		if got := e.svc.GroupChanged(t.Context(), tt.handle, []string{"UEVE"}, []string{"ULEAD2"}); got != tt.named {
			t.Errorf("GroupChanged(@%s) = %v, want %v", tt.handle, got, tt.named)
		}
		all := e.events.All()
		if !tt.named {
			if len(all) != before {
				t.Errorf("@%s is not in the catalog, yet its change was audited", tt.handle)
			}
			continue
		}
		if len(all) != before+1 || all[before].Type != grants.EventGroupChanged {
			t.Fatalf("@%s: events %v, want one %s", tt.handle, all[before:], grants.EventGroupChanged)
		}
		if msg := all[before].Err; !strings.Contains(msg, "@"+tt.handle+": added UEVE; removed ULEAD2;") {
			t.Errorf("@%s: audit says %q", tt.handle, msg)
		}
	}
}

// rosterDirectory is the fake directory able to list everyone at once
// (grants.Roster), counting what it is asked.
type rosterDirectory struct {
	*fakeDirectory
	unlisted map[string]bool // left out of Everyone, as Slack Connect users are
	listErr  error

	mu      sync.Mutex
	lists   int
	lookups []string
}

func (d *rosterDirectory) User(ctx context.Context, id string) (rules.User, error) {
	d.mu.Lock()
	d.lookups = append(d.lookups, id)
	d.mu.Unlock()
	return d.fakeDirectory.User(ctx, id)
}

func (d *rosterDirectory) Everyone(ctx context.Context) (map[string]rules.User, error) {
	d.mu.Lock()
	d.lists++
	d.mu.Unlock()
	if !grants.IsFresh(ctx) {
		return nil, errors.New("users.list asked for a cached answer")
	}
	if d.listErr != nil {
		return nil, d.listErr
	}
	out := map[string]rules.User{}
	d.edit(func(f *fakeDirectory) {
		for id, u := range f.users {
			if !d.unlisted[id] {
				out[id] = u
			}
		}
	})
	return out, nil
}

// TestSweepListsEveryoneOnce: with a directory that lists everyone at
// once, the lifecycle pass reads that list once, freshly, and asks for
// only those it leaves out, instead of asking once per requester (5,000
// users.info calls for 5,000 engineers, about 50 minutes at Slack's pace).
func TestSweepListsEveryoneOnce(t *testing.T) {
	e := newEnv(t)
	grant, pending, bobs := e.aliceHoldsAndAsks(t)
	e.roster = &rosterDirectory{fakeDirectory: e.dir, unlisted: map[string]bool{"UBOB": true}}
	svc := e.serviceOn(t, e.store, e.events, e.backend)
	e.deactivate("UALICE") // and the user_change event never arrives
	if err := svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.wantEnded(t, grant, pending, bobs)
	if e.roster.lists != 1 || !slices.Equal(e.roster.lookups, []string{"UBOB"}) {
		t.Errorf("the pass listed everyone %d times and asked for %v; want one fresh list and only UBOB, whom it leaves out", e.roster.lists, e.roster.lookups)
	}
}

// TestSweepWithoutTheListAsksEachRequester: a list that fails (Slack
// refusing users.list) is no reason to miss a deactivation.
func TestSweepWithoutTheListAsksEachRequester(t *testing.T) {
	e := newEnv(t)
	grant, pending, bobs := e.aliceHoldsAndAsks(t)
	e.roster = &rosterDirectory{fakeDirectory: e.dir, listErr: errors.New("users.list: ratelimited")}
	svc := e.serviceOn(t, e.store, e.events, e.backend)
	e.deactivate("UALICE")
	if err := svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.wantEnded(t, grant, pending, bobs)
	slices.Sort(e.roster.lookups)
	if !slices.Equal(e.roster.lookups, []string{"UALICE", "UBOB"}) {
		t.Errorf("asked for %v, want each requester once", e.roster.lookups)
	}
}
