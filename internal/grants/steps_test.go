package grants_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// stepsCatalog: db is approved by its owner (UAPPROVER1), then by one
// person of @security; UAPPROVER1 approves both steps of shared.
const stepsCatalog = `
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
      - approvers: [UAPPROVER1, ULEAD1]
      - approvers: ["@security"]
  shared:
    backend: aws_iam_group
    group: jit-shared
    iam_user: 'user.email.split("@")[0]'
    eligible: '"sre" in user.groups'
    approval_steps:
      - approvers: [UAPPROVER1]
      - approvers: [UAPPROVER1, "@security"]
`

// newStepsEnv is newEnv on stepsCatalog, with USEC1 and USEC2 in @security.
func newStepsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.catalog = parseCatalog(t, stepsCatalog)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["USEC1"] = rules.User{ID: "USEC1", Name: "sam", Email: "sam@example.com"}
		d.users["USEC2"] = rules.User{ID: "USEC2", Name: "sue", Email: "sue@example.com"}
		d.groups["security"] = []string{"USEC1", "USEC2"}
	})
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	return e
}

func approvers(t *testing.T, e *env, id grants.RequestID) []string {
	t.Helper()
	got, err := e.svc.Approvers(t.Context(), e.get(t, id))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestApprovalStepsInOrder(t *testing.T) {
	e := newStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	if len(r.Steps) != 2 || r.ApprovalsRequired != 2 || r.CurrentStep() != 0 {
		t.Fatalf("record: steps %+v, approvals_required %d, at step %d", r.Steps, r.ApprovalsRequired, r.CurrentStep())
	}
	if got := approvers(t, e, r.ID); !slices.Equal(got, []string{"UAPPROVER1", "ULEAD1"}) {
		t.Errorf("asked first: %v, want the owners only", got)
	}
	// Security cannot go first.
	_, err := e.svc.Approve(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotApprover, "it waits on step 1 of 2; you approve step 2, after it")
	if l, err := e.svc.List(t.Context(), "USEC1"); err != nil || len(l.Awaiting) != 0 {
		t.Errorf("security's list before step 1: %d awaiting (%v), want none", len(l.Awaiting), err)
	}

	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, r.ID)
	if got.State != grants.Pending || got.CurrentStep() != 1 || got.Approvals[0].Step != 0 {
		t.Fatalf("after the owner: %s at step %d, approvals %+v; want pending at step 2", got.State, got.CurrentStep(), got.Approvals)
	}
	if got := approvers(t, e, r.ID); !slices.Equal(got, []string{"USEC1", "USEC2"}) {
		t.Errorf("asked second: %v, want @security", got)
	}
	// The other owner's step is done.
	_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrNotApprover, "it is past step 1, which you approve, and waits on step 2 of 2")
	if l, err := e.svc.List(t.Context(), "USEC1"); err != nil || len(l.Awaiting) != 1 {
		t.Errorf("security's list at step 2: %d awaiting (%v), want 1", len(l.Awaiting), err)
	}
	if l, err := e.svc.List(t.Context(), "ULEAD1"); err != nil || len(l.Awaiting) != 0 {
		t.Errorf("an owner's list at step 2: %d awaiting (%v), want none", len(l.Awaiting), err)
	}

	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	got = e.get(t, r.ID)
	if got.State != grants.Active || !slices.Contains(e.backend.groups["jit-db"], "alice") {
		t.Fatalf("after security: %s, jit-db %v; want active with alice in it", got.State, e.backend.groups["jit-db"])
	}
	// Once decided, the approvers of either step may end it.
	if _, err := e.svc.Revoke(t.Context(), r.ID, "ULEAD1", "done"); err != nil {
		t.Errorf("an owner revokes the granted request: %v", err)
	}
}

// TestApprovalStepsOnePersonOneStep: someone listed at both steps approves
// one of them; the second step needs someone else.
func TestApprovalStepsOnePersonOneStep(t *testing.T) {
	e := newStepsEnv(t)
	r := e.request(t, "UALICE", "shared")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrAlreadyApproved, "")
	if got := approvers(t, e, r.ID); !slices.Contains(got, "USEC2") {
		t.Errorf("asked at step 2: %v", got)
	}
	if got := e.get(t, r.ID); got.State != grants.Pending || len(got.Approvals) != 1 {
		t.Fatalf("%s with %d approvals, want pending with 1", got.State, len(got.Approvals))
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC2"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r.ID); got.State != grants.Active {
		t.Errorf("state %s, want active", got.State)
	}
}

// staleReads is a store whose reads return an earlier copy: what a
// process sees when another one decided in between its read and its
// write.
type staleReads struct {
	*memStore
	old *grants.Request
}

func (s staleReads) Get(context.Context, grants.RequestID) (*grants.Request, error) {
	c := *s.old
	c.Approvals = slices.Clone(s.old.Approvals)
	return &c, nil
}

// TestApprovalStepsClickRacingTheStep: two owners click at once; the
// second click, checked as an owner's at step 1, must not count at step
// 2, which the first completed meanwhile.
func TestApprovalStepsClickRacingTheStep(t *testing.T) {
	e := newStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	before := e.get(t, r.ID)
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	racer := e.serviceOn(t, staleReads{e.store, before}, e.events, e.backend)
	_, err := racer.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrDecided, "step 1 of 2 of "+string(r.ID)+" was approved by someone else meanwhile; it now waits on step 2")
	got := e.get(t, r.ID)
	if len(got.Approvals) != 1 || got.State != grants.Pending {
		t.Fatalf("%s with approvals %+v; the owner's late click must not approve step 2", got.State, got.Approvals)
	}
}

