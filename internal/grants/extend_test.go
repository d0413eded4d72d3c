package grants_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// approveAll has both prod-admin approvers approve r.
func (e *env) approveAll(t *testing.T, r *grants.Request) *grants.Request {
	t.Helper()
	var err error
	for _, who := range []string{"ULEAD1", "ULEAD2"} {
		if r, err = e.svc.Approve(t.Context(), r.ID, who); err != nil {
			t.Fatalf("approve %s by %s: %v", r.ID, who, err)
		}
	}
	return r
}

func TestExpiryWarningOnceFiveMinutesBefore(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-readonly")
	r, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	if want := r.ExpiresAt.Add(-5 * time.Minute); !r.WarnAt.Equal(want) {
		t.Fatalf("WarnAt = %v, want %v", r.WarnAt, want)
	}
	e.runDue(t, 54*time.Minute)
	if slices.Contains(e.events.Types(r.ID), grants.EventExpiring) {
		t.Fatalf("warned 6 minutes before expiry")
	}
	e.runDue(t, time.Minute)
	e.runDue(t, time.Minute)
	e.events.Want(t, r.ID, grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventExpiring)
	if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Active || !got.WarnAt.IsZero() {
		t.Errorf("after warning: state %s WarnAt %v, want active and cleared", got.State, got.WarnAt)
	}
}

func TestNoExpiryWarningForShortGrants(t *testing.T) {
	e := newEnv(t)
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: 9 * time.Minute, Reason: "fixing INC-42 replica lag"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	if !r.WarnAt.IsZero() {
		t.Errorf("a 9m grant has WarnAt %v; it needs no warning", r.WarnAt)
	}
	e.runDue(t, 9*time.Minute)
	e.events.Want(t, r.ID, grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventRevoked)
}

