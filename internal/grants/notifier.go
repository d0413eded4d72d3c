package grants

import (
	"context"
	"time"
)

// EventType names what happened to a request.
type EventType string

const (
	EventRequested    EventType = "requested"
	EventApproved     EventType = "approved" // one approval recorded (may be one of several needed)
	EventDenied       EventType = "denied"
	EventCancelled    EventType = "cancelled"
	EventAutoApproved EventType = "auto_approved"
	EventGranted      EventType = "granted"
	EventGrantFailed  EventType = "grant_failed"
	EventRevoked      EventType = "revoked"
	EventRevokeFailed EventType = "revoke_failed" // an alert: revocation keeps failing and is still being retried
	EventTimedOut     EventType = "timed_out"
	EventExpiring     EventType = "expiring" // the grant ends in ExpiryWarning; the requester may extend it
	EventRefused      EventType = "refused"  // someone who may not decide tried to; nothing changed
	EventReviewed     EventType = "reviewed" // an owner acknowledged a break-glass grant
	// EventReviewOverdue: nobody reviewed a break-glass grant within the
	// role's review_within; the owners are reminded.
	EventReviewOverdue EventType = "review_overdue"
	// EventReconciled: an IAM group member without a grant from jitbot was
	// found (and, with reconcile: enforce, removed). Its Request names only
	// the role, group and user; it has no ID.
	EventReconciled EventType = "reconciled"
	// EventGroupChanged: the members of a Slack user group the catalog
	// names (approvers, eligible or auto_approve) changed. Its Request
	// names only the roles, comma-separated; Err says who was added and
	// removed. Those groups are the root of trust.
	EventGroupChanged EventType = "group_changed"
	// EventUsage: what an ended grant was used for, from CloudTrail; Err
	// holds the summary.
	EventUsage EventType = "usage"
	// EventRevokeRetrying: one attempt to revoke failed, before the alert
	// (EventRevokeFailed); the record stays in Revoking and the next
	// attempt is scheduled.
	EventRevokeRetrying EventType = "revoke_retrying"
	// EventTampered: a record failed its integrity check (someone wrote
	// it to the store without jitbot's signing key). Nothing was granted
	// from it; what it may hold is being revoked. An alert.
	EventTampered EventType = "tampered"
	// EventReminded: nobody decided a request within the role's
	// remind_after; the approvers who have not answered are reminded.
	EventReminded EventType = "reminded"
	// EventEscalated: nobody decided a request within the role's
	// escalate_after; its escalation_approvers now approve it too, and
	// are asked.
	EventEscalated EventType = "escalated"
)

// Event is one step in a request's life, as seen by the audit trail and the
// Slack layer.
type Event struct {
	Type    EventType
	At      time.Time
	Request Request // the record as it was right after the step
	Actor   string  // Slack user ID of who caused it; empty for the system
	Err     string  // for failures: what went wrong
	// CatalogSHA256 identifies the role catalog in force when it happened:
	// the rules that decided are part of the evidence.
	CatalogSHA256 string
	// Note numbers the event among its request's journaled events (see
	// Request.Journal); with the request ID it names the event, so a
	// notifier can tell it got the same one twice. Zero for events that
	// change no record (refused, reconciled, usage).
	Note int
	// Credentials is set only on EventGranted for aws_sts. It is for the
	// requester's DM and nothing else: never log, store or post it.
	Credentials *Credentials
}

// Notifier receives events. Notify must not block on slow I/O: the domain
// never waits on Slack. Implementations queue and retry on their own.
type Notifier interface {
	Notify(ctx context.Context, e Event)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, e Event)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, e Event) { f(ctx, e) }

// Notifiers fans every event out to each notifier in turn.
type Notifiers []Notifier

// Notify passes e to every notifier.
func (ns Notifiers) Notify(ctx context.Context, e Event) {
	for _, n := range ns {
		n.Notify(ctx, e)
	}
}
