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

// Attacks on multi-step approval (a role's approval_steps) by a hostile
// insider: someone with a Slack account who approves a step that is not
// theirs, or two steps, or their own request; guests and leavers in an
// approving group; two replicas racing at a step or across its
// boundary; whoever edits the catalog while requests wait; and someone
// who can write to Redis without jitbot's signing key (so who can only
// write back older signed versions of a record).

// attackStepsCatalog: db is approved by one owner, then by one person of
// @security, with escalation to UESC1/UESC2 and filing for others by
// leads; db-pairs needs two at each step; db-bg is db with break-glass;
// vendor takes guests; ci takes workloads. "@db-owners" is an empty group
// the tests fill with guests and leavers.
const attackStepsCatalog = `
workload_issuers:
  github:
    issuer: https://token.actions.githubusercontent.com
    audience: https://jitbot.example.com
defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  db:
    backend: aws_iam_group
    group: jit-db
    iam_user: 'user.email.split("@")[0]'
    eligible: '"sre" in user.groups'
    approval_steps:
      - approvers: [UAPPROVER1, ULEAD1, ULEAD2, "@db-owners"]
      - approvers: ["@security"]
    max_lead_time: 2d
    escalate_after: 20m
    escalation_approvers: [UESC1, UESC2]
    request_for_others: '"leads" in user.groups'
  db-pairs:
    backend: aws_iam_group
    group: jit-db-pairs
    iam_user: 'user.email.split("@")[0]'
    eligible: '"sre" in user.groups'
    approval_steps:
      - approvers: [UAPPROVER1, ULEAD1, ULEAD2]
        approvals_required: 2
      - approvers: ["@security"]
        approvals_required: 2
  db-bg:
    backend: aws_iam_group
    group: jit-db-bg
    iam_user: 'user.email.split("@")[0]'
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
    approval_steps:
      - approvers: [UAPPROVER1, ULEAD1]
      - approvers: ["@security"]
  vendor:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/vendor
    eligible: 'true'
    allow_guests: true
    guest_max_duration: 1h
    approval_steps:
      - approvers: [UAPPROVER1, ULEAD1]
      - approvers: ["@security"]
  ci:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/ci
    eligible: 'true'
    approval_steps:
      - approvers: [UAPPROVER1, ULEAD1]
      - approvers: ["@security"]
    workloads:
      eligible: 'workload.repository.startsWith("acme/")'
`

// newAttackStepsEnv is newEnv on attackStepsCatalog, with USEC1 and USEC2
// in @security, the escalation approvers UESC1 and UESC2, and dan
// (ULEAD1) among the leads who may file for others.
func newAttackStepsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.catalog = parseCatalog(t, attackStepsCatalog)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["USEC1"] = rules.User{ID: "USEC1", Name: "sam", Email: "sam@example.com"}
		d.users["USEC2"] = rules.User{ID: "USEC2", Name: "sue", Email: "sue@example.com"}
		d.users["UESC1"] = rules.User{ID: "UESC1", Name: "esc1", Email: "esc1@example.com"}
		d.users["UESC2"] = rules.User{ID: "UESC2", Name: "esc2", Email: "esc2@example.com"}
		d.groups["security"] = []string{"USEC1", "USEC2"}
		d.groups["db-owners"] = nil
		lead := d.users["ULEAD1"]
		lead.Groups = []string{"leads"}
		d.users["ULEAD1"] = lead
	})
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	return e
}

// stepsOK checks the invariant of every stepped record: each approval
// was given at a step whose approvers (in catalog) list its approver, by
// nobody twice and never by the requester or who filed it; a record past
// pending has every step's count.
func stepsOK(t *testing.T, r *grants.Request, catalog *rules.Catalog, groups map[string][]string) {
	t.Helper()
	role, _ := catalog.Role(r.Role)
	seen := map[string]bool{}
	for _, a := range r.Approvals {
		if seen[a.Approver] {
			t.Errorf("%s: %s approved twice: %+v", r.ID, a.Approver, r.Approvals)
		}
		seen[a.Approver] = true
		if a.Approver == r.Requester.ID || (r.FiledBy != nil && a.Approver == r.FiledBy.ID) {
			t.Errorf("%s: approved by its requester or filer %s", r.ID, a.Approver)
		}
		list := role.StepApprovers(r.Account, a.Step)
		in := slices.Contains(list, a.Approver)
		for _, h := range rules.GroupHandles(list) {
			in = in || slices.Contains(groups[h], a.Approver)
		}
		if !in && !(r.Escalated && slices.Contains(role.EscalationApprovers, a.Approver)) {
			t.Errorf("%s: %s's approval counts at step %d, whose approvers are %v", r.ID, a.Approver, a.Step+1, list)
		}
	}
	if r.State != grants.Pending && !r.AutoApproved && r.State != grants.Denied && r.State != grants.Cancelled && r.State != grants.TimedOut {
		for i, s := range role.ApprovalSteps {
			n := 0
			for _, a := range r.Approvals {
				if a.Step == i {
					n++
				}
			}
			if n < s.ApprovalsRequired {
				t.Errorf("%s is %s with %d approval(s) at step %d, which needs %d", r.ID, r.State, n, i+1, s.ApprovalsRequired)
			}
		}
	}
}