func TestExtendRunsOnFromTheOriginalExpiry(t *testing.T) {
	e := newEnv(t)
	orig := e.request(t, "UALICE", "prod-readonly")
	orig, err := e.svc.Approve(t.Context(), orig.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Minute)

	ext, err := e.svc.Extend(t.Context(), orig.ID, "UALICE", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ext.ID == orig.ID || ext.Extends != orig.ID || ext.State != grants.Pending || ext.Reason != orig.Reason || ext.Duration != 30*time.Minute {
		t.Fatalf("extension = %+v", ext)
	}
	e.clock.Advance(2 * time.Minute)
	if ext, err = e.svc.Approve(t.Context(), ext.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	if want := orig.ExpiresAt.Add(30 * time.Minute); ext.State != grants.Active || !ext.ExpiresAt.Equal(want) {
		t.Errorf("extension state %s expires %v, want active until %v", ext.State, ext.ExpiresAt, want)
	}
	if !ext.GrantedAt.Equal(e.clock.Now()) {
		t.Errorf("extension granted at %v, want when approved (%v)", ext.GrantedAt, e.clock.Now())
	}
}

func TestExtendRefusals(t *testing.T) {
	e := newEnv(t)
	active := e.request(t, "UALICE", "prod-readonly")
	active, err := e.svc.Approve(t.Context(), active.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	pending := e.request(t, "UALICE", "prod-readonly")

	tests := []struct {
		name    string
		id      grants.RequestID
		user    string
		d       time.Duration
		class   error
		wantMsg string
	}{
		{name: "someone else's grant", id: active.ID, user: "UBOB", d: time.Hour, class: grants.ErrNotAllowed, wantMsg: "only the requester can extend " + string(active.ID)},
		{name: "not active", id: pending.ID, user: "UALICE", d: time.Hour, class: grants.ErrDecided, wantMsg: "is not active (it is pending)"},
		{name: "over the max in total", id: active.ID, user: "UALICE", d: 3*time.Hour + time.Minute, class: grants.ErrInvalidInput,
			wantMsg: string(active.ID) + " started 0s ago; 3h1m more would make 4h1m in all, over prod-readonly's max of 4h; ask for a fresh approval with /jit request"},
		{name: "no time", id: active.ID, user: "UALICE", d: 0, class: grants.ErrInvalidInput, wantMsg: "say how much more time you need"},
		{name: "unknown", id: "JIT-ZZZZZZ", user: "UALICE", d: time.Hour, class: grants.ErrNotFound, wantMsg: "there is no request JIT-ZZZZZZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Extend(t.Context(), tt.id, tt.user, tt.d)
			wantUserError(t, err, tt.class, tt.wantMsg)
		})
	}
	if open, _ := e.store.open(t.Context()); len(open) != 2 {
		t.Errorf("%d open records after refused extensions, want the 2 from before", len(open))
	}
}

func TestGroupMembershipKeptWhileAnotherGrantHoldsIt(t *testing.T) {
	e := newEnv(t)
	first := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
	e.clock.Advance(30 * time.Minute)
	second := e.approveAll(t, e.request(t, "UBOB", "prod-admin"))

	e.runDue(t, 30*time.Minute) // first expires; second still runs
	if got, _ := e.svc.Get(t.Context(), first.ID); got.State != grants.Revoked {
		t.Fatalf("first grant is %s after its expiry, want revoked", got.State)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 0 {
		t.Fatalf("RemoveUserFromGroup called %d times while %s still holds the membership", revokes, second.ID)
	}
	e.runDue(t, 30*time.Minute) // second expires: now the membership goes
	if _, revokes, _ := e.backend.counts(); revokes != 1 {
		t.Errorf("revokes = %d after the last grant ended, want 1", revokes)
	}
}

func TestApproversResolvedNowWithoutTheRequester(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-readonly") // alice is herself in @platform-leads
	got, err := e.svc.Approvers(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"UAPPROVER1", "ULEAD1", "ULEAD2"}; !slices.Equal(got, want) {
		t.Errorf("approvers = %v, want %v", got, want)
	}
	e.dir.edit(func(d *fakeDirectory) { d.groups["platform-leads"] = []string{"ULEAD2", "UAPPROVER1"} })
	got, _ = e.svc.Approvers(t.Context(), r)
	if want := []string{"UAPPROVER1", "ULEAD2"}; !slices.Equal(got, want) {
		t.Errorf("after ULEAD1 left the group: approvers = %v, want %v", got, want)
	}
}

func TestApproverOf(t *testing.T) {
	e := newEnv(t)
	for user, want := range map[string][]string{
		"ULEAD1":     {"prod-admin", "prod-readonly"},
		"UAPPROVER1": {"prod-readonly"},
		"UBOB":       nil,
	} {
		got, err := e.svc.ApproverOf(t.Context(), user)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ApproverOf(%s) = %v, %v; want %v", user, got, err, want)
		}
	}
}

func TestBotsCannotRequest(t *testing.T) {
	e := newEnv(t)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["UBOT"] = d.users["UALICE"]
		u := d.users["UBOT"]
		u.ID, u.IsBot = "UBOT", true
		d.users["UBOT"] = u
	})
	_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOT", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	wantUserError(t, err, grants.ErrIneligible, "bots cannot request access")
}

// TestExtensionsCountFromTheFirstGrantsStart: a chain of extensions cannot
// outlast max_duration counted from the first grant's start.
func TestExtensionsCountFromTheFirstGrantsStart(t *testing.T) {
	e := newEnv(t)
	first, err := e.svc.Approve(t.Context(), e.request(t, "UALICE", "prod-readonly").ID, "UAPPROVER1") // 1h of max 4h
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Minute)
	ext, err := e.svc.Extend(t.Context(), first.ID, "UALICE", 2*time.Hour) // ends at 3h from the first start
	if err != nil {
		t.Fatal(err)
	}
	if ext, err = e.svc.Approve(t.Context(), ext.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 20*time.Minute) // the first grant ends; the extension runs on
	_, err = e.svc.Extend(t.Context(), ext.ID, "UALICE", time.Hour+time.Minute)
	wantUserError(t, err, grants.ErrInvalidInput, string(first.ID)+" started 1h10m ago; 1h1m more would make 4h1m in all, over prod-readonly's max of 4h")
	if _, err := e.svc.Extend(t.Context(), ext.ID, "UALICE", time.Hour); err != nil {
		t.Errorf("an extension to exactly 4h in all was refused: %v", err)
	}
}
