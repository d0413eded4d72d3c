package grants_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// states are the columns of the transition table, every State there is.
var states = []grants.State{
	grants.Pending, grants.Scheduled, grants.Granting, grants.Active, grants.Revoking,
	grants.Revoked, grants.Denied, grants.Cancelled, grants.TimedOut, grants.Failed,
}

// outcome is one cell of the table: the state a transition leads to, or
// the class of its refusal.
type outcome struct {
	state grants.State
	err   error
}

var (
	pending   = outcome{state: grants.Pending}
	scheduled = outcome{state: grants.Scheduled}
	granting  = outcome{state: grants.Granting}
	active    = outcome{state: grants.Active}
	revoking  = outcome{state: grants.Revoking}
	revoked   = outcome{state: grants.Revoked}
	denied    = outcome{state: grants.Denied}
	cancelled = outcome{state: grants.Cancelled}
	timedOut  = outcome{state: grants.TimedOut}
	failed    = outcome{state: grants.Failed}

	decided     = outcome{err: grants.ErrDecided}
	stale       = outcome{err: grants.ErrStale}
	notAllowed  = outcome{err: grants.ErrNotAllowed}
	selfApprove = outcome{err: grants.ErrSelfApproval}
	twice       = outcome{err: grants.ErrAlreadyApproved}
)

func (o outcome) String() string {
	if o.err != nil {
		return "refused: " + o.err.Error()
	}
	return string(o.state)
}

// The record every cell starts from, in the cell's state: it needs two
// approvals and has UFIRST's, and every time a transition looks at is set.
var (
	t0       = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	deadline = t0.Add(30 * time.Minute)
	expires  = t0.Add(time.Hour)
	warnAt   = expires.Add(-5 * time.Minute)
	review   = t0.Add(2 * time.Hour)
	cleanup  = t0.Add(3 * time.Hour)
	start    = t0.Add(10 * time.Minute) // of a window asked for ahead
)

const lease = 30 * time.Second

func inState(st grants.State) *grants.Request {
	return &grants.Request{
		ID: "JIT-TABLE2", State: st, Requester: rules.User{ID: "UREQ"}, Role: "prod-admin",
		ApprovalsRequired: 2, Approvals: []grants.Approval{{Approver: "UFIRST", At: t0}},
		CreatedAt: t0, Deadline: deadline,
		GrantedAt: t0, ExpiresAt: expires, WarnAt: warnAt,
		NextAttempt: t0, CleanupAt: cleanup,
	}
}

// breakglass makes the record an auto-approved grant whose review is due.
func breakglass(r *grants.Request) { r.AutoApproved, r.ReviewDue = true, review }

func failedGrant(r *grants.Request) { r.Failure = "no such group" }

func backoff(int) time.Duration { return time.Minute }