// TestAttackStepsOutOfTurn: an approver of one step cannot act at
// another, early or late, by any path: the Approve button, the Deny
// button, /jit revoke on the pending request, the Acknowledge button, and
// App Home / /jit list do not offer it.
func TestAttackStepsOutOfTurn(t *testing.T) {
	e := newAttackStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	list := func(who string) grants.Listing {
		t.Helper()
		l, err := e.svc.List(t.Context(), who)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	// Early: security at step 1.
	_, err := e.svc.Approve(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotApprover, "it waits on step 1 of 2; you approve step 2, after it")
	_, err = e.svc.Deny(t.Context(), r.ID, "USEC1", "not yet my turn, but no")
	wantUserError(t, err, grants.ErrNotApprover, "you cannot deny")
	_, err = e.svc.Revoke(t.Context(), r.ID, "USEC1", "")
	wantUserError(t, err, grants.ErrNotApprover, "you cannot revoke")
	_, err = e.svc.Acknowledge(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotAllowed, "nothing to review")
	if shows(list("USEC1").Awaiting, r.ID) {
		t.Error("security is shown the request at step 1")
	}
	if !e.refusedBy(r.ID, "USEC1") {
		t.Error("security's early click is not on the record as refused")
	}

	// A current approver's /jit revoke of a pending request does not
	// decide it, nor does it count as an approval.
	_, err = e.svc.Revoke(t.Context(), r.ID, "ULEAD2", "")
	wantUserError(t, err, grants.ErrDecided, "still pending; deny it instead")
	if got := e.get(t, r.ID); got.State != grants.Pending || len(got.Approvals) != 0 {
		t.Fatalf("after security's clicks and a revoke: %s with %+v; want pending, no approval", got.State, got.Approvals)
	}

	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}

	// Late: the other owners at step 2, by every button.
	for _, who := range []string{"ULEAD1", "UAPPROVER1"} {
		_, err = e.svc.Approve(t.Context(), r.ID, who)
		if who == "UAPPROVER1" {
			wantUserError(t, err, grants.ErrNotApprover, "it is past step 1")
		} else {
			wantUserError(t, err, grants.ErrNotApprover, "it is past step 1, which you approve, and waits on step 2 of 2")
		}
		_, err = e.svc.Deny(t.Context(), r.ID, who, "changed my mind")
		wantUserError(t, err, grants.ErrNotApprover, "you cannot deny")
		if shows(list(who).Awaiting, r.ID) {
			t.Errorf("%s is shown the request at step 2", who)
		}
	}
	if !shows(list("USEC2").Awaiting, r.ID) {
		t.Error("security is not shown the request at step 2")
	}
	asked, err := e.svc.Approvers(t.Context(), e.get(t, r.ID))
	if err != nil || !slices.Equal(asked, []string{"USEC1", "USEC2"}) {
		t.Errorf("asked at step 2: %v (%v), want @security only", asked, err)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Pending || len(got.Approvals) != 1 || got.CurrentStep() != 1 {
		t.Fatalf("%s at step %d with %+v; want pending at step 2 with the owner's approval", got.State, got.CurrentStep()+1, got.Approvals)
	}
	e.wantNothingIssued(t, 0)

	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	got = e.get(t, r.ID)
	if got.State != grants.Active {
		t.Fatalf("state %s, want active", got.State)
	}
	stepsOK(t, got, e.catalog, map[string][]string{"security": {"USEC1", "USEC2"}})
	// Decided: a click now, at any step, is too late.
	_, err = e.svc.Approve(t.Context(), r.ID, "USEC2")
	wantUserError(t, err, grants.ErrDecided, "")
	_, err = e.svc.Acknowledge(t.Context(), r.ID, "USEC2")
	wantUserError(t, err, grants.ErrNotAllowed, "nothing to review")
}

// TestAttackStepsNobodyApprovesTwoSteps: someone listed at both steps (in
// the list and in the group), or an escalation approver, approves one
// step only; so does someone whose approval was dropped and who comes
// back for the next step.
func TestAttackStepsNobodyApprovesTwoSteps(t *testing.T) {
	e := newAttackStepsEnv(t)
	e.setGroupMembers("security", "USEC1", "ULEAD1")
	r := e.request(t, "UALICE", "db")
	if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrAlreadyApproved, "")
	if l, _ := e.svc.List(t.Context(), "ULEAD1"); shows(l.Awaiting, r.ID) {
		t.Error("ULEAD1, who approved step 1, is shown the request at step 2")
	}

	// db-pairs: two owners, then two of security; an owner also in
	// security approves once.
	e.setGroupMembers("security", "USEC1", "USEC2", "ULEAD2")
	p := e.request(t, "UALICE", "db-pairs")
	for _, who := range []string{"ULEAD1", "ULEAD2"} {
		if _, err := e.svc.Approve(t.Context(), p.ID, who); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Approve(t.Context(), p.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Approve(t.Context(), p.ID, "ULEAD2")
	wantUserError(t, err, grants.ErrAlreadyApproved, "")
	if got := e.get(t, p.ID); got.State != grants.Pending || got.CurrentStep() != 1 {
		t.Fatalf("db-pairs: %s at step %d; want pending at step 2", got.State, got.CurrentStep()+1)
	}
	if _, err := e.svc.Approve(t.Context(), p.ID, "USEC2"); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, p.ID)
	if got.State != grants.Active {
		t.Fatalf("db-pairs: %s, want active", got.State)
	}
	stepsOK(t, got, e.catalog, map[string][]string{"security": {"USEC1", "USEC2", "ULEAD2"}})

	// Escalated: an escalation approver approves one step, not both.
	x := e.request(t, "UALICE", "db")
	e.runDue(t, 20*time.Minute)
	if !e.get(t, x.ID).Escalated {
		t.Fatal("setup: not escalated")
	}
	if _, err := e.svc.Approve(t.Context(), x.ID, "UESC1"); err != nil {
		t.Fatal(err)
	}
	// Escalated at step 1, they are not approvers of step 2 at all.
	_, err = e.svc.Approve(t.Context(), x.ID, "UESC1")
	wantUserError(t, err, grants.ErrNotApprover, "it is past step 1, which you approve")
	if got := e.get(t, x.ID); got.State != grants.Pending || len(got.Approvals) != 1 {
		t.Fatalf("escalated: %s with %+v", got.State, got.Approvals)
	}
}

// TestAttackStepsEscalation: before escalation, an escalation approver
// decides nothing at any step; once escalated they may approve the step
// the request waited on then, and no other: two escalation approvers
// cannot complete every step between them, so a request that stalls
// past escalate_after at the owners' step still needs @security.
func TestAttackStepsEscalation(t *testing.T) {
	e := newAttackStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	for _, who := range []string{"UESC1", "UESC2"} {
		_, err := e.svc.Approve(t.Context(), r.ID, who)
		wantUserError(t, err, grants.ErrNotApprover, "")
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Approve(t.Context(), r.ID, "UESC1")
	wantUserError(t, err, grants.ErrNotApprover, "")
	e.runDue(t, 20*time.Minute)
	if !e.get(t, r.ID).Escalated {
		t.Fatal("setup: not escalated")
	}
	asked, err := e.svc.Approvers(t.Context(), e.get(t, r.ID))
	if err != nil || !slices.Equal(asked, []string{"UESC1", "UESC2", "USEC1", "USEC2"}) {
		t.Errorf("asked at step 2 after escalation: %v (%v)", asked, err)
	}
	// The owners stay out of step 2 after the escalation.
	_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD2")
	wantUserError(t, err, grants.ErrNotApprover, "")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UESC1"); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Active {
		t.Fatalf("state %s, want active", got.State)
	}
	stepsOK(t, got, e.catalog, map[string][]string{"security": {"USEC1", "USEC2"}})

	// Escalated at the owners' step: the escalation approvers fill that
	// step, not @security's.
	both := e.request(t, "UBOB", "db")
	e.runDue(t, 20*time.Minute)
	if _, err := e.svc.Approve(t.Context(), both.ID, "UESC1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Approve(t.Context(), both.ID, "UESC2")
	wantUserError(t, err, grants.ErrNotApprover, "")
	if got := e.get(t, both.ID); got.State != grants.Pending || got.CurrentStep() != 1 {
		t.Fatalf("escalated at step 1, approved there: %s at step %d; want pending at step 2", got.State, got.CurrentStep()+1)
	}
	if asked, err := e.svc.Approvers(t.Context(), e.get(t, both.ID)); err != nil || !slices.Equal(asked, []string{"USEC1", "USEC2"}) {
		t.Errorf("asked at step 2 of a request escalated at step 1: %v (%v)", asked, err)
	}
	if _, err := e.svc.Approve(t.Context(), both.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, both.ID); got.State != grants.Active {
		t.Errorf("state %s, want active", got.State)
	}
}

// TestAttackStepsRequesterAndFiler: neither the requester nor who filed
// for them approves any step, even listed at it, before or after the
// escalation; neither is asked or shown the request as awaiting them.
func TestAttackStepsRequesterAndFiler(t *testing.T) {
	e := newAttackStepsEnv(t)
	e.setGroups("UAPPROVER1", "sre")
	e.setGroupMembers("security", "USEC1", "UALICE")

	// The requester is an owner (step 1).
	own := e.request(t, "UAPPROVER1", "db")
	_, err := e.svc.Approve(t.Context(), own.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrSelfApproval, "your own request")
	if asked, _ := e.svc.Approvers(t.Context(), own); slices.Contains(asked, "UAPPROVER1") {
		t.Errorf("the requester is asked: %v", asked)
	}

	// Filed by ULEAD1 (an owner, step 1) for UALICE (in @security,
	// step 2).
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "ULEAD1", For: "UALICE", Role: "db", Duration: time.Hour, Reason: "on call for the database migration"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrSelfApproval, "your own request")
	_, err = e.svc.Approve(t.Context(), r.ID, "UALICE")
	wantUserError(t, err, grants.ErrSelfApproval, "")
	if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2"); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"UALICE", "ULEAD1"} {
		_, err = e.svc.Approve(t.Context(), r.ID, who)
		wantUserError(t, err, grants.ErrSelfApproval, "")
		l, err := e.svc.List(t.Context(), who)
		if err != nil {
			t.Fatal(err)
		}
		if shows(l.Awaiting, r.ID) || !shows(l.Mine, r.ID) {
			t.Errorf("%s's list: awaiting %v, mine %v", who, shows(l.Awaiting, r.ID), shows(l.Mine, r.ID))
		}
	}
	asked, err := e.svc.Approvers(t.Context(), e.get(t, r.ID))
	if err != nil || !slices.Equal(asked, []string{"USEC1"}) {
		t.Errorf("asked at step 2: %v (%v), want USEC1 and not the grantee", asked, err)
	}
	e.runDue(t, 20*time.Minute)
	for _, who := range []string{"UALICE", "ULEAD1"} {
		_, err = e.svc.Approve(t.Context(), r.ID, who)
		wantUserError(t, err, grants.ErrSelfApproval, "")
	}
	if got := e.get(t, r.ID); got.State != grants.Pending || len(got.Approvals) != 1 {
		t.Fatalf("%s with %+v; want pending with ULEAD2's approval only", got.State, got.Approvals)
	}
	e.wantNothingIssued(t, 0)
	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Active {
		t.Fatalf("state %s, want active", got.State)
	}
	stepsOK(t, got, e.catalog, map[string][]string{"security": {"USEC1", "UALICE"}})
}

