package grants_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// timingCatalog has a role with reminders, escalation, a short lead time
// and requests for others.
const timingCatalog = `
defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email.split("@")[0]'
    approvers: [UAPPROVER1, "@platform-leads"]
    eligible: '"sre" in user.groups'
    max_lead_time: 2d
    remind_after: 10m
    escalate_after: 20m
    escalation_approvers: [UESC]
    request_for_others: 'user.email.endsWith("@example.com") && grantee.email.endsWith("@example.com")'
  prod-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-readonly
    approvers: [UAPPROVER1]
    eligible: 'user.email.endsWith("@example.com") && request.start.getHours() >= 8'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
`

func newTimingEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.catalog = parseCatalog(t, timingCatalog)
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users["UAPPROVER1"]
		u.ID, u.Name, u.Email = "UESC", "esc", "esc@example.com"
		d.users["UESC"] = u
	})
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	return e
}

func (e *env) requestAt(t *testing.T, user, role string, start time.Time) *grants.Request {
	t.Helper()
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: user, Role: role, Duration: time.Hour, Reason: "database maintenance window", Start: start})
	if err != nil {
		t.Fatalf("request %s by %s from %s: %v", role, user, start, err)
	}
	return r
}

func TestScheduledWindowIsIssuedAtItsStart(t *testing.T) {
	e := newTimingEnv(t)
	start := e.clock.Now().Add(3 * time.Hour)
	r := e.requestAt(t, "UALICE", "prod-admin", start)
	if r.Deadline != start {
		t.Errorf("deadline = %s, want the start %s", r.Deadline, start)
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r.ID); got.State != grants.Scheduled {
		t.Fatalf("approved ahead: state = %s, want scheduled", got.State)
	}
	e.runDue(t, 2*time.Hour+59*time.Minute)
	if calls, _, _ := e.backend.counts(); calls != 0 || e.get(t, r.ID).State != grants.Scheduled {
		t.Fatalf("before the start: %d grant calls, state %s", calls, e.get(t, r.ID).State)
	}
	// Another process issues it: nothing of the approving one is needed.
	other := e.serviceOn(t, e.store, e.events, e.backend)
	e.clock.Advance(time.Minute)
	if _, err := other.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Active || !got.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("at the start: state %s, expires %s; want active until %s", got.State, got.ExpiresAt, start.Add(time.Hour))
	}
	e.runDue(t, time.Hour)
	if got := e.get(t, r.ID); got.State != grants.Revoked {
		t.Errorf("at the end of the window: state %s, want revoked", got.State)
	}
}

func TestScheduledWindowIssuedLateStillEndsOnTime(t *testing.T) {
	e := newTimingEnv(t)
	start := e.clock.Now().Add(time.Hour)
	r := e.requestAt(t, "UALICE", "prod-admin", start)
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, time.Hour+10*time.Minute) // jitbot was down at the start
	if got := e.get(t, r.ID); got.State != grants.Active || !got.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("issued late: state %s, expires %s; want active until %s", got.State, got.ExpiresAt, start.Add(time.Hour))
	}

	// A window that passed entirely while jitbot was down is not issued.
	r2 := e.requestAt(t, "UALICE", "prod-admin", e.clock.Now().Add(time.Hour))
	if _, err := e.svc.Approve(t.Context(), r2.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 3*time.Hour)
	if got := e.get(t, r2.ID); got.State != grants.Failed {
		t.Errorf("window long past: state %s (%s), want failed", got.State, got.Failure)
	}
}

func TestScheduledWindowUnapprovedIsCancelledAtItsStart(t *testing.T) {
	e := newTimingEnv(t)
	r := e.requestAt(t, "UALICE", "prod-admin", e.clock.Now().Add(2*time.Hour))
	e.runDue(t, time.Hour) // past request_ttl: a window waits for its start
	if got := e.get(t, r.ID); got.State != grants.Pending {
		t.Fatalf("after request_ttl: %s, want pending until the start", got.State)
	}
	e.runDue(t, time.Hour)
	if got := e.get(t, r.ID); got.State != grants.TimedOut {
		t.Fatalf("at the start: %s, want timed_out", got.State)
	}
	_, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrDecided, "timed out")
}

