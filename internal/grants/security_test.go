package grants_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// The security tests decide requests the way an attacker, a slow
// scheduler or a changing directory would have them decided. Every
// refusal must leave the record as it was, issue nothing and, for a
// decision by someone who may not decide, be an event the audit trail
// records.

// wantNothingIssued fails when the backend was asked for access more than
// before times.
func (e *env) wantNothingIssued(t *testing.T, before int) {
	t.Helper()
	if g, _, _ := e.backend.counts(); g != before {
		t.Errorf("backend Grant called %d times, want %d: a refused decision issued access", g, before)
	}
}

func (e *env) grantCalls() int {
	g, _, _ := e.backend.counts()
	return g
}

// refusedBy reports whether the events of id hold a refusal by actor.
func (e *env) refusedBy(id grants.RequestID, actor string) bool {
	return slices.ContainsFunc(e.events.All(), func(ev grants.Event) bool {
		return ev.Type == grants.EventRefused && ev.Request.ID == id && ev.Actor == actor
	})
}

// TestLateDecisions: once a request's time is up, whether it timed out
// unanswered or the access it gave has ended, no click can bring it back.
// This includes the window between the deadline and the scheduler's next
// look (it sleeps up to MaxIdle, longer while Redis is failing): the
// deadline is part of the rules, the scheduler only records it.
func TestLateDecisions(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, e *env) *grants.Request
		decide  func(t *testing.T, e *env, id grants.RequestID) error
		class   error
		wantMsg string
		state   grants.State // the record's state after the refusal; "" to leave unchecked
	}{
		{
			name: "approve after the scheduler timed it out",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-readonly")
				e.runDue(t, 30*time.Minute)
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Approve(t.Context(), id, "UAPPROVER1")
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "timed out",
			state:   grants.TimedOut,
		},
		{
			name: "approve after the deadline, before the scheduler looked",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-readonly")
				e.clock.Advance(30*time.Minute + time.Second)
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Approve(t.Context(), id, "UAPPROVER1")
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "timed out",
		},
		{
			name: "second approval after the deadline, before the scheduler looked",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-admin")
				if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(30*time.Minute + time.Second)
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Approve(t.Context(), id, "ULEAD2")
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "timed out",
		},
		{
			name: "approve after the grant expired",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-readonly")
				if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
					t.Fatal(err)
				}
				e.runDue(t, time.Hour)
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Approve(t.Context(), id, "ULEAD1")
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "already approved by UAPPROVER1",
			state:   grants.Revoked,
		},
		{
			name: "approve after the requester gave it up",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-readonly")
				if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.Revoke(t.Context(), r.ID, "UBOB", ""); err != nil {
					t.Fatal(err)
				}
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Approve(t.Context(), id, "ULEAD1")
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "already approved",
			state:   grants.Revoked,
		},
		{
			name: "extend after the grant expired",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-readonly")
				if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
					t.Fatal(err)
				}
				e.runDue(t, time.Hour)
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Extend(t.Context(), id, "UBOB", time.Hour)
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "is not active (it is revoked)",
			state:   grants.Revoked,
		},
		{
			name: "revoke after the grant expired",
			setup: func(t *testing.T, e *env) *grants.Request {
				r := e.request(t, "UBOB", "prod-readonly")
				if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
					t.Fatal(err)
				}
				e.runDue(t, time.Hour)
				return r
			},
			decide: func(t *testing.T, e *env, id grants.RequestID) error {
				_, err := e.svc.Revoke(t.Context(), id, "ULEAD1", "")
				return err
			},
			class:   grants.ErrDecided,
			wantMsg: "is not active (it is revoked)",
			state:   grants.Revoked,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := tt.setup(t, e)
			before := e.grantCalls()
			err := tt.decide(t, e, r.ID)
			wantUserError(t, err, tt.class, tt.wantMsg)
			e.wantNothingIssued(t, before)
			got, _ := e.svc.Get(t.Context(), r.ID)
			if got.State == grants.Granting || got.State == grants.Active {
				t.Errorf("state %s after a late decision", got.State)
			}
			if tt.state != "" && got.State != tt.state {
				t.Errorf("state %s, want %s", got.State, tt.state)
			}
		})
	}
}

