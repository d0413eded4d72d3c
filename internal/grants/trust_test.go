package grants_test

import (
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// TestUntrustedApproverRefused: an approver by the catalog (a member of
// @platform-leads) who is not a full member of the workspace — a guest,
// a Slack Connect user, a deactivated account, a bot — can neither
// approve nor deny. The refusal is an event and nothing changes.
func TestUntrustedApproverRefused(t *testing.T) {
	accounts := []struct {
		name string
		u    rules.User
		why  string
	}{
		{"guest", rules.User{ID: "UINSIDE", Email: "g@example.com", IsGuest: true}, "guests cannot decide"},
		{"external", rules.User{ID: "UINSIDE", Email: "v@vendor.example", IsExternal: true}, "people from other organisations cannot decide"},
		{"deactivated", rules.User{ID: "UINSIDE", Email: "d@example.com", Deleted: true}, "deactivated accounts cannot decide"},
		{"bot", rules.User{ID: "UINSIDE", IsBot: true}, "bots cannot decide"},
	}
	for _, a := range accounts {
		for _, verb := range []string{"approve", "deny"} {
			t.Run(a.name+" "+verb, func(t *testing.T) {
				e := newEnv(t)
				e.dir.edit(func(d *fakeDirectory) {
					d.users["UINSIDE"] = a.u
					d.groups["platform-leads"] = append(d.groups["platform-leads"], "UINSIDE")
				})
				r := e.request(t, "UBOB", "prod-readonly")
				var err error
				if verb == "approve" {
					_, err = e.svc.Approve(t.Context(), r.ID, "UINSIDE")
				} else {
					_, err = e.svc.Deny(t.Context(), r.ID, "UINSIDE", "no")
				}
				wantUserError(t, err, grants.ErrNotApprover, "you cannot "+verb+" "+string(r.ID)+": "+a.why)
				if !e.refusedBy(r.ID, "UINSIDE") {
					t.Errorf("the refusal is not an event: %v", e.events.Types(r.ID))
				}
				if after, _ := e.svc.Get(t.Context(), r.ID); after.State != grants.Pending || len(after.Approvals) != 0 {
					t.Errorf("record changed: %+v", after)
				}
				e.wantNothingIssued(t, 0)
			})
		}
	}
}

// TestEarlierApprovalRevalidated: of a role that needs two approvals, the
// first approver leaves the approving group (or becomes a guest) before
// the second approves. The first approval no longer counts: it is dropped,
// as an event, and the request waits for another approver; nothing is
// issued on the word of someone who may no longer give it.
func TestEarlierApprovalRevalidated(t *testing.T) {
	changes := map[string]func(d *fakeDirectory){
		"left the group": func(d *fakeDirectory) { d.groups["platform-leads"] = []string{"ULEAD2", "UALICE"} },
		"became a guest": func(d *fakeDirectory) {
			u := d.users["ULEAD1"]
			u.IsGuest = true
			d.users["ULEAD1"] = u
		},
		"deactivated": func(d *fakeDirectory) {
			u := d.users["ULEAD1"]
			u.Deleted = true
			d.users["ULEAD1"] = u
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			r := e.request(t, "UBOB", "prod-admin")
			if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
				t.Fatal(err)
			}
			e.dir.edit(change)
			got, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2")
			if err != nil {
				t.Fatal(err)
			}
			if got.State != grants.Pending || len(got.Approvals) != 1 || got.Approvals[0].Approver != "ULEAD2" {
				t.Fatalf("after the second approval: state %s, approvals %+v; want pending with ULEAD2's alone", got.State, got.Approvals)
			}
			if !e.refusedBy(r.ID, "ULEAD1") {
				t.Errorf("the dropped approval is not an event: %v", e.events.Types(r.ID))
			}
			e.wantNothingIssued(t, 0)
			// A third, trusted approver completes it.
			if got, err = e.svc.Approve(t.Context(), r.ID, "UALICE"); err != nil || got.State != grants.Active {
				t.Fatalf("third approval: %+v, %v", got, err)
			}
		})
	}
}

// TestApproverRuleRefuses: a role's approver_rule narrows who among its
// approvers may decide, at each click: a member of @platform-leads who is
// not in @sre is refused and audited; one who is, approves.
func TestApproverRuleRefuses(t *testing.T) {
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(testCatalog+`  prod-leads:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email.split("@")[0]'
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    approver_rule: '!approver.is_guest && "sre" in approver.groups'
`))
	if err != nil {
		t.Fatal(err)
	}
	e.catalog = cat
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	r := e.request(t, "UBOB", "prod-leads")
	_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrNotApprover, "you cannot approve "+string(r.ID)+": the approver_rule of prod-leads refuses this approver")
	if !e.refusedBy(r.ID, "ULEAD1") {
		t.Errorf("the refusal is not an event: %v", e.events.Types(r.ID))
	}
	e.wantNothingIssued(t, 0)
	if got, err := e.svc.Approve(t.Context(), r.ID, "UALICE"); err != nil || got.State != grants.Active {
		t.Fatalf("approval by an @sre lead: %+v, %v", got, err)
	}
}

// TestApproversLeaveOutThoseRefused: the approvers asked (and DMed) leave
// out a guest in the approving group and those the approver_rule refuses.
func TestApproversLeaveOutThoseRefused(t *testing.T) {
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(testCatalog+`  prod-leads:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email.split("@")[0]'
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    approver_rule: '"sre" in approver.groups'
`))
	if err != nil {
		t.Fatal(err)
	}
	e.catalog = cat
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["UGUEST"] = rules.User{ID: "UGUEST", Email: "guest@example.com", IsGuest: true, Groups: []string{"sre"}}
		d.groups["platform-leads"] = append(d.groups["platform-leads"], "UGUEST")
	})
	r := e.request(t, "UBOB", "prod-leads")
	got, err := e.svc.Approvers(t.Context(), r)
	if err != nil || len(got) != 1 || got[0] != "UALICE" {
		t.Errorf("Approvers = %v, %v; want [UALICE]: ULEAD1 and ULEAD2 are not in @sre, UGUEST is a guest", got, err)
	}
}