// TestAttackStepsUntrustedApprovers: guests, deactivated accounts and
// bots in an approving group decide nothing at either step, are not asked
// and are not shown the request; an approval whose approver turns guest
// or is deactivated before the last step is dropped, and one that turns
// after a window was approved stops the window at its start.
func TestAttackStepsUntrustedApprovers(t *testing.T) {
	e := newAttackStepsEnv(t)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["UBOT"] = rules.User{ID: "UBOT", Name: "bot", IsBot: true}
	})
	e.setGroupMembers("db-owners", "UGUEST", "UGONE", "UBOT")
	e.setGroupMembers("security", "USEC1", "UGUEST", "UGONE", "UBOT")
	r := e.request(t, "UALICE", "db")
	for step := range 2 {
		for _, who := range []string{"UGUEST", "UGONE", "UBOT"} {
			_, err := e.svc.Approve(t.Context(), r.ID, who)
			wantUserError(t, err, grants.ErrNotApprover, "cannot decide requests")
			_, err = e.svc.Deny(t.Context(), r.ID, who, "no")
			wantUserError(t, err, grants.ErrNotApprover, "cannot decide requests")
			if l, err := e.svc.List(t.Context(), who); err == nil && shows(l.Awaiting, r.ID) {
				t.Errorf("step %d: %s is shown the request", step+1, who)
			}
		}
		asked, err := e.svc.Approvers(t.Context(), e.get(t, r.ID))
		if err != nil || slices.ContainsFunc(asked, func(id string) bool { return id == "UGUEST" || id == "UGONE" || id == "UBOT" }) {
			t.Errorf("step %d asks %v (%v)", step+1, asked, err)
		}
		if step == 0 {
			if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := e.get(t, r.ID); got.State != grants.Pending || len(got.Approvals) != 1 {
		t.Fatalf("%s with %+v", got.State, got.Approvals)
	}

	// The owner turns guest before security decides: back to step 1.
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users["ULEAD1"]
		u.IsGuest = true
		d.users["ULEAD1"] = u
	})
	_, err := e.svc.Approve(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotApprover, "is back at step 1 of 2")
	if got := e.get(t, r.ID); got.CurrentStep() != 0 || len(got.Approvals) != 0 {
		t.Fatalf("at step %d with %+v; want back at step 1", got.CurrentStep()+1, got.Approvals)
	}
	e.wantNothingIssued(t, 0)

	// A window approved at both steps; security's approver is
	// deactivated before the start.
	w := e.requestAt(t, "UBOB", "db", e.clock.Now().Add(time.Hour))
	for _, who := range []string{"ULEAD2", "USEC1"} {
		if _, err := e.svc.Approve(t.Context(), w.ID, who); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.get(t, w.ID); got.State != grants.Scheduled {
		t.Fatalf("window %s, want scheduled", got.State)
	}
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users["USEC1"]
		u.Deleted = true
		d.users["USEC1"] = u
	})
	e.runDue(t, time.Hour+time.Second)
	if got := e.get(t, w.ID); got.State != grants.Failed || !strings.Contains(got.Failure, "step 2 of 2 has 0 valid approval(s)") {
		t.Errorf("window at its start: %s (%q), want failed at step 2", got.State, got.Failure)
	}
	e.wantNothingIssued(t, 0)
}