// TestDecisionOnAnotherRequest: a decision names a request ID and nothing
// else (a button's value, an ID typed in a command). Naming a request of a
// role one does not approve is refused and audited, whichever verb.
func TestDecisionOnAnotherRequest(t *testing.T) {
	tests := []struct {
		name    string
		role    string // of the request named
		active  bool   // approve it (by its own approvers) first
		decide  func(t *testing.T, e *env, id grants.RequestID) error
		wantMsg string
	}{
		{name: "approve", role: "prod-admin", decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Approve(t.Context(), id, "UAPPROVER1")
			return err
		}, wantMsg: "you are not an approver of prod-admin, so you cannot approve"},
		{name: "deny", role: "prod-admin", decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Deny(t.Context(), id, "UAPPROVER1", "no")
			return err
		}, wantMsg: "you are not an approver of prod-admin, so you cannot deny"},
		{name: "revoke", role: "prod-admin", active: true, decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Revoke(t.Context(), id, "UAPPROVER1", "")
			return err
		}, wantMsg: "you are not an approver of prod-admin, so you cannot revoke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.request(t, "UBOB", tt.role)
			if tt.active {
				e.approveAll(t, r)
			}
			before, _ := e.svc.Get(t.Context(), r.ID)
			grantsBefore := e.grantCalls()
			wantUserError(t, tt.decide(t, e, r.ID), grants.ErrNotApprover, tt.wantMsg)
			if !e.refusedBy(r.ID, "UAPPROVER1") {
				t.Errorf("the refusal is not an event: %v", e.events.Types(r.ID))
			}
			after, _ := e.svc.Get(t.Context(), r.ID)
			if after.State != before.State || len(after.Approvals) != len(before.Approvals) || after.RevokedBy != "" {
				t.Errorf("record changed: %s %v → %s %v", before.State, before.Approvals, after.State, after.Approvals)
			}
			e.wantNothingIssued(t, grantsBefore)
		})
	}
}

// TestApproverLeftTheGroup: approvers in a user group are resolved at each
// decision, so an approver taken out of the group after the request was
// filed can no longer approve, deny, revoke or review it.
func TestApproverLeftTheGroup(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, e *env) *grants.Request
		decide func(t *testing.T, e *env, id grants.RequestID) error
		verb   string
	}{
		{name: "approve", setup: func(t *testing.T, e *env) *grants.Request {
			return e.request(t, "UBOB", "prod-admin")
		}, decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Approve(t.Context(), id, "ULEAD1")
			return err
		}, verb: "approve"},
		{name: "deny", setup: func(t *testing.T, e *env) *grants.Request {
			return e.request(t, "UBOB", "prod-admin")
		}, decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Deny(t.Context(), id, "ULEAD1", "no")
			return err
		}, verb: "deny"},
		{name: "revoke", setup: func(t *testing.T, e *env) *grants.Request {
			return e.approveAll(t, e.request(t, "UBOB", "prod-admin"))
		}, decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Revoke(t.Context(), id, "ULEAD1", "")
			return err
		}, verb: "revoke"},
		{name: "second approval", setup: func(t *testing.T, e *env) *grants.Request {
			r := e.request(t, "UBOB", "prod-admin")
			if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2"); err != nil {
				t.Fatal(err)
			}
			return r
		}, decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Approve(t.Context(), id, "ULEAD1")
			return err
		}, verb: "approve"},
		{name: "review of a break-glass grant", setup: func(t *testing.T, e *env) *grants.Request {
			r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "prod-readonly", Duration: time.Hour, Reason: "database on fire", Incident: "INC-42"})
			if err != nil || !r.AutoApproved {
				t.Fatalf("break-glass request: %+v, %v", r, err)
			}
			return r
		}, decide: func(t *testing.T, e *env, id grants.RequestID) error {
			_, err := e.svc.Acknowledge(t.Context(), id, "ULEAD1")
			return err
		}, verb: "review"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := tt.setup(t, e)
			before, _ := e.svc.Get(t.Context(), r.ID)
			grantsBefore := e.grantCalls()
			e.dir.edit(func(d *fakeDirectory) { d.groups["platform-leads"] = []string{"ULEAD2"} })
			wantUserError(t, tt.decide(t, e, r.ID), grants.ErrNotApprover, "you are not an approver of "+r.Role+", so you cannot "+tt.verb)
			if !e.refusedBy(r.ID, "ULEAD1") {
				t.Errorf("the refusal is not an event: %v", e.events.Types(r.ID))
			}
			after, _ := e.svc.Get(t.Context(), r.ID)
			if after.State != before.State || len(after.Approvals) != len(before.Approvals) || after.ReviewedBy != before.ReviewedBy {
				t.Errorf("record changed: %+v", after)
			}
			e.wantNothingIssued(t, grantsBefore)
		})
	}
}