func TestScheduledWindowCancelledBeforeItsStart(t *testing.T) {
	e := newTimingEnv(t)
	r := e.requestAt(t, "UALICE", "prod-admin", e.clock.Now().Add(2*time.Hour))
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Revoke(t.Context(), r.ID, "UOUTSIDER", "")
	wantUserError(t, err, grants.ErrNotApprover, "cannot cancel")
	got, err := e.svc.Revoke(t.Context(), r.ID, "UALICE", "")
	if err != nil || got.State != grants.Cancelled {
		t.Fatalf("requester cancels: %v, state %v", err, got)
	}
	e.runDue(t, 3*time.Hour)
	if calls, _, _ := e.backend.counts(); calls != 0 {
		t.Errorf("a cancelled window was issued: %d grant calls", calls)
	}
	if types := e.events.Types(r.ID); !slices.Contains(types, grants.EventCancelled) {
		t.Errorf("events = %v, want cancelled", types)
	}
}

func TestScheduledWindowRequesterNoLongerEligibleAtStart(t *testing.T) {
	e := newTimingEnv(t)
	r := e.requestAt(t, "UALICE", "prod-admin", e.clock.Now().Add(time.Hour))
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users["UALICE"]
		u.Groups = nil
		d.users["UALICE"] = u
	})
	e.runDue(t, time.Hour)
	if got := e.get(t, r.ID); got.State != grants.Failed {
		t.Errorf("state %s, want failed: the requester left the eligible group before the start", got.State)
	}
	if calls, _, _ := e.backend.counts(); calls != 0 {
		t.Errorf("%d grant calls, want none", calls)
	}
}

func TestScheduledStartBounds(t *testing.T) {
	e := newTimingEnv(t)
	now := e.clock.Now()
	for _, tc := range []struct {
		start time.Time
		msg   string
	}{
		{now.Add(-time.Hour), "in the past"},
		{now.Add(49 * time.Hour), "max_lead_time"},
	} {
		_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Reason: "database maintenance window", Start: tc.start})
		wantUserError(t, err, grants.ErrInvalidInput, tc.msg)
	}
	// request.start is what the rule sees: prod-readonly admits windows
	// from 08:00 on only, and the clock reads 10:00.
	_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Reason: "database maintenance window", Start: now.Add(18 * time.Hour)})
	wantUserError(t, err, grants.ErrIneligible, "")
	if r := e.requestAt(t, "UALICE", "prod-readonly", now.Add(23*time.Hour)); r.Start.IsZero() {
		t.Error("a window at 09:00 was not recorded as one")
	}
	// A start up to a minute ago is now: an ordinary request.
	if r := e.requestAt(t, "UALICE", "prod-admin", now.Add(-30*time.Second)); !r.Start.IsZero() || r.Deadline != now.Add(30*time.Minute) {
		t.Errorf("start 30s ago: start %s, deadline %s; want an ordinary request", r.Start, r.Deadline)
	}
}