// TestAttackStepsThirdPartyRequester: a guest's request of a stepped role
// needs two distinct people whatever the steps say, one at each step,
// never auto-approved, and the guest approves nothing.
func TestAttackStepsThirdPartyRequester(t *testing.T) {
	e := newAttackStepsEnv(t)
	e.setGroupMembers("security", "USEC1", "UGUEST")
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UGUEST", Role: "vendor", Duration: 30 * time.Minute, Reason: "vendor ticket 1234 follow-up"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ApprovalsRequired < 2 || len(r.Steps) != 2 || r.AutoApproved {
		t.Fatalf("guest's record: %d approvals, %d steps, auto %v", r.ApprovalsRequired, len(r.Steps), r.AutoApproved)
	}
	_, err = e.svc.Approve(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotApprover, "step 2")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r.ID); got.State != grants.Pending {
		t.Fatalf("granted to a guest after one approval: %s", got.State)
	}
	_, err = e.svc.Approve(t.Context(), r.ID, "UGUEST")
	wantUserError(t, err, grants.ErrSelfApproval, "")
	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Active || e.grantCalls() != 1 {
		t.Fatalf("%s, %d grant calls; want active, 1", got.State, e.grantCalls())
	}
	stepsOK(t, got, e.catalog, map[string][]string{"security": {"USEC1"}})
}