// TestTransitionTable proves the state machine: every transition from
// every state leads to the state in the table, journaling the table's
// event, or is refused with the table's class and changes nothing.
func TestTransitionTable(t *testing.T) {
	soon, late := t0.Add(time.Minute), deadline.Add(time.Minute)
	tests := []struct {
		name     string
		method   string // the Request method it takes
		prepare  func(*grants.Request)
		call     func(r *grants.Request) error
		journals grants.EventType // on success; "" for none
		// pending, scheduled, granting, active, revoking, revoked, denied, cancelled, timed_out, failed
		want [10]outcome
	}{
		{name: "approve, the last one needed", method: "Approve", journals: grants.EventApproved,
			call: func(r *grants.Request) error { return r.Approve("USECOND", soon, lease) },
			want: [10]outcome{granting, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "approve twice", method: "Approve",
			call: func(r *grants.Request) error { return r.Approve("UFIRST", soon, lease) },
			want: [10]outcome{twice, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "approve own request", method: "Approve",
			call: func(r *grants.Request) error { return r.Approve("UREQ", soon, lease) },
			want: [10]outcome{selfApprove, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "approve after the deadline", method: "Approve",
			call: func(r *grants.Request) error { return r.Approve("USECOND", late, lease) },
			want: [10]outcome{decided, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "auto-approve", method: "AutoApprove", journals: grants.EventAutoApproved,
			call: func(r *grants.Request) error { return r.AutoApprove("true", time.Hour, soon, lease) },
			want: [10]outcome{granting, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "deny", method: "Deny", journals: grants.EventDenied,
			call: func(r *grants.Request) error { return r.Deny("USECOND", "not now", soon) },
			want: [10]outcome{denied, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "deny after approving", method: "Deny", journals: grants.EventDenied,
			call: func(r *grants.Request) error { return r.Deny("UFIRST", "changed my mind", soon) },
			want: [10]outcome{denied, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "deny own request", method: "Deny",
			call: func(r *grants.Request) error { return r.Deny("UREQ", "", soon) },
			want: [10]outcome{selfApprove, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "deny, requester no longer eligible", method: "DenyIneligible", journals: grants.EventDenied,
			call: func(r *grants.Request) error { return r.DenyIneligible("USECOND", "bots cannot request access", soon) },
			want: [10]outcome{denied, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "withdraw, by jitbot", method: "Withdraw", journals: grants.EventDenied,
			call: func(r *grants.Request) error { return r.Withdraw("requester deactivated in Slack", late) },
			want: [10]outcome{denied, denied, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "revoke by jitbot keeps the break-glass review due", method: "Revoke", prepare: breakglass,
			call: func(r *grants.Request) error {
				if err := r.Revoke("", "requester deactivated in Slack", soon, lease); err != nil {
					return err
				}
				if r.ReviewDue.IsZero() {
					return errors.New("revocation by jitbot counted as a review")
				}
				return nil
			},
			want: [10]outcome{decided, decided, decided, revoking, decided, decided, decided, decided, decided, decided}},
		{name: "cancel", method: "Cancel", journals: grants.EventCancelled,
			call: func(r *grants.Request) error { return r.Cancel("UREQ", late) },
			want: [10]outcome{cancelled, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "cancel someone else's", method: "Cancel",
			call: func(r *grants.Request) error { return r.Cancel("USECOND", soon) },
			want: [10]outcome{notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed}},
		{name: "time out", method: "TimeOut", journals: grants.EventTimedOut,
			call: func(r *grants.Request) error { return r.TimeOut(deadline) },
			want: [10]outcome{timedOut, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "time out before the deadline", method: "TimeOut",
			call: func(r *grants.Request) error { return r.TimeOut(soon) },
			want: [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "lease to grant", method: "TakeLease",
			call: func(r *grants.Request) error { return r.TakeLease(grants.Granting, soon, lease) },
			want: [10]outcome{stale, stale, granting, stale, stale, stale, stale, stale, stale, stale}},
		{name: "lease to grant, held by another worker", method: "TakeLease",
			prepare: func(r *grants.Request) { r.LeaseUntil = soon.Add(time.Second) },
			call:    func(r *grants.Request) error { return r.TakeLease(grants.Granting, soon, lease) },
			want:    [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "take over a dead process's grant", method: "TakeOver",
			prepare: func(r *grants.Request) { r.LeaseUntil, r.LeaseOwner = soon.Add(time.Minute), "p-dead" },
			call:    func(r *grants.Request) error { return r.TakeOver(grants.Granting, "p-dead", soon, lease) },
			want:    [10]outcome{stale, stale, granting, stale, stale, stale, stale, stale, stale, stale}},
		{name: "take over a revocation, already taken over", method: "TakeOver",
			prepare: func(r *grants.Request) { r.LeaseUntil, r.LeaseOwner = soon.Add(time.Minute), "p-other" },
			call:    func(r *grants.Request) error { return r.TakeOver(grants.Revoking, "p-dead", soon, lease) },
			want:    [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "take over a revocation", method: "TakeOver",
			prepare: func(r *grants.Request) { r.LeaseUntil, r.LeaseOwner = soon.Add(time.Minute), "p-dead" },
			call:    func(r *grants.Request) error { return r.TakeOver(grants.Revoking, "p-dead", soon, lease) },
			want:    [10]outcome{stale, stale, stale, stale, revoking, stale, stale, stale, stale, stale}},
		{name: "take over nobody's lease", method: "TakeOver",
			call: func(r *grants.Request) error { return r.TakeOver(grants.Granting, "", soon, lease) },
			want: [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "access issued", method: "Activate", journals: grants.EventGranted,
			call: func(r *grants.Request) error {
				return r.Activate(grants.Issued{AWSRequestID: "req-1"}, soon, soon.Add(time.Hour), 5*time.Minute, soon)
			},
			want: [10]outcome{stale, stale, active, stale, stale, stale, stale, stale, stale, stale}},
		{name: "access not issued", method: "FailGrant", journals: grants.EventGrantFailed,
			call: func(r *grants.Request) error { return r.FailGrant("no such group", soon, lease) },
			want: [10]outcome{stale, stale, revoking, stale, stale, stale, stale, stale, stale, stale}},
		{name: "revoke early", method: "Revoke",
			call: func(r *grants.Request) error { return r.Revoke("UREQ", "done", soon, lease) },
			want: [10]outcome{decided, decided, decided, revoking, decided, decided, decided, decided, decided, decided}},
		{name: "expire", method: "Expire",
			call: func(r *grants.Request) error { return r.Expire(expires, lease) },
			want: [10]outcome{stale, stale, stale, revoking, stale, stale, stale, stale, stale, stale}},
		{name: "expire early", method: "Expire",
			call: func(r *grants.Request) error { return r.Expire(soon, lease) },
			want: [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "warn of expiry", method: "Warn", journals: grants.EventExpiring,
			call: func(r *grants.Request) error { return r.Warn(warnAt) },
			want: [10]outcome{stale, stale, stale, active, stale, stale, stale, stale, stale, stale}},
		{name: "lease to revoke", method: "TakeLease",
			call: func(r *grants.Request) error { return r.TakeLease(grants.Revoking, soon, lease) },
			want: [10]outcome{stale, stale, stale, stale, revoking, stale, stale, stale, stale, stale}},
		{name: "access removed", method: "FinishRevoke", journals: grants.EventRevoked,
			call: func(r *grants.Request) error { return r.FinishRevoke(grants.Revocation{}, soon) },
			want: [10]outcome{stale, stale, stale, stale, revoked, stale, stale, stale, stale, stale}},
		{name: "access removed after a failed grant", method: "FinishRevoke", prepare: failedGrant,
			call: func(r *grants.Request) error { return r.FinishRevoke(grants.Revocation{}, soon) },
			want: [10]outcome{stale, stale, stale, stale, failed, stale, stale, stale, stale, stale}},
		{name: "removal failed, alert", method: "RetryRevoke", journals: grants.EventRevokeFailed,
			call: func(r *grants.Request) error { return r.RetryRevoke(errors.New("throttled"), soon, backoff, 1) },
			want: [10]outcome{stale, stale, stale, stale, revoking, stale, stale, stale, stale, stale}},
		// Before the alert, each failure is told, so the audit parent
		// shows the revocation retrying rather than the grant active.
		{name: "removal failed, no alert yet", method: "RetryRevoke", journals: grants.EventRevokeRetrying,
			call: func(r *grants.Request) error { return r.RetryRevoke(errors.New("throttled"), soon, backoff, 5) },
			want: [10]outcome{stale, stale, stale, stale, revoking, stale, stale, stale, stale, stale}},
		// After the alert, a long outage is not told again every retry.
		{name: "removal failed, after the alert", method: "RetryRevoke",
			prepare: func(r *grants.Request) { r.Attempts = 1 },
			call:    func(r *grants.Request) error { return r.RetryRevoke(errors.New("throttled"), soon, backoff, 1) },
			want:    [10]outcome{stale, stale, stale, stale, revoking, stale, stale, stale, stale, stale}},
		{name: "review overdue", method: "Escalate", prepare: breakglass, journals: grants.EventReviewOverdue,
			call: func(r *grants.Request) error { return r.Escalate(review) },
			want: [10]outcome{pending, scheduled, granting, active, revoking, revoked, denied, cancelled, timedOut, failed}},
		{name: "review not due yet", method: "Escalate", prepare: breakglass,
			call: func(r *grants.Request) error { return r.Escalate(soon) },
			want: [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "review break-glass", method: "Review", prepare: breakglass, journals: grants.EventReviewed,
			call: func(r *grants.Request) error { return r.Review("USECOND", soon) },
			want: [10]outcome{pending, scheduled, granting, active, revoking, revoked, denied, cancelled, timedOut, failed}},
		{name: "review own break-glass", method: "Review", prepare: breakglass,
			call: func(r *grants.Request) error { return r.Review("UREQ", soon) },
			want: [10]outcome{selfApprove, selfApprove, selfApprove, selfApprove, selfApprove, selfApprove, selfApprove, selfApprove, selfApprove, selfApprove}},
		{name: "review what people approved", method: "Review",
			call: func(r *grants.Request) error { return r.Review("USECOND", soon) },
			want: [10]outcome{notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed, notAllowed}},
		{name: "review twice", method: "Review",
			prepare: func(r *grants.Request) { breakglass(r); r.ReviewedBy = "UOTHER" },
			call:    func(r *grants.Request) error { return r.Review("USECOND", soon) },
			want:    [10]outcome{decided, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		// A record written without the signing key grants nothing and
		// gives up what it may hold, with the backend of jitbot's mode
		// (here real), not the dry run the record claims.
		{name: "quarantine", method: "Quarantine", journals: grants.EventTampered,
			prepare: func(r *grants.Request) { r.DryRun = true },
			call: func(r *grants.Request) error {
				r.Quarantine(false, soon)
				if r.State == grants.Revoking && r.DryRun {
					return errors.New("a quarantined record is revoked with the dry-run backend it claims")
				}
				return nil
			},
			want: [10]outcome{failed, failed, revoking, revoking, revoking, revoked, denied, cancelled, timedOut, failed}},
		{name: "cleaned up", method: "FinishCleanup",
			call: func(r *grants.Request) error { return r.FinishCleanup() },
			want: [10]outcome{stale, stale, stale, stale, stale, revoked, denied, cancelled, timedOut, failed}},
		{name: "cleanup failed", method: "RetryCleanup",
			call: func(r *grants.Request) error { return r.RetryCleanup(errors.New("throttled"), cleanup, backoff) },
			want: [10]outcome{stale, stale, stale, stale, stale, revoked, denied, cancelled, timedOut, failed}},
		{name: "approve ahead of the window", method: "Approve", journals: grants.EventApproved,
			prepare: func(r *grants.Request) { r.Start = start },
			call:    func(r *grants.Request) error { return r.Approve("USECOND", soon, lease) },
			want:    [10]outcome{scheduled, decided, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "begin at the start", method: "Begin",
			prepare: func(r *grants.Request) { r.Start = start },
			call:    func(r *grants.Request) error { return r.Begin(start, lease) },
			want:    [10]outcome{stale, granting, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "begin before the start", method: "Begin",
			prepare: func(r *grants.Request) { r.Start = start },
			call:    func(r *grants.Request) error { return r.Begin(soon, lease) },
			want:    [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "cancel a window", method: "CancelScheduled", journals: grants.EventCancelled,
			prepare: func(r *grants.Request) { r.Start = start },
			call:    func(r *grants.Request) error { return r.CancelScheduled("UREQ", soon) },
			want:    [10]outcome{decided, cancelled, decided, decided, decided, decided, decided, decided, decided, decided}},
		{name: "remind", method: "Remind", journals: grants.EventReminded,
			prepare: func(r *grants.Request) { r.RemindAt = soon },
			call:    func(r *grants.Request) error { return r.Remind(soon) },
			want:    [10]outcome{pending, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "remind before it is due", method: "Remind",
			prepare: func(r *grants.Request) { r.RemindAt = late },
			call:    func(r *grants.Request) error { return r.Remind(soon) },
			want:    [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "escalate to more approvers", method: "EscalateApproval", journals: grants.EventEscalated,
			prepare: func(r *grants.Request) { r.EscalateAt = soon },
			call: func(r *grants.Request) error {
				if err := r.EscalateApproval(soon); err != nil {
					return err
				}
				if !r.Escalated {
					return errors.New("escalated, but not marked so")
				}
				return nil
			},
			want: [10]outcome{pending, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
		{name: "escalate twice", method: "EscalateApproval",
			call: func(r *grants.Request) error { return r.EscalateApproval(soon) },
			want: [10]outcome{stale, stale, stale, stale, stale, stale, stale, stale, stale, stale}},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.method] = true
		for i, st := range states {
			t.Run(tt.name+"/from "+string(st), func(t *testing.T) {
				r := inState(st)
				if tt.prepare != nil {
					tt.prepare(r)
				}
				before := clone(t, r)
				err := tt.call(r)
				want := tt.want[i]
				if want.err != nil {
					if !errors.Is(err, want.err) {
						t.Fatalf("err = %v, want %v", err, want)
					}
					if !reflect.DeepEqual(r, before) {
						t.Errorf("a refused transition changed the record:\n got %+v\nwant %+v", r, before)
					}
					return
				}
				if err != nil {
					t.Fatalf("err = %v, want %v", err, want)
				}
				if r.State != want.state {
					t.Errorf("state = %s, want %s", r.State, want.state)
				}
				wantJournal(t, r, before, tt.journals)
			})
		}
	}
	// Every method that changes a record is in the table; Schedule,
	// ByWorkload and CurrentStep only read it.
	readers := []string{"Schedule", "ByWorkload", "CurrentStep"}
	for m := range reflect.TypeFor[*grants.Request]().Methods() {
		if !slices.Contains(readers, m.Name) && !tested[m.Name] {
			t.Errorf("Request.%s is not in the transition table", m.Name)
		}
	}
}

// wantJournal checks that a transition journaled exactly the event want
// ("" for none), numbered after the record's earlier ones.
func wantJournal(t *testing.T, r, before *grants.Request, want grants.EventType) {
	t.Helper()
	added := r.Journal[len(before.Journal):]
	var got []grants.EventType
	for _, n := range added {
		got = append(got, n.Type)
	}
	if want == "" {
		if len(got) != 0 {
			t.Errorf("journaled %v, want nothing", got)
		}
		return
	}
	if !slices.Equal(got, []grants.EventType{want}) {
		t.Fatalf("journaled %v, want [%s]", got, want)
	}
	if n := added[0]; n.Seq != before.Notes+1 || r.Notes != n.Seq {
		t.Errorf("event numbered %d (record counts %d), want %d", n.Seq, r.Notes, before.Notes+1)
	}
}

func clone(t *testing.T, r *grants.Request) *grants.Request {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var c grants.Request
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestDecisionComesAfterEveryApproval: two approvers click at once; the one
// whose click took the later time reaches the record first. The decision
// must not predate the approval it counts, or the check before the AWS
// call drops that approval and refuses the grant.
func TestDecisionComesAfterEveryApproval(t *testing.T) {
	r := inState(grants.Pending)
	r.Approvals[0].At = t0.Add(time.Millisecond) // the first to land, timed later
	if err := r.Approve("USECOND", t0, lease); err != nil {
		t.Fatal(err)
	}
	if r.State != grants.Granting {
		t.Fatalf("state %s, want granting", r.State)
	}
	for _, a := range r.Approvals {
		if a.At.After(r.DecidedAt) {
			t.Errorf("approval by %s at %s is after the decision at %s", a.Approver, a.At.Format(time.RFC3339Nano), r.DecidedAt.Format(time.RFC3339Nano))
		}
	}
}
