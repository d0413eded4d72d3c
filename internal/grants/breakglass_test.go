package grants_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

const breakglassCatalog = `defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  prod-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-readonly
    approvers: [UAPPROVER1, "@platform-leads"]
    eligible: 'true'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
    incident_pattern: '^INC-[0-9]+$'
    breakglass_limit: 2
    review_within: 2h
  vendor-support:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/vendor-support
    approvers: [UAPPROVER1, ULEAD1]
    eligible: 'true'
    auto_approve: 'true'
    allow_guests: true
    guest_max_duration: 30m
`

func breakglassEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(breakglassCatalog))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetCatalog(cat)
	return e
}

func (e *env) breakglass(t *testing.T) *grants.Request {
	t.Helper()
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "prod-readonly", Duration: time.Hour, Reason: "database on fire", Incident: "INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestIncidentPattern(t *testing.T) {
	e := breakglassEnv(t)
	_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "prod-readonly", Duration: time.Hour, Reason: "database on fire", Incident: "incident42"})
	wantUserError(t, err, grants.ErrInvalidInput, `incident reference "incident42" does not look like one of prod-readonly's incidents (^INC-[0-9]+$)`)
}

func TestBreakglassLimitSendsTheThirdToApprovers(t *testing.T) {
	e := breakglassEnv(t)
	for i := range 2 {
		if r := e.breakglass(t); !r.AutoApproved || r.State != grants.Active {
			t.Fatalf("break-glass %d: state %s auto %v", i+1, r.State, r.AutoApproved)
		}
	}
	third := e.breakglass(t)
	if third.AutoApproved || third.State != grants.Pending {
		t.Fatalf("third break-glass in 24h: state %s auto %v, want pending for approvers", third.State, third.AutoApproved)
	}
	if want := "you have used break-glass for prod-readonly 2 times in 24 hours, its limit, so this request goes to the approvers"; third.Notice != want {
		t.Errorf("notice %q, want %q", third.Notice, want)
	}
	e.clock.Advance(24 * time.Hour)
	if r := e.breakglass(t); !r.AutoApproved {
		t.Errorf("after 24h the limit still holds")
	}
}

func TestBreakglassReviewAndEscalation(t *testing.T) {
	e := breakglassEnv(t)
	r := e.breakglass(t)
	if want := r.CreatedAt.Add(2 * time.Hour); !r.ReviewDue.Equal(want) {
		t.Fatalf("ReviewDue %v, want %v", r.ReviewDue, want)
	}
	e.runDue(t, time.Hour) // the grant ends unreviewed
	e.runDue(t, time.Hour) // review is due now
	e.events.Want(t, r.ID, grants.EventRequested, grants.EventAutoApproved, grants.EventGranted, grants.EventRevoked, grants.EventReviewOverdue)
	got, _ := e.svc.Get(t.Context(), r.ID)
	if !got.ReviewDue.IsZero() {
		t.Errorf("escalated once, but ReviewDue is still %v", got.ReviewDue)
	}
	e.runDue(t, 48*time.Hour)
	if n := count(e.events.Types(r.ID), grants.EventReviewOverdue); n != 1 {
		t.Errorf("escalated %d times, want once", n)
	}

	// Reviewed after the escalation: recorded, once, by a current approver only.
	_, err := e.svc.Acknowledge(t.Context(), r.ID, "UBOB")
	wantUserError(t, err, grants.ErrSelfApproval, "you cannot review your own break-glass access")
	_, err = e.svc.Acknowledge(t.Context(), r.ID, "UOUTSIDER")
	wantUserError(t, err, grants.ErrNotApprover, "you are not an approver of prod-readonly")
	if got, err = e.svc.Acknowledge(t.Context(), r.ID, "ULEAD1"); err != nil || got.ReviewedBy != "ULEAD1" {
		t.Fatalf("Acknowledge: %v, reviewed by %q", err, got.ReviewedBy)
	}
	_, err = e.svc.Acknowledge(t.Context(), r.ID, "ULEAD2")
	wantUserError(t, err, grants.ErrDecided, "already reviewed by ULEAD1")
}