// TestAttackStepsTwoReplicas: two processes on one store decide the same
// requests at once. At a step that needs one approval, one click counts
// and the other is refused, never carried to the next step; at the
// boundary, a click by the next step's approver counts only if its
// process read the record at that step. Every record ends with each
// approval at a step that lists its approver, and is issued once.
func TestAttackStepsTwoReplicas(t *testing.T) {
	e := newAttackStepsEnv(t)
	a := e.serviceOn(t, e.store, e.events, e.backend)
	b := e.serviceOn(t, e.store, e.events, e.backend)
	groups := map[string][]string{"security": {"USEC1", "USEC2"}}
	const rounds = 10
	click := func(svc *grants.Service, id grants.RequestID, who string) error {
		_, err := svc.Approve(context.Background(), id, who)
		if err != nil && !errors.Is(err, grants.ErrDecided) && !errors.Is(err, grants.ErrNotApprover) && !errors.Is(err, grants.ErrAlreadyApproved) {
			t.Errorf("%s: %v", who, err)
		}
		return err
	}

	// The same step: two owners.
	for range rounds {
		r := e.request(t, "UALICE", "db")
		var wg sync.WaitGroup
		var errs [2]error
		wg.Go(func() { errs[0] = click(a, r.ID, "ULEAD1") })
		wg.Go(func() { errs[1] = click(b, r.ID, "ULEAD2") })
		wg.Wait()
		got := e.get(t, r.ID)
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Errorf("two owners at step 1: errors %v, %v; want one to count", errs[0], errs[1])
		}
		if got.State != grants.Pending || len(got.Approvals) != 1 || got.CurrentStep() != 1 {
			t.Fatalf("two owners at step 1: %s with %+v; want pending at step 2 with one owner", got.State, got.Approvals)
		}
		stepsOK(t, got, e.catalog, groups)
	}
	e.wantNothingIssued(t, 0)
	e.clock.Advance(time.Hour) // past the requests' deadlines and the rate limit

	// Across the boundary: owners and security all at once.
	issued := 0
	for range rounds {
		r := e.request(t, "UBOB", "db")
		var wg sync.WaitGroup
		for i, who := range []string{"ULEAD1", "USEC1", "ULEAD2", "USEC2"} {
			svc := []*grants.Service{a, b}[i%2]
			wg.Go(func() { click(svc, r.ID, who) })
		}
		wg.Wait()
		got := e.get(t, r.ID)
		stepsOK(t, got, e.catalog, groups)
		if got.State == grants.Active {
			issued++
		}
		if len(got.Approvals) > 2 {
			t.Errorf("%d approvals: %+v", len(got.Approvals), got.Approvals)
		}
		if got.State == grants.Pending {
			// Whoever came too early clicks again, as they would.
			for _, who := range []string{"USEC1", "USEC2"} {
				click(a, r.ID, who)
			}
			got = e.get(t, r.ID)
			if got.State != grants.Active {
				t.Fatalf("after security's second click: %s with %+v", got.State, got.Approvals)
			}
			issued++
			stepsOK(t, got, e.catalog, groups)
		}
	}
	if e.grantCalls() != issued {
		t.Errorf("%d grant calls for %d grants", e.grantCalls(), issued)
	}
	e.clock.Advance(time.Hour)

	// Two at each step (db-pairs), eight clicks at once.
	for range rounds {
		r := e.request(t, "UALICE", "db-pairs")
		var wg sync.WaitGroup
		for i, who := range []string{"ULEAD1", "USEC1", "ULEAD2", "USEC2", "UAPPROVER1", "USEC1", "ULEAD1", "USEC2"} {
			svc := []*grants.Service{a, b}[i%2]
			wg.Go(func() { click(svc, r.ID, who) })
		}
		wg.Wait()
		got := e.get(t, r.ID)
		stepsOK(t, got, e.catalog, groups)
		if n := len(got.Approvals); n > 4 || (got.State != grants.Pending && n != 4) {
			t.Errorf("db-pairs: %s with %d approvals", got.State, n)
		}
	}
}