// TestEligibilityFlipsBeforeApproval: the requester must still be eligible
// when the deciding approval comes. If they are not, the request is
// denied with the reason, by jitbot, and nothing is issued.
func TestEligibilityFlipsBeforeApproval(t *testing.T) {
	tests := []struct {
		name      string
		role      string
		approvers []string // in order; the last one decides
		change    func(u *rules.User)
		why       string // in the deny reason
	}{
		{name: "left the group the rule needs", role: "prod-admin", approvers: []string{"ULEAD1"},
			change: func(u *rules.User) { u.Groups = slices.DeleteFunc(u.Groups, func(g string) bool { return g == "sre" }) },
			why:    "you are not eligible for prod-admin"},
		{name: "left the group between two approvals", role: "prod-admin", approvers: []string{"ULEAD1", "ULEAD2"},
			change: func(u *rules.User) { u.Groups = nil },
			why:    "you are not eligible for prod-admin"},
		{name: "email moved to another domain", role: "prod-readonly", approvers: []string{"UAPPROVER1"},
			change: func(u *rules.User) { u.Email = "bob@elsewhere.org" },
			why:    "you are not eligible for prod-readonly"},
		{name: "deactivated", role: "prod-readonly", approvers: []string{"UAPPROVER1"},
			change: func(u *rules.User) { u.Deleted = true },
			why:    "deactivated accounts cannot request access"},
		{name: "became a guest", role: "prod-readonly", approvers: []string{"UAPPROVER1"},
			change: func(u *rules.User) { u.IsGuest = true },
			why:    "not open to guests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.request(t, "UBOB", tt.role)
			last := len(tt.approvers) - 1
			for _, a := range tt.approvers[:last] {
				if _, err := e.svc.Approve(t.Context(), r.ID, a); err != nil {
					t.Fatalf("approval by %s while still eligible: %v", a, err)
				}
			}
			e.dir.edit(func(d *fakeDirectory) {
				u := d.users["UBOB"]
				tt.change(&u)
				d.users["UBOB"] = u
			})
			_, err := e.svc.Approve(t.Context(), r.ID, tt.approvers[last])
			wantUserError(t, err, grants.ErrIneligible, "bob no longer qualifies for "+tt.role)
			got, _ := e.svc.Get(t.Context(), r.ID)
			if got.State != grants.Denied || !strings.Contains(got.DenyReason, "no longer eligible") || !strings.Contains(got.DenyReason, tt.why) {
				t.Errorf("state %s, deny reason %q; want denied, saying %q", got.State, got.DenyReason, tt.why)
			}
			if got.DecidedBy != "" {
				t.Errorf("denied by %q, want jitbot (empty)", got.DecidedBy)
			}
			if types := e.events.Types(r.ID); !slices.Contains(types, grants.EventDenied) {
				t.Errorf("events %v, want a denial", types)
			}
			e.wantNothingIssued(t, 0)
		})
	}
}

// costlyCatalog has rules whose cost grows with the cube of the number of
// the user's groups: cheap for a handful, over the evaluation cost limit
// for a few dozen.
const costlyCatalog = `defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  cheap:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/cheap
    approvers: [UAPPROVER1]
    eligible: 'true'
  costly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/costly
    approvers: [UAPPROVER1]
    eligible: 'user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != "")))'
  costly-breakglass:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/costly-breakglass
    approvers: [UAPPROVER1]
    eligible: 'true'
    auto_approve: 'user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != "")))'
  costly-group:
    backend: aws_iam_group
    group: jit-costly
    iam_user: 'user.groups.map(a, user.groups.map(b, user.groups.map(c, a + b + c))).size() > 0 ? "bob" : "bob"'
    approvers: [UAPPROVER1]
    eligible: 'true'
`