func TestRevokeByAnOwnerIsAReview(t *testing.T) {
	e := breakglassEnv(t)
	r := e.breakglass(t)
	got, err := e.svc.Revoke(t.Context(), r.ID, "ULEAD2", "not an incident")
	if err != nil {
		t.Fatal(err)
	}
	if got.ReviewedBy != "ULEAD2" || !got.ReviewDue.IsZero() {
		t.Errorf("reviewed by %q, due %v; want ULEAD2 and no escalation", got.ReviewedBy, got.ReviewDue)
	}
	e.runDue(t, 3*time.Hour)
	if n := count(e.events.Types(r.ID), grants.EventReviewOverdue); n != 0 {
		t.Errorf("escalated a grant an owner already ended")
	}
}

func TestHumanApprovedGrantsNeedNoReview(t *testing.T) {
	e := breakglassEnv(t)
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil || !r.ReviewDue.IsZero() {
		t.Fatalf("approve: %v, ReviewDue %v", err, r.ReviewDue)
	}
	_, err = e.svc.Acknowledge(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrNotAllowed, "there is nothing to review")
}

func TestThirdParties(t *testing.T) {
	e := breakglassEnv(t)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["UVENDOR"] = rules.User{ID: "UVENDOR", Name: "vic", Email: "vic@vendor.example", IsExternal: true}
	})
	tests := []struct {
		name, user, role string
		d                time.Duration
		class            error
		wantMsg          string
	}{
		{name: "guest on a default role", user: "UGUEST", role: "prod-readonly", d: time.Hour, class: grants.ErrIneligible, wantMsg: "prod-readonly is not open to guests"},
		{name: "external on a default role", user: "UVENDOR", role: "prod-readonly", d: time.Hour, class: grants.ErrIneligible, wantMsg: "prod-readonly is not open to guests"},
		{name: "guest over the guest limit", user: "UGUEST", role: "vendor-support", d: time.Hour, class: grants.ErrIneligible, wantMsg: "guests may hold vendor-support for at most 30m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: tt.user, Role: tt.role, Duration: tt.d, Reason: "vendor ticket 1234 follow-up"})
			wantUserError(t, err, tt.class, tt.wantMsg)
		})
	}
	// Opted in: allowed, never auto-approved, two approvers.
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UVENDOR", Role: "vendor-support", Duration: 30 * time.Minute, Reason: "vendor ticket 1234 follow-up"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != grants.Pending || r.AutoApproved || r.ApprovalsRequired != 2 {
		t.Fatalf("third-party request: state %s auto %v approvals %d; want pending, human, 2", r.State, r.AutoApproved, r.ApprovalsRequired)
	}
	if r, _ = e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); r.State != grants.Pending {
		t.Fatalf("granted after one approval: %s", r.State)
	}
	if r, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil || r.State != grants.Active {
		t.Fatalf("after two approvals: %v, %s", err, r.State)
	}
}

func count(types []grants.EventType, want grants.EventType) int {
	n := 0
	for _, t := range types {
		if t == want {
			n++
		}
	}
	return n
}

func TestRequestRateLimitPerPerson(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		if _, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"}); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	wantUserError(t, err, grants.ErrRateLimited, "you have filed 20 requests in the last hour, the limit")
	if _, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"}); err != nil {
		t.Errorf("another person was limited too: %v", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"}); err != nil {
		t.Errorf("an hour later the limit still holds: %v", err)
	}
}

// TestNoGrantBeforeAReplicaHasTheRecord: when the store cannot get a
// replica to acknowledge the granting record, AWS is not called; the
// scheduler issues the access once it can.
func TestNoGrantBeforeAReplicaHasTheRecord(t *testing.T) {
	e := newEnv(t)
	e.store.mu.Lock()
	e.store.syncErr = errors.New("no replica acknowledged JIT-… within 1s")
	e.store.mu.Unlock()
	r := e.request(t, "UALICE", "prod-readonly")
	r, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	if err == nil || !strings.Contains(err.Error(), "replicate") {
		t.Fatalf("Approve = %v, want the replication error", err)
	}
	if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Granting {
		t.Fatalf("state %s, want granting (to be finished)", got.State)
	}
	if calls, _, _ := e.backend.counts(); calls != 0 {
		t.Fatalf("%d Grant calls before the record was replicated", calls)
	}
	e.store.mu.Lock()
	e.store.syncErr = nil
	e.store.mu.Unlock()
	e.runDue(t, time.Minute) // the lease lapses; the scheduler finishes the job
	if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Active {
		t.Errorf("state %s after the replica is back, want active", got.State)
	}
	if calls, _, _ := e.backend.counts(); calls != 1 {
		t.Errorf("%d Grant calls, want exactly 1", calls)
	}
}