// TestApprovalStepsDropsAnApprovalThatNoLongerCounts: the owner who
// approved step 1 is deactivated before security decides; the request
// goes back to step 1 and security's click is not counted.
func TestApprovalStepsDropsAnApprovalThatNoLongerCounts(t *testing.T) {
	e := newStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.dir.edit(func(d *fakeDirectory) {
		u := d.users["UAPPROVER1"]
		u.Deleted = true
		d.users["UAPPROVER1"] = u
	})
	_, err := e.svc.Approve(t.Context(), r.ID, "USEC1")
	wantUserError(t, err, grants.ErrNotApprover, "is back at step 1 of 2, because an approval given there no longer counts")
	got := e.get(t, r.ID)
	if got.State != grants.Pending || len(got.Approvals) != 0 || got.CurrentStep() != 0 {
		t.Fatalf("%s at step %d with approvals %+v; want pending at step 1 with none", got.State, got.CurrentStep(), got.Approvals)
	}
	if len(e.backend.groups["jit-db"]) != 0 {
		t.Errorf("jit-db has %v", e.backend.groups["jit-db"])
	}
	if got := approvers(t, e, r.ID); !slices.Equal(got, []string{"ULEAD1"}) {
		t.Errorf("asked again: %v, want the remaining owner", got)
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Approve(t.Context(), r.ID, "USEC1"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r.ID); got.State != grants.Active {
		t.Errorf("state %s, want active", got.State)
	}
}

// TestApprovalStepsCheckedAgainAtTheStart: a window approved at both
// steps is issued at its start only if each step's approval still counts
// then, and under the steps the role still has.
func TestApprovalStepsCheckedAgainAtTheStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *env)
		want   grants.State
		why    string // in the record's Failure
	}{
		{"unchanged", func(*env) {}, grants.Active, ""},
		{"security approver left @security", func(e *env) {
			e.dir.edit(func(d *fakeDirectory) { d.groups["security"] = []string{"USEC2"} })
		}, grants.Failed, "step 2 of 2 has 0 valid approval(s) and needs 1"},
		{"a third step added", func(e *env) {
			cat := parseCatalog(t, strings.Replace(stepsCatalog, "\n  shared:", "\n      - approvers: [UBOB]\n  shared:", 1))
			e.svc.SetCatalog(cat)
		}, grants.Failed, "its approval steps (2) are not the role's (3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStepsEnv(t)
			start := e.clock.Now().Add(2 * time.Hour)
			r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "db", Duration: time.Hour, Reason: "database maintenance window", Start: start})
			if err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{"UAPPROVER1", "USEC1"} {
				if _, err := e.svc.Approve(t.Context(), r.ID, who); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.get(t, r.ID); got.State != grants.Scheduled {
				t.Fatalf("state %s, want scheduled", got.State)
			}
			tc.change(e)
			e.runDue(t, 2*time.Hour+time.Second)
			if got := e.get(t, r.ID); got.State != tc.want || !strings.Contains(got.Failure, tc.why) {
				t.Errorf("at the start: %s (%q), want %s (%q)", got.State, got.Failure, tc.want, tc.why)
			}
			if issued := slices.Contains(e.backend.groups["jit-db"], "alice"); issued != (tc.want == grants.Active) {
				t.Errorf("jit-db %v", e.backend.groups["jit-db"])
			}
		})
	}
}

// TestListFollowsTheCatalog: who sees a request as awaiting them follows
// a catalog reload at once (List narrows what it reads per catalog).
func TestListFollowsTheCatalog(t *testing.T) {
	e := newStepsEnv(t)
	r := e.request(t, "UALICE", "db")
	if l, err := e.svc.List(t.Context(), "UBOB"); err != nil || len(l.Awaiting) != 0 {
		t.Fatalf("bob before: %d awaiting, %v", len(l.Awaiting), err)
	}
	e.svc.SetCatalog(parseCatalog(t, strings.Replace(stepsCatalog, "[UAPPROVER1, ULEAD1]", "[UAPPROVER1, ULEAD1, UBOB]", 1)))
	if l, err := e.svc.List(t.Context(), "UBOB"); err != nil || len(l.Awaiting) != 1 || l.Awaiting[0].ID != r.ID {
		t.Errorf("bob after he was made an owner: %v, %v; want %s awaiting", l.Awaiting, err, r.ID)
	}
}

// poisonedIndex is a store whose per-person index a Redis writer filled
// with every open record.
type poisonedIndex struct{ *memStore }

func (p poisonedIndex) OpenOf(ctx context.Context, _ string, _ []string) ([]*grants.Request, error) {
	return p.open(ctx)
}

// TestListIndexOnlyNarrows: someone who can write to Redis adds other
// people's requests to a person's index; List shows them nothing it would
// not have shown anyway: not others' requests as theirs, nor requests of
// roles they do not decide, nor steps that are not theirs yet.
func TestListIndexOnlyNarrows(t *testing.T) {
	e := newStepsEnv(t)
	e.request(t, "UALICE", "db")
	e.request(t, "UBOB", "shared")
	poisoned := e.serviceOn(t, poisonedIndex{e.store}, e.events, e.backend)
	for _, who := range []string{"UALICE", "UBOB", "USEC1", "UAPPROVER1", "ULEAD1", "UGUEST", "UOUTSIDER"} {
		want, err := e.svc.List(t.Context(), who)
		if err != nil {
			t.Fatal(err)
		}
		got, err := poisoned.List(t.Context(), who)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Mine) != len(want.Mine) || len(got.Awaiting) != len(want.Awaiting) {
			t.Errorf("%s with a poisoned index sees %d mine, %d awaiting; the index gives %d and %d", who, len(got.Mine), len(got.Awaiting), len(want.Mine), len(want.Awaiting))
		}
	}
}