// TestAttackStepsCatalogChange: the catalog changes while a request waits
// or a window is scheduled. Who approves is the catalog's word now; a
// record filed under other steps is not issued under these ones.
func TestAttackStepsCatalogChange(t *testing.T) {
	const dbSteps = "    approval_steps:\n      - approvers: [UAPPROVER1, ULEAD1, ULEAD2, \"@db-owners\"]\n      - approvers: [\"@security\"]\n"
	changes := []struct {
		name, with string // replaces dbSteps in the db role
	}{
		{"steps reordered", "    approval_steps:\n      - approvers: [\"@security\"]\n      - approvers: [UAPPROVER1, ULEAD1, ULEAD2, \"@db-owners\"]\n"},
		{"count of step 2 raised", strings.Replace(dbSteps, "[\"@security\"]\n", "[\"@security\"]\n        approvals_required: 2\n", 1)},
		{"count of step 1 raised", strings.Replace(dbSteps, "\"@db-owners\"]\n", "\"@db-owners\"]\n        approvals_required: 2\n", 1)},
		{"step 1 approvers changed", strings.Replace(dbSteps, "UAPPROVER1, ULEAD1, ULEAD2", "UAPPROVER1", 1)},
		{"a third step", dbSteps + "      - approvers: [UESC1]\n"},
		{"steps removed: plain approvers", "    approvers: [UAPPROVER1, ULEAD1, ULEAD2, \"@security\"]\n"},
		{"steps removed: plain approvers, two required", "    approvers: [UAPPROVER1, ULEAD1, ULEAD2, \"@security\"]\n    approvals_required: 2\n"},
	}
	catalogWith := func(t *testing.T, with string) *rules.Catalog {
		src := strings.Replace(attackStepsCatalog, dbSteps, with, 1)
		if src == attackStepsCatalog && with != dbSteps {
			t.Fatal("the change changed nothing")
		}
		return parseCatalog(t, src)
	}
	// Each change, made after step 1's approval (pending) or after both
	// (a scheduled window): whatever anyone clicks then, nothing is
	// issued unless its approvals meet the catalog in force, step by
	// step.
	for _, ch := range changes {
		t.Run("pending: "+ch.name, func(t *testing.T) {
			e := newAttackStepsEnv(t)
			r := e.request(t, "UALICE", "db")
			if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
				t.Fatal(err)
			}
			cat := catalogWith(t, ch.with)
			e.svc.SetCatalog(cat)
			for _, who := range []string{"USEC1", "UAPPROVER1", "ULEAD2", "USEC2", "UESC1"} {
				e.svc.Approve(t.Context(), r.ID, who) //nolint:errcheck // refusals are fine
			}
			got := e.get(t, r.ID)
			if got.State == grants.Active || e.grantCalls() != 0 {
				// Only on approvals that meet the catalog in force.
				stepsOK(t, got, cat, map[string][]string{"security": {"USEC1", "USEC2"}})
				if role, _ := cat.Role("db"); len(role.ApprovalSteps) != len(got.Steps) {
					t.Errorf("issued under a changed catalog: %s with %+v (%q)", got.State, got.Approvals, got.Failure)
				}
			}
		})
		t.Run("scheduled: "+ch.name, func(t *testing.T) {
			e := newAttackStepsEnv(t)
			w := e.requestAt(t, "UALICE", "db", e.clock.Now().Add(time.Hour))
			for _, who := range []string{"ULEAD1", "USEC1"} {
				if _, err := e.svc.Approve(t.Context(), w.ID, who); err != nil {
					t.Fatal(err)
				}
			}
			e.svc.SetCatalog(catalogWith(t, ch.with))
			e.runDue(t, time.Hour+time.Second)
			got := e.get(t, w.ID)
			if ch.name == "step 1 approvers changed" {
				// ULEAD1 no longer approves step 1.
				if got.State != grants.Failed || !strings.Contains(got.Failure, "step 1 of 2 has 0 valid") {
					t.Errorf("%s (%q), want failed at step 1", got.State, got.Failure)
				}
			} else if got.State != grants.Failed || e.grantCalls() != 0 {
				t.Errorf("window issued under a changed catalog: %s (%q)", got.State, got.Failure)
			}
		})
	}

	// The other way: a request filed when the role had plain approvers,
	// approved once the role has steps, by its first step only.
	t.Run("pending, plain to steps", func(t *testing.T) {
		e := newAttackStepsEnv(t)
		plain := "    approvers: [UAPPROVER1, ULEAD1, ULEAD2, \"@security\"]\n"
		e.svc.SetCatalog(catalogWith(t, plain))
		r := e.request(t, "UALICE", "db")
		if len(r.Steps) != 0 {
			t.Fatalf("setup: steps %+v", r.Steps)
		}
		e.svc.SetCatalog(catalogWith(t, dbSteps))
		_, err := e.svc.Approve(t.Context(), r.ID, "USEC1")
		wantUserError(t, err, grants.ErrNotApprover, "")
		_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		wantUserError(t, err, grants.ErrGrantFailed, "its approval steps (1) are not the role's (2)")
		got := e.get(t, r.ID)
		if got.State == grants.Active || e.grantCalls() != 0 {
			t.Errorf("a plain request issued on the first step of the role's steps: %s", got.State)
		}
		if !strings.Contains(got.Failure, "approval steps (1) are not the role's (2)") {
			t.Errorf("failure %q", got.Failure)
		}
	})
}

