// Package grants is jitbot's domain: the request/grant state machine, the
// service that enforces approval integrity, and the scheduler that revokes
// access at expiry. It owns the Store, Backend, Notifier and Directory
// interfaces and imports no Slack, AWS or Redis package.
package grants

import (
	"crypto/rand"
	"math/big"
	"slices"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// RequestID names one request from creation to revocation, e.g. JIT-7K3QX2.
type RequestID string

// State is where a request is in its lifecycle.
type State string

const (
	Pending   State = "pending"   // waiting for approvers
	Scheduled State = "scheduled" // approved; access is issued at Start (a window asked for ahead)
	Granting  State = "granting"  // approved; access is being issued (intent recorded before the AWS call)
	Active    State = "active"    // access issued, runs until ExpiresAt
	Revoking  State = "revoking"  // access is being taken away (intent recorded before the AWS call)
	Revoked   State = "revoked"   // access ended
	Denied    State = "denied"    // an approver said no, or the requester stopped being eligible
	Cancelled State = "cancelled" // the requester withdrew it before a decision
	TimedOut  State = "timed_out" // nobody decided within the role's request_ttl
	Failed    State = "failed"    // access could not be issued; anything half-done was removed
)

// Terminal reports whether no further transition can happen.
func (s State) Terminal() bool {
	switch s {
	case Revoked, Denied, Cancelled, TimedOut, Failed:
		return true
	}
	return false
}

// Backend kinds, as written in the role catalog.
const (
	BackendSTS      = "aws_sts"
	BackendGroup    = "aws_iam_group"
	BackendSSO      = "aws_sso"       // an Identity Center permission set assigned in an account
	BackendSSOGroup = "aws_sso_group" // membership of an Identity Center group
)

// Approval is one approver's yes.
type Approval struct {
	Approver string    `json:"approver"` // Slack user ID
	At       time.Time `json:"at"`
	// Step is the approval step (from 0) it was given at; always 0 for
	// a role approved in one step.
	Step int `json:"step,omitempty"`
}

// Request is the one record kept per request. Everything shown to people or
// acted upon is read from it; the catalog is consulted only for decisions
// that must use the rules in force (eligibility, who may approve), so a role
// removed from the catalog is still revoked on time.
type Request struct {
	ID    RequestID `json:"id"`
	State State     `json:"state"`
	// Requester is the Slack user the access is for: who asked, or, when
	// FiledBy is set, the grantee someone else asked for. For a workload's
	// request its ID is empty and its Name is "<issuer_name>:<subject>",
	// which no Slack user ID can equal (see requestedBy).
	Requester rules.User `json:"requester"`
	// FiledBy is who filed the request for Requester (/jit request --for),
	// as the directory knew them then; nil when the requester asked for
	// themselves. Neither may approve it; only Requester gets the access.
	FiledBy *rules.User `json:"filed_by,omitempty"`
	// Workload is the CI job or agent that asked, as its verified token
	// described it; nil for a person's request.
	Workload *rules.Workload `json:"workload,omitempty"`
	Role     string          `json:"role"`
	Backend  string          `json:"backend"`
	// Target is the role ARN (aws_sts) or the IAM group name (aws_iam_group).
	Target string `json:"target"`
	// Account is the account ID of an aws_sso grant, also in Target.
	Account string `json:"account,omitempty"`
	// Principal is the IAM user name for aws_iam_group, from the role's
	// iam_user rule, or the Identity Center user name for aws_sso and
	// aws_sso_group, from its sso_user rule.
	Principal     string        `json:"principal,omitempty"`
	SessionPolicy string        `json:"session_policy,omitempty"`
	Duration      time.Duration `json:"duration"`
	// AllowRoleChaining is the role's allow_role_chaining when requested.
	AllowRoleChaining bool `json:"allow_role_chaining,omitempty"`
	// Extends is the grant this request asks more time for (/jit extend).
	// Approved, it issues access from then until that grant's expiry plus
	// Duration.
	Extends  RequestID `json:"extends,omitempty"`
	Reason   string    `json:"reason"`
	Incident string    `json:"incident,omitempty"`
	// Rule is the CEL expression that made the requester eligible, or, when
	// AutoApproved, the auto_approve expression that granted it.
	Rule              string `json:"rule"`
	AutoApproved      bool   `json:"auto_approved,omitempty"`
	ApprovalsRequired int    `json:"approvals_required"`
	// Steps are the role's approval_steps when it was filed, in order;
	// nil for a role approved in one step. ApprovalsRequired is then
	// their sum, at least.
	Steps []ApprovalStep `json:"steps,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	Deadline  time.Time `json:"deadline"` // pending requests time out here
	// Start is when a window asked for ahead begins (/jit request
	// --start); zero for access wanted now. Approved before it, the
	// request waits in Scheduled; access is issued at Start and ends at
	// Start+Duration. Deadline is then Start: unapproved, it times out.
	Start time.Time `json:"start,omitzero"`
	// RemindAt is when the approvers who have not answered are reminded,
	// and EscalateAt when the role's escalation_approvers are added;
	// each is zero once done, or when the role sets none. Escalated
	// records that they were added: from then on they approve r too.
	RemindAt   time.Time `json:"remind_at,omitzero"`
	EscalateAt time.Time `json:"escalate_at,omitzero"`
	Escalated  bool      `json:"escalated,omitempty"`
	// EscalatedStep is the approval step r waited on when it escalated:
	// the escalation approvers approve that step only, so a stalled
	// owner's step never lets them fill a later one (say @security's).
	EscalatedStep int        `json:"escalated_step,omitempty"`
	Approvals     []Approval `json:"approvals,omitempty"`

	DecidedBy   string    `json:"decided_by,omitempty"` // who denied or cancelled; empty when the system did
	DecidedAt   time.Time `json:"decided_at,omitzero"`
	DenyReason  string    `json:"deny_reason,omitempty"`
	GrantedAt   time.Time `json:"granted_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	SessionName string    `json:"session_name,omitempty"`  // STS RoleSessionName
	AccessKeyID string    `json:"access_key_id,omitempty"` // not a secret; lets CloudTrail be matched
	CredsExpire time.Time `json:"creds_expire,omitzero"`   // when issued STS credentials stop working by themselves
	// The AWS request IDs of the calls that issued and removed the access,
	// for matching CloudTrail.
	GrantAWSRequestID  string `json:"grant_aws_request_id,omitempty"`
	RevokeAWSRequestID string `json:"revoke_aws_request_id,omitempty"`
	// Notice tells the requester why the request took another path than
	// they may expect (break-glass limit reached, on-call source down).
	Notice string `json:"notice,omitempty"`
	// DryRun marks a request made while jitbot ran as a dry run
	// (JIT_DRY_RUN): a dry-run backend issues and removes its access,
	// which means AWS is never called for it, whatever mode jitbot is in
	// when the grant ends. DryRunGrant and DryRunRevoke are the AWS calls
	// that backend would have made to issue and to remove it, one line
	// each, for people to check.
	DryRun       bool     `json:"dry_run,omitempty"`
	DryRunGrant  []string `json:"dry_run_grant,omitempty"`
	DryRunRevoke []string `json:"dry_run_revoke,omitempty"`
	// ReviewDue is when an unreviewed break-glass grant is escalated to the
	// role's owners; zero once reviewed or escalated, and for grants that
	// people approved.
	ReviewDue  time.Time `json:"review_due,omitzero"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at,omitzero"`
	// WarnAt is when the requester is told the grant ends soon; zero once
	// told, or for grants too short to need it.
	WarnAt       time.Time `json:"warn_at,omitzero"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`    // empty for expiry
	RevokeReason string    `json:"revoke_reason,omitempty"` // "expired", "revoked by requester", "grant failed", …
	CleanupAt    time.Time `json:"cleanup_at,omitzero"`     // backend housekeeping due after revocation (STS deny statement removal)
	Failure      string    `json:"failure,omitempty"`       // why issuing access failed

	Attempts    int       `json:"attempts,omitempty"` // consecutive failed backend calls
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// LeaseUntil keeps the scheduler away while a worker is calling AWS for
	// this record; a crashed worker's lease simply lapses.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// LeaseOwner is the process that took the lease (Options.Process):
	// when it is no longer alive, another takes the record over at once.
	LeaseOwner string `json:"lease_owner,omitempty"`

	// Journal holds the events of transitions written with this record
	// that have not been handed to the notifiers yet. A transition and its
	// event are written in one step, so a process that dies between the
	// write and the audit append leaves the event here; the scheduler
	// hands it over JournalGrace later (see Service.publish).
	Journal []Note `json:"journal,omitempty"`
	// Notes counts the events ever journaled for this record; it numbers
	// them, so an event handed over twice is appended to the audit log once.
	Notes int `json:"notes,omitempty"`

	// Tampered is set by the store when the record read failed its
	// integrity check: someone without jitbot's signing key wrote it. It is
	// never stored. The service grants nothing from such a record and takes
	// away whatever it may hold (see Service.quarantine).
	Tampered bool `json:"-"`
}

// Note is a journaled event: what happened, when and by whom. The record
// it belongs to supplies the rest of the Event.
type Note struct {
	Seq   int       `json:"seq"`
	Type  EventType `json:"type"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor,omitempty"`
	Err   string    `json:"err,omitempty"`
}

// JournalGrace is how long a journaled event may wait for the process
// that wrote it before the scheduler hands it to the notifiers instead.
// The writer normally does so within milliseconds.
const JournalGrace = 10 * time.Second

// leftNotes returns the journaled events older than JournalGrace: their
// writer would have handed them over by now, so it has stopped. Newer ones
// are still their writers' to hand over.
func (r *Request) leftNotes(now time.Time) []Note {
	n := 0
	for n < len(r.Journal) && !now.Before(r.Journal[n].At.Add(JournalGrace)) {
		n++
	}
	return r.Journal[:n]
}

// note journals an event of the transition being written.
func (r *Request) note(t EventType, at time.Time, actor, err string) {
	r.Notes++
	r.Journal = append(r.Journal, Note{Seq: r.Notes, Type: t, At: at, Actor: actor, Err: err})
}

// handedOver drops the journaled events notes, now that the notifiers
// have them. ErrStale: none of them was left, so another process (the
// scheduler) handed them over and dropped them already.
func (r *Request) handedOver(notes []Note) error {
	n := len(r.Journal)
	r.Journal = slices.DeleteFunc(r.Journal, func(j Note) bool {
		return slices.ContainsFunc(notes, func(n Note) bool { return n.Seq == j.Seq })
	})
	if len(r.Journal) == n {
		return ErrStale
	}
	return nil
}

// ReasonExpired is the RevokeReason of a grant that ran its full time.
const ReasonExpired = "expired"

// ReasonTampered is the RevokeReason and Failure of a record that failed
// its integrity check (Request.Quarantine).
const ReasonTampered = "the record failed its integrity check: it was written without jitbot's signing key"

// Queue names the scheduler's two sorted sets.
type Queue string

const (
	Deadlines Queue = "deadlines" // pending requests, by request deadline
	Expiries  Queue = "expiries"  // granted access, by expiry, retry or cleanup time
)

// Schedule says when the scheduler must next look at r and in which queue.
// A zero time means never: the record is finished.
func (r *Request) Schedule() (Queue, time.Time) {
	var q Queue
	var at time.Time
	switch r.State {
	case Pending:
		q, at = Deadlines, r.Deadline
		for _, t := range []time.Time{r.RemindAt, r.EscalateAt} {
			if !t.IsZero() && t.Before(at) {
				at = t
			}
		}
	case Scheduled:
		q, at = Expiries, r.Start
	case Granting:
		q, at = Expiries, r.LeaseUntil
	case Active:
		q, at = Expiries, r.ExpiresAt
		if !r.WarnAt.IsZero() && r.WarnAt.Before(at) {
			at = r.WarnAt
		}
	case Revoking:
		q, at = Expiries, r.NextAttempt
	default:
		q, at = Expiries, r.CleanupAt
	}
	// The owners' review of a break-glass grant is due whatever became of
	// the grant itself.
	if !r.ReviewDue.IsZero() && (at.IsZero() || r.ReviewDue.Before(at)) {
		q, at = Expiries, r.ReviewDue
	}
	// An event its writer did not hand over: the scheduler delivers it.
	if len(r.Journal) > 0 {
		if due := r.Journal[0].At.Add(JournalGrace); at.IsZero() || due.Before(at) {
			q, at = Expiries, due
		}
	}
	if at.IsZero() {
		return "", time.Time{}
	}
	if r.LeaseUntil.After(at) {
		at = r.LeaseUntil
	}
	return q, at
}

// idAlphabet leaves out 0, 1, I, L, O and U so IDs survive being read aloud
// or copied by hand.
const idAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewRequestID returns a fresh random ID such as JIT-7K3QX2 (30⁶ ≈ 7.3e8 values;
// Store.Create rejects the rare collision and the caller draws again).
func NewRequestID() RequestID {
	b := []byte("JIT-XXXXXX")
	max := big.NewInt(int64(len(idAlphabet)))
	for i := 4; i < len(b); i++ {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		b[i] = idAlphabet[n.Int64()]
	}
	return RequestID(b)
}