// manyGroups gives UBOB n user groups.
func (e *env) manyGroups(n int) {
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users["UBOB"]
		u.Groups = nil
		for i := range n {
			u.Groups = append(u.Groups, fmt.Sprintf("team-%02d", i))
		}
		d.users["UBOB"] = u
	})
}

// TestCELCostLimit: a rule that would evaluate for too long (a catalog
// mistake, or user data that grew) stops at the cost limit. The request
// it decides is refused with an error that names the role and the limit;
// nothing is recorded or issued; and the bot goes on serving other roles.
func TestCELCostLimit(t *testing.T) {
	tests := []struct {
		name    string
		role    string
		atGrant bool // eligible at request, too costly at approval
	}{
		{name: "eligible rule at request", role: "costly"},
		{name: "auto_approve rule at request", role: "costly-breakglass"},
		{name: "iam_user rule at request", role: "costly-group"},
		{name: "eligible rule re-checked at approval", role: "costly", atGrant: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cat, err := rules.Parse("roles.yaml", []byte(costlyCatalog))
			if err != nil {
				t.Fatalf("the costly catalog does not load: %v", err)
			}
			e.svc.SetCatalog(cat)
			in := grants.RequestInput{UserID: "UBOB", Role: tt.role, Duration: time.Hour, Reason: "fixing INC-42 replica lag"}

			var id grants.RequestID
			if tt.atGrant {
				e.manyGroups(3)
				r, err := e.svc.Request(t.Context(), in)
				if err != nil {
					t.Fatalf("request with 3 groups: %v", err)
				}
				id = r.ID
			}
			e.manyGroups(40) // 40³ comprehension steps
			start := time.Now()
			if tt.atGrant {
				_, err = e.svc.Approve(t.Context(), id, "UAPPROVER1")
			} else {
				_, err = e.svc.Request(t.Context(), in)
			}
			took := time.Since(start)
			if err == nil {
				t.Fatalf("a rule over the cost limit let the request through")
			}
			if !strings.Contains(err.Error(), "cost limit") || !strings.Contains(err.Error(), tt.role) {
				t.Errorf("error %q does not say that %s's rule hit the cost limit", err, tt.role)
			}
			if took > 2*time.Second {
				t.Errorf("the refusal took %v", took)
			}
			e.wantNothingIssued(t, 0)
			open, _ := e.store.open(t.Context())
			switch {
			case !tt.atGrant && len(open) != 0:
				t.Errorf("a refused request left %d records", len(open))
			case tt.atGrant && (len(open) != 1 || open[0].State != grants.Pending):
				t.Errorf("after the failed approval: %d open records, want the request still pending", len(open))
			}

			// The bot keeps serving.
			roles, err := e.svc.EligibleRoles(t.Context(), "UBOB")
			if err != nil || !slices.ContainsFunc(roles, func(r *rules.Role) bool { return r.Name == "cheap" }) {
				t.Errorf("eligible roles after the costly rule: %v, %v", roles, err)
			}
			r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "cheap", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
			if err != nil {
				t.Fatalf("request of another role after the costly rule: %v", err)
			}
			if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
				t.Errorf("approval of another role after the costly rule: %v", err)
			}
		})
	}
}

// TestCostLimitErrorIsNoUserError: the cost limit is the catalog owners'
// problem, not the requester's; the handler logs it and tells the
// requester something went wrong, with the request ID.
func TestCostLimitErrorIsNoUserError(t *testing.T) {
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(costlyCatalog))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetCatalog(cat)
	e.manyGroups(40)
	_, err = e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "costly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	var ue *grants.UserError
	if errors.As(err, &ue) {
		t.Errorf("cost limit error is a UserError %q: it would tell the requester they are not eligible", ue.Msg)
	}
}