// TestAttackStepsBreakGlass: break-glass on a stepped role is granted at
// once (by design) and reviewed afterwards by an approver of any step,
// never by the requester, a guest in an approving group or someone of no
// step. The grant is checked against the role's steps at issue too.
func TestAttackStepsBreakGlass(t *testing.T) {
	e := newAttackStepsEnv(t)
	e.setGroupMembers("security", "USEC1", "UGUEST")
	bg, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "db-bg", Duration: time.Hour, Reason: "database on fire", Incident: "INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	if !bg.AutoApproved || bg.State != grants.Active || len(bg.Steps) != 2 {
		t.Fatalf("break-glass: %s, auto %v, steps %d", bg.State, bg.AutoApproved, len(bg.Steps))
	}
	_, err = e.svc.Acknowledge(t.Context(), bg.ID, "UBOB")
	wantUserError(t, err, grants.ErrSelfApproval, "")
	for _, who := range []string{"UGUEST", "ULEAD2", "UESC1"} {
		_, err = e.svc.Acknowledge(t.Context(), bg.ID, who)
		wantUserError(t, err, grants.ErrNotApprover, "")
	}
	// A break-glass grant is not approved by clicks after the fact.
	_, err = e.svc.Approve(t.Context(), bg.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrDecided, "automatically")
	if _, err := e.svc.Acknowledge(t.Context(), bg.ID, "USEC1"); err != nil {
		t.Errorf("security reviews the break-glass grant: %v", err)
	}
	_, err = e.svc.Acknowledge(t.Context(), bg.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrDecided, "already reviewed")

	// Filed for someone else, the same request goes to the steps.
	e.setGroups("ULEAD1", "leads")
	fr, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "db-bg", Duration: time.Hour, Reason: "database on fire", Incident: "INC-42", Start: e.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if fr.State != grants.Pending || fr.AutoApproved {
		t.Errorf("break-glass for a later window: %s, auto %v; want pending for the steps", fr.State, fr.AutoApproved)
	}
}

// TestAttackStepsExtend: an extension of a stepped grant is a request of
// its own through every step; the requester approves none of it, and an
// approver of the second step cannot go first.
func TestAttackStepsExtend(t *testing.T) {
	e := newAttackStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	for _, who := range []string{"ULEAD1", "USEC1"} {
		if _, err := e.svc.Approve(t.Context(), r.ID, who); err != nil {
			t.Fatal(err)
		}
	}
	x, err := e.svc.Extend(t.Context(), r.ID, "UALICE", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if x.State != grants.Pending || len(x.Steps) != 2 || x.CurrentStep() != 0 {
		t.Fatalf("extension: %s, steps %d, at step %d", x.State, len(x.Steps), x.CurrentStep()+1)
	}
	_, err = e.svc.Approve(t.Context(), x.ID, "USEC2")
	wantUserError(t, err, grants.ErrNotApprover, "step 2, after it")
	_, err = e.svc.Approve(t.Context(), x.ID, "UALICE")
	wantUserError(t, err, grants.ErrSelfApproval, "")
	if _, err := e.svc.Approve(t.Context(), x.ID, "ULEAD2"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, x.ID); got.State != grants.Pending || e.grantCalls() != 1 {
		t.Fatalf("extension after step 1: %s, %d grant calls", got.State, e.grantCalls())
	}
	if _, err := e.svc.Approve(t.Context(), x.ID, "USEC2"); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, x.ID)
	if got.State != grants.Active {
		t.Fatalf("extension: %s, want active", got.State)
	}
	stepsOK(t, got, e.catalog, map[string][]string{"security": {"USEC1", "USEC2"}})
}

