package grants_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// forgingStore is a store someone wrote to without jitbot's signing key:
// the records in forged read as Tampered, as redisstore reports them, until
// jitbot writes them again under its key.
type forgingStore struct {
	grants.Store
	mu     sync.Mutex
	forged map[grants.RequestID]bool
}

func (f *forgingStore) forge(t *testing.T, id grants.RequestID, edit func(*grants.Request)) {
	t.Helper()
	if _, err := f.Store.Update(t.Context(), id, func(r *grants.Request) error { edit(r); return nil }); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.forged[id] = true
	f.mu.Unlock()
}

func (f *forgingStore) mark(r *grants.Request) *grants.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Tampered = f.forged[r.ID]
	return r
}

func (f *forgingStore) Get(ctx context.Context, id grants.RequestID) (*grants.Request, error) {
	r, err := f.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.mark(r), nil
}

func (f *forgingStore) Update(ctx context.Context, id grants.RequestID, fn func(*grants.Request) error) (*grants.Request, error) {
	r, err := f.Store.Update(ctx, id, func(r *grants.Request) error {
		return fn(f.mark(r))
	})
	if err == nil {
		f.mu.Lock()
		delete(f.forged, id) // written under the key now
		f.mu.Unlock()
	}
	return r, err
}

func (f *forgingStore) Open(ctx context.Context) ([]*grants.Request, error) {
	rs, err := f.Store.Open(ctx)
	for _, r := range rs {
		f.mark(r)
	}
	return rs, err
}

func (f *forgingStore) EachOpen(ctx context.Context, fn func([]*grants.Request) error) error {
	return f.Store.EachOpen(ctx, func(page []*grants.Request) error {
		for _, r := range page {
			f.mark(r)
		}
		return fn(page)
	})
}

func (f *forgingStore) OpenOf(ctx context.Context, userID string, roles []string) ([]*grants.Request, error) {
	rs, err := f.Store.OpenOf(ctx, userID, roles)
	for _, r := range rs {
		f.mark(r)
	}
	return rs, err
}

func (f *forgingStore) Holders(ctx context.Context, h grants.Hold) ([]*grants.Request, error) {
	rs, err := f.Store.Holders(ctx, h)
	for _, r := range rs {
		f.mark(r)
	}
	return rs, err
}

func newForgingEnv(t *testing.T) (*env, *forgingStore, *dryBackend) {
	e := newEnv(t)
	f := &forgingStore{Store: e.store, forged: map[grants.RequestID]bool{}}
	dry := &dryBackend{}
	e.svc = e.serviceWith(t, f, false, dry)
	return e, f, dry
}

func (e *env) alerted(id grants.RequestID) bool {
	for _, ev := range e.events.All() {
		if ev.Type == grants.EventTampered && ev.Request.ID == id {
			return true
		}
	}
	return false
}

// TestForgedGrantingRecordIssuesNothing: a pending request edited in the
// store into granting, with another role's target and 12 h, whose lease has
// lapsed, is not issued by the scheduler: it fails, with an alert.
func TestForgedGrantingRecordIssuesNothing(t *testing.T) {
	e, f, _ := newForgingEnv(t)
	r := e.request(t, "UBOB", "prod-readonly")
	f.forge(t, r.ID, func(r *grants.Request) {
		r.State = grants.Granting
		r.Target = "arn:aws:iam::111111111111:role/root-admin"
		r.Duration = 12 * time.Hour
		r.Approvals = []grants.Approval{{Approver: "UAPPROVER1", At: e.clock.Now()}}
		r.DecidedAt = e.clock.Now()
		r.LeaseUntil = e.clock.Now()
	})
	e.runDue(t, time.Minute)
	e.runDue(t, time.Minute)
	e.wantNothingIssued(t, 0)
	got := e.get(t, r.ID)
	if got.State != grants.Failed || got.Failure != grants.ReasonTampered {
		t.Errorf("forged record: state %s failure %q, want failed: %q", got.State, got.Failure, grants.ReasonTampered)
	}
	if !e.alerted(r.ID) {
		t.Errorf("no %s event for the forged record", grants.EventTampered)
	}
}

// TestForgedDryRunFlagStillRevokes: DryRun set in the store on a live
// group grant does not send its revocation to the dry-run backend.
func TestForgedDryRunFlagStillRevokes(t *testing.T) {
	e, f, dry := newForgingEnv(t)
	r := e.request(t, "UALICE", "prod-admin")
	r = e.approveAll(t, r)
	if r.State != grants.Active {
		t.Fatalf("state %s, want active", r.State)
	}
	f.forge(t, r.ID, func(r *grants.Request) { r.DryRun = true; r.ExpiresAt = r.ExpiresAt.Add(72 * time.Hour) })
	// Any read finds it: here a listing.
	if _, err := e.svc.Get(t.Context(), r.ID); !strings.Contains(errString(err), "integrity check") {
		t.Fatalf("Get of a forged record: err = %v, want the integrity check failure", err)
	}
	e.runDue(t, time.Second)
	if _, revokes, _ := e.backend.counts(); revokes != 1 {
		t.Errorf("real backend revokes = %d, want 1", revokes)
	}
	if _, dr := dry.calls(); len(dr) != 0 {
		t.Errorf("dry-run backend revoked %v: the forged flag was obeyed", dr)
	}
	if got := e.get(t, r.ID); got.State != grants.Revoked {
		t.Errorf("state %s, want revoked", got.State)
	}
	if !e.alerted(r.ID) {
		t.Errorf("no %s event", grants.EventTampered)
	}
}