func TestRemindersAndEscalationHappenOnceAcrossReplicas(t *testing.T) {
	e := newTimingEnv(t)
	other := e.serviceOn(t, e.store, e.events, e.backend)
	r := e.request(t, "UALICE", "prod-admin")
	_, err := e.svc.Approve(t.Context(), r.ID, "UESC")
	wantUserError(t, err, grants.ErrNotApprover, "")
	count := func(typ grants.EventType) int {
		n := 0
		for _, got := range e.events.Types(r.ID) {
			if got == typ {
				n++
			}
		}
		return n
	}
	for range 5 {
		e.clock.Advance(5 * time.Minute)
		for _, svc := range []*grants.Service{e.svc, other} {
			if _, err := svc.RunDue(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.get(t, r.ID); got.State != grants.Pending {
			t.Fatalf("state %s, want still pending", got.State)
		}
	}
	if count(grants.EventReminded) != 1 || count(grants.EventEscalated) != 1 {
		t.Fatalf("after 25m: reminded %d, escalated %d; want 1 and 1 (events %v)", count(grants.EventReminded), count(grants.EventEscalated), e.events.Types(r.ID))
	}
	approvers, err := e.svc.Approvers(t.Context(), e.get(t, r.ID))
	if err != nil || !slices.Contains(approvers, "UESC") {
		t.Fatalf("approvers after escalation = %v, %v; want UESC among them", approvers, err)
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "UESC"); err != nil {
		t.Fatalf("escalation approver approves: %v", err)
	}
	if got := e.get(t, r.ID); got.State != grants.Active {
		t.Errorf("state %s, want active", got.State)
	}
}

func TestOnBehalfRequest(t *testing.T) {
	e := newTimingEnv(t)
	in := grants.RequestInput{UserID: "ULEAD1", For: "UALICE", Role: "prod-admin", Duration: time.Hour, Reason: "alice is on call for INC-42"}
	r, err := e.svc.Request(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requester.ID != "UALICE" || r.FiledBy == nil || r.FiledBy.ID != "ULEAD1" || r.Principal != "alice" {
		t.Fatalf("record: requester %s, filed by %v, principal %s", r.Requester.ID, r.FiledBy, r.Principal)
	}
	// Both are approvers of the role (@platform-leads), and neither may.
	for _, who := range []string{"ULEAD1", "UALICE"} {
		_, err := e.svc.Approve(t.Context(), r.ID, who)
		wantUserError(t, err, grants.ErrSelfApproval, "")
	}
	asked, err := e.svc.Approvers(t.Context(), r)
	if err != nil || slices.Contains(asked, "ULEAD1") || slices.Contains(asked, "UALICE") {
		t.Errorf("asked %v (%v): neither the filer nor the grantee may be asked", asked, err)
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r.ID); got.State != grants.Active {
		t.Fatalf("state %s, want active", got.State)
	}
	if types := e.events.Types(r.ID); !slices.Contains(types, grants.EventRequested) {
		t.Errorf("events %v", types)
	}
}

func TestOnBehalfRefusals(t *testing.T) {
	e := newTimingEnv(t)
	for _, tc := range []struct {
		name, filer, grantee, role string
		class                      error
		msg                        string
	}{
		{"role takes none", "ULEAD1", "UALICE", "prod-readonly", grants.ErrNotAllowed, "request_for_others"},
		{"rule refuses the grantee", "ULEAD1", "UOUTSIDER", "prod-admin", grants.ErrNotAllowed, "does not let you file for eve"},
		{"grantee not eligible", "ULEAD1", "UAPPROVER1", "prod-admin", grants.ErrIneligible, "carol is not eligible for prod-admin themselves"},
		{"guest filer", "UGUEST", "UALICE", "prod-admin", grants.ErrNotAllowed, "full members"},
		{"rule refuses the filer", "UOUTSIDER", "UALICE", "prod-admin", grants.ErrNotAllowed, "does not let you"},
		{"deactivated grantee", "ULEAD1", "UGONE", "prod-admin", grants.ErrIneligible, "active Slack account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: tc.filer, For: tc.grantee, Role: tc.role, Reason: "on call for INC-42 tonight"})
			wantUserError(t, err, tc.class, tc.msg)
		})
	}
	// On behalf is never break-glass: bob is on call, with an incident.
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "ULEAD1", For: "UBOB", Role: "prod-admin", Incident: "INC-42", Reason: "bob is on call for INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	if r.AutoApproved || r.State != grants.Pending {
		t.Errorf("filed for an on-call engineer: state %s, auto %v; want pending", r.State, r.AutoApproved)
	}
}

// TestGroupChangedCoversEscalationAndForOthers: the groups named as
// escalation approvers or in request_for_others decide who approves and
// who may file for whom: their changes are audited like the approvers'.
func TestGroupChangedCoversEscalationAndForOthers(t *testing.T) {
	e := newEnv(t)
	e.catalog = parseCatalog(t, `
roles:
  db:
    backend: aws_iam_group
    group: jit-db
    iam_user: 'user.email.split("@")[0]'
    approvers: [UAPPROVER1]
    eligible: 'true'
    escalate_after: 10m
    escalation_approvers: ["@dba-managers"]
    request_for_others: '"incident-commanders" in user.groups'
`)
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	for _, handle := range []string{"dba-managers", "incident-commanders"} {
		if !e.svc.GroupChanged(t.Context(), handle, []string{"UEVE"}, nil) {
			t.Errorf("a change of @%s was not audited", handle)
		}
	}
}