// TestAttackStepsWorkload: a workload's request of a stepped role goes
// through every step; who triggered its run approves none of them.
func TestAttackStepsWorkload(t *testing.T) {
	e := newAttackStepsEnv(t)
	e.setGroupMembers("security", "USEC1", "ULEAD1")
	r := e.mustRequestAs(t, job("refs/heads/feature"), "ci")
	if r.State != grants.Pending || len(r.Steps) != 2 {
		t.Fatalf("workload request: %s with %d steps", r.State, len(r.Steps))
	}
	// dan (ULEAD1) triggered the run, and approves both steps by the
	// catalog.
	_, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrSelfApproval, "you triggered this run")
	_, err = e.svc.Approve(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotApprover, "")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrSelfApproval, "you triggered this run")
	if asked, _ := e.svc.Approvers(t.Context(), e.get(t, r.ID)); slices.Contains(asked, "ULEAD1") {
		t.Errorf("the run's actor is asked at step 2: %v", asked)
	}
	e.wantNothingIssued(t, 0)
	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r.ID); got.State != grants.Active {
		t.Fatalf("workload: %s, want active", got.State)
	}
}

// TestAttackStepsReplayedVersions: someone who can write to Redis writes
// back older signed versions of a stepped record. None issues access on
// an approval that no longer counts, nor on steps the role no longer has.
func TestAttackStepsReplayedVersions(t *testing.T) {
	replay := func(t *testing.T, e *env, old *grants.Request) {
		t.Helper()
		if _, err := e.store.Update(t.Context(), old.ID, func(r *grants.Request) error {
			*r = *old
			r.Approvals = slices.Clone(old.Approvals)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("from before a dropped approval", func(t *testing.T) {
		e := newAttackStepsEnv(t)
		r := e.request(t, "UALICE", "db")
		if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
			t.Fatal(err)
		}
		before := e.get(t, r.ID) // at step 2, with ULEAD1's approval
		e.dir.edit(func(d *fakeDirectory) {
			u := d.users["ULEAD1"]
			u.Deleted = true
			d.users["ULEAD1"] = u
		})
		_, err := e.svc.Approve(t.Context(), r.ID, "USEC1")
		wantUserError(t, err, grants.ErrNotApprover, "back at step 1")
		replay(t, e, before)
		for _, who := range []string{"USEC1", "USEC2"} {
			e.svc.Approve(t.Context(), r.ID, who) //nolint:errcheck // refusals are fine
		}
		got := e.get(t, r.ID)
		if got.State != grants.Pending || got.CurrentStep() != 0 {
			t.Errorf("replayed: %s at step %d with %+v; want back at step 1", got.State, got.CurrentStep()+1, got.Approvals)
		}
		e.wantNothingIssued(t, 0)
	})

	t.Run("granting, after security's approver left", func(t *testing.T) {
		e := newAttackStepsEnv(t)
		r := e.request(t, "UALICE", "db")
		for _, who := range []string{"ULEAD1", "USEC1"} {
			if _, err := e.svc.Approve(t.Context(), r.ID, who); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Revoke(t.Context(), r.ID, "UALICE", "done"); err != nil {
			t.Fatal(err)
		}
		// The granting version, rebuilt as it was signed.
		old := e.get(t, r.ID)
		old.State, old.LeaseUntil = grants.Granting, e.clock.Now()
		old.GrantedAt, old.ExpiresAt, old.RevokedAt, old.RevokedBy, old.RevokeReason = time.Time{}, time.Time{}, time.Time{}, "", ""
		old.Journal = nil
		e.setGroupMembers("security", "USEC2")
		e.clock.Advance(time.Minute)
		replay(t, e, old)
		e.runDue(t, 31*time.Second)
		if got := e.get(t, r.ID); got.State == grants.Active || !strings.Contains(got.Failure, "step 2 of 2 has 0 valid") {
			t.Errorf("replayed granting version: %s (%q), want failed at step 2", got.State, got.Failure)
		}
		if e.grantCalls() != 1 {
			t.Errorf("%d grant calls, want 1 (the first)", e.grantCalls())
		}
	})

	t.Run("pending at step 2, steps changed since", func(t *testing.T) {
		e := newAttackStepsEnv(t)
		r := e.request(t, "UALICE", "db")
		if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
			t.Fatal(err)
		}
		old := e.get(t, r.ID)
		if _, err := e.svc.Deny(t.Context(), r.ID, "USEC1", "no"); err != nil {
			t.Fatal(err)
		}
		e.svc.SetCatalog(parseCatalog(t, strings.Replace(attackStepsCatalog, "      - approvers: [\"@security\"]\n    max_lead_time", "      - approvers: [\"@security\"]\n        approvals_required: 2\n    max_lead_time", 1)))
		replay(t, e, old)
		for _, who := range []string{"USEC2", "USEC1"} {
			e.svc.Approve(t.Context(), r.ID, who) //nolint:errcheck // refusals are fine
		}
		if got := e.get(t, r.ID); got.State == grants.Active || e.grantCalls() != 0 {
			t.Errorf("replayed pending version under changed steps: %s", got.State)
		}
	})
}