// TestForgedHolderKeepsNoMembership: a forged active record on the same
// IAM user and group does not keep a real grant's membership alive at its
// revocation.
func TestForgedHolderKeepsNoMembership(t *testing.T) {
	e, f, _ := newForgingEnv(t)
	real := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	fake := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	f.forge(t, fake.ID, func(r *grants.Request) { r.ExpiresAt = r.ExpiresAt.Add(240 * time.Hour) })
	if _, err := e.svc.Revoke(t.Context(), real.ID, "UALICE", "done"); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, time.Second)
	if _, revokes, _ := e.backend.counts(); revokes < 1 {
		t.Errorf("revokes = %d: the forged record kept the membership", revokes)
	}
	if got := e.get(t, fake.ID); got.State != grants.Revoked {
		t.Errorf("forged record: state %s, want revoked", got.State)
	}
}

// TestSignedRecordMustMatchCatalog: a record jitbot itself wrote (an old
// version written back, or a catalog changed since) is still checked
// against the catalog and its approvals before issuing.
func TestSignedRecordMustMatchCatalog(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *grants.Request, now time.Time)
		why  string
	}{
		{"another role's target", func(r *grants.Request, _ time.Time) { r.Target = "arn:aws:iam::111111111111:role/root-admin" }, "target is not the role's"},
		{"longer than the role's max", func(r *grants.Request, _ time.Time) { r.Duration = 12 * time.Hour }, "outside the role's max"},
		{"another IAM user", func(r *grants.Request, _ time.Time) { r.Principal = "root" }, "IAM user"},
		{"session policy dropped", func(r *grants.Request, _ time.Time) { r.Backend = grants.BackendSTS }, "backend"},
		{"approved by someone who may not", func(r *grants.Request, now time.Time) {
			r.Approvals = []grants.Approval{{Approver: "ULEAD1", At: now}, {Approver: "UOUTSIDER", At: now}}
		}, "1 valid approval(s) and the role needs 2"},
		{"the same approver twice", func(r *grants.Request, now time.Time) {
			r.Approvals = []grants.Approval{{Approver: "ULEAD1", At: now}, {Approver: "ULEAD1", At: now}}
		}, "1 valid approval(s)"},
		{"approved by the requester", func(r *grants.Request, now time.Time) {
			r.Approvals = []grants.Approval{{Approver: "ULEAD1", At: now}, {Approver: "UALICE", At: now}}
		}, "1 valid approval(s)"},
		{"approved long ago", func(r *grants.Request, now time.Time) { r.DecidedAt = now.Add(-3 * time.Hour) }, "more than 15m ago"},
		{"made in a dry run", func(r *grants.Request, _ time.Time) { r.DryRun = true }, "dry-run mode"},
		{"not auto-approvable", func(r *grants.Request, _ time.Time) { r.AutoApproved = true }, "auto_approve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, r := approvedAndEdited(t, tt.edit)
			e.runDue(t, time.Second)
			e.wantNothingIssued(t, 0)
			got := e.get(t, r.ID)
			if got.State != grants.Failed || !strings.Contains(got.Failure, tt.why) {
				t.Errorf("state %s failure %q, want failed with %q", got.State, got.Failure, tt.why)
			}
		})
	}
	// The same record unedited is issued: the checks above refuse only
	// what they name.
	e, r := approvedAndEdited(t, func(*grants.Request, time.Time) {})
	e.runDue(t, time.Second)
	if got := e.get(t, r.ID); got.State != grants.Active || e.grantCalls() != 1 {
		t.Errorf("an untouched record: state %s, %d grant calls; want active after 1", got.State, e.grantCalls())
	}
}

// approvedAndEdited is alice's prod-admin request approved by both leads,
// in Granting with its lease lapsed, then changed by edit and written
// back as jitbot would write it (signed).
func approvedAndEdited(t *testing.T, edit func(r *grants.Request, now time.Time)) (*env, *grants.Request) {
	t.Helper()
	e, _, _ := newForgingEnv(t)
	r := e.request(t, "UALICE", "prod-admin")
	now := e.clock.Now()
	if _, err := e.store.Update(t.Context(), r.ID, func(r *grants.Request) error {
		r.Approvals = []grants.Approval{{Approver: "ULEAD1", At: now}, {Approver: "ULEAD2", At: now}}
		r.State, r.DecidedAt, r.LeaseUntil = grants.Granting, now, now
		edit(r, now)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return e, r
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestReplayedHolderKeepsNoMembership: an old, correctly signed version of
// an earlier grant of the same membership, written back as active after its
// expiry, does not keep the membership of the grant being revoked.
func TestReplayedHolderKeepsNoMembership(t *testing.T) {
	e, _, _ := newForgingEnv(t)
	old := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	e.runDue(t, 2*time.Hour) // old expires and is revoked
	if _, revokes, _ := e.backend.counts(); revokes != 1 {
		t.Fatalf("revokes = %d after the first grant expired, want 1", revokes)
	}
	current := e.approveAll(t, e.request(t, "UALICE", "prod-admin"))
	snapshot := *old // as it was while active
	if _, err := e.store.Update(t.Context(), old.ID, func(r *grants.Request) error {
		*r = snapshot
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(t.Context(), current.ID, "UALICE", "done"); err != nil {
		t.Fatal(err)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 2 {
		t.Errorf("revokes = %d, want 2: the replayed old grant kept the membership", revokes)
	}
}
