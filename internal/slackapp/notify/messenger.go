package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
)

// Messenger is the grants.Notifier that talks to the people of a request:
// it sends each approver a DM with Approve and Deny buttons, updates every
// copy when the request moves on, and tells the requester what happened,
// credentials included. It returns at once; the Slack calls run in the
// queue, in order per request.
type Messenger struct {
	svc  Records
	api  *slack.Client
	q    *queue.Queue
	refs Refs
	log  *slog.Logger
	now  func() time.Time

	// Portal is where Identity Center grants are used; set it before
	// subscribing the Messenger.
	Portal blockkit.Portal
	// Usage, when set, gives the approval DM a line on what the role's
	// past grants used. It must answer from memory: it runs on the way
	// to every approver.
	Usage interface{ Line(role string) string }
}

// Records is what Messenger reads from the service: a request as it is
// now, and who may approve it now.
type Records interface {
	Getter
	Approvers(ctx context.Context, r *grants.Request) ([]string, error)
}

// NewMessenger returns a Messenger that reads from svc. Build it after the
// service and subscribe it there (grants.Service.Subscribe).
func NewMessenger(svc Records, api *slack.Client, q *queue.Queue, refs Refs, log *slog.Logger) *Messenger {
	return &Messenger{svc: svc, api: api, q: q, refs: refs, log: log, now: time.Now}
}

// approverKey prefixes the Refs key of an approver's copy of the DM.
const approverKey = "approver:"

// Notify queues the messages an event calls for.
func (m *Messenger) Notify(_ context.Context, e grants.Event) {
	r := e.Request
	id := string(r.ID)
	// One queue per audience, each in order: the requester's DMs never
	// wait behind the approvers' copies or the audit thread (a credentials
	// DM used to queue behind six other writes).
	approvers, requester := "approvers:"+id, "requester:"+id
	switch e.Type {
	case grants.EventRequested:
		if r.State == grants.Pending {
			m.q.Do(approvers, "approval DMs", func(ctx context.Context) error { return m.askApprovers(ctx, &r) })
		}
	case grants.EventApproved, grants.EventDenied, grants.EventCancelled, grants.EventTimedOut, grants.EventTampered:
		m.q.Do(approvers, "update approval DMs", func(ctx context.Context) error { return m.updateApprovers(ctx, &r) })
		if e.Type == grants.EventApproved && r.State == grants.Pending && len(r.Steps) > 0 {
			// The approval may have completed a step: the next step's
			// approvers are asked; those who have their copy are skipped.
			m.q.Do(approvers, "approval DMs of the next step", func(ctx context.Context) error {
				cur, err := m.svc.Get(ctx, r.ID)
				if err != nil || cur.State != grants.Pending {
					return err
				}
				return m.askApprovers(ctx, cur)
			})
		}
	case grants.EventReminded:
		m.q.Do(approvers, "approval reminders", func(ctx context.Context) error { return m.remindApprovers(ctx, &r) })
	case grants.EventEscalated:
		// Approvers now include the escalation approvers; those who have
		// their copy already are skipped.
		m.q.Do(approvers, "escalation DMs", func(ctx context.Context) error {
			return m.dmOwners(ctx, &r, approverKey, blockkit.Escalation(&r), true)
		})
	}
	if r.AutoApproved && !r.ByWorkload() { // a workload's auto-approval is its rules', not break-glass
		m.review(e)
	}

	var blocks []slack.Block
	switch e.Type {
	case grants.EventRequested:
		if r.FiledBy == nil || r.State != grants.Pending {
			return
		}
		blocks = blockkit.FiledForYou(&r)
	case grants.EventApproved:
		if r.State != grants.Scheduled {
			return
		}
		blocks = blockkit.Scheduled(&r)
	case grants.EventCancelled:
		if r.DecidedBy == r.Requester.ID {
			return // they know
		}
		blocks = blockkit.Cancelled(&r)
	case grants.EventGranted:
		switch {
		case r.ByWorkload():
			// Its credentials go to the workload through the API alone;
			// they are not even rendered here.
		case r.Backend == grants.BackendSSO || r.Backend == grants.BackendSSOGroup:
			blocks = blockkit.GrantedSSO(&r, m.Portal)
		default:
			blocks = blockkit.Granted(&r, e.Credentials)
		}
		// The approvers' copies show "granted" rather than "approving".
		m.q.Do(approvers, "update approval DMs", func(ctx context.Context) error { return m.updateApprovers(ctx, &r) })
	case grants.EventDenied:
		blocks = blockkit.Denied(&r)
	case grants.EventTimedOut:
		blocks = blockkit.TimedOut(&r)
	case grants.EventGrantFailed:
		blocks = blockkit.GrantFailed(&r)
		m.q.Do(approvers, "update approval DMs", func(ctx context.Context) error { return m.updateApprovers(ctx, &r) })
	case grants.EventTampered:
		if r.Failure == "" {
			return // a grant being revoked; the requester hears when it is
		}
		blocks = blockkit.GrantFailed(&r)
	case grants.EventRevoked:
		blocks = blockkit.Revoked(&r)
	case grants.EventExpiring:
		blocks = blockkit.Expiring(&r, m.now())
	default:
		return
	}
	if r.ByWorkload() {
		// A workload has no Slack account: it learns the outcome, and
		// receives its credentials, through the API alone. Nothing of its
		// grant is posted to a DM.
		return
	}
	text := blockkit.Text(&r)
	if r.FiledBy != nil && (e.Type == grants.EventDenied || e.Type == grants.EventTimedOut || e.Type == grants.EventApproved) {
		m.tellFiler(&r, e.Type, text, blocks)
	}
	posted := false // a retry must not post the DM twice
	m.q.Do(requester, "DM to requester: "+string(e.Type), func(ctx context.Context) error {
		if !posted {
			ch, ts, err := m.api.PostMessageContext(ctx, r.Requester.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
			if err != nil {
				return err
			}
			posted = true
			if e.Type == grants.EventGranted {
				m.rememberGrantDM(ctx, &r, ch, ts)
			}
		}
		if e.Type == grants.EventRevoked {
			return m.scrubGrantDMs(ctx, &r)
		}
		return nil
	})
}

// grantKey prefixes the Refs key of a grant DM (one per post: an event
// handed over again after a crash posts another).
const grantKey = "granted:"

// rememberGrantDM records where the grant DM is, so that it can be
// scrubbed when the access ends. A failure is logged, not retried: a
// retry would post the credentials twice.
func (m *Messenger) rememberGrantDM(ctx context.Context, r *grants.Request, ch, ts string) {
	if err := m.refs.SetRef(ctx, r.ID, grantKey+ts, ch+":"+ts); err != nil {
		m.log.ErrorContext(ctx, "grant DM posted but its place not recorded; it will keep the credentials after the access ends",
			"request_id", r.ID, "err", err)
	}
}

// scrubGrantDMs rewrites every grant DM of r, once its access has ended,
// to say so without the credentials: a secret that no longer works still
// has no business in the requester's Slack history. Only messages in the
// requester's own DM are rewritten: a place forged in Redis must not make
// jitbot overwrite another message (an audit parent, someone else's DM).
func (m *Messenger) scrubGrantDMs(ctx context.Context, r *grants.Request) error {
	// Only STS grant DMs carry a secret, and only a recorded one can be
	// rewritten: the others cost no Slack call (a burst of 1,000 group
	// expiries made 1,000 conversations.open for nothing).
	if r.Backend != grants.BackendSTS {
		return nil
	}
	refs, err := m.refs.Refs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("find the grant DMs of %s: %w", r.ID, err)
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(refs)), func(k string) bool { return strings.HasPrefix(k, grantKey) }) {
		return nil
	}
	dm, _, _, err := m.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{r.Requester.ID}, ReturnIM: true})
	if err != nil {
		return fmt.Errorf("find the DM of %s to scrub %s: %w", r.Requester.ID, r.ID, err)
	}
	return m.updateCopies(ctx, r, grantKey, dm.ID, blockkit.Text(r), blockkit.GrantEnded(r))
}

// review keeps the owners of a role in the loop of a break-glass grant,
// which nobody approved: a review DM once it is granted, the copies
// updated once someone reviewed or ended it, a reminder when overdue.
func (m *Messenger) review(e grants.Event) {
	r := e.Request
	key := "review:" + string(r.ID)
	switch e.Type {
	case grants.EventGranted:
		m.q.Do(key, "review DMs", func(ctx context.Context) error {
			return m.dmOwners(ctx, &r, reviewKey, blockkit.ReviewRequest(&r), true)
		})
	case grants.EventReviewed, grants.EventRevoked:
		m.q.Do(key, "update review DMs", func(ctx context.Context) error { return m.updateReviews(ctx, &r) })
	case grants.EventReviewOverdue:
		m.q.Do(key, "review reminders", func(ctx context.Context) error {
			return m.dmOwners(ctx, &r, "", blockkit.ReviewReminder(&r), false)
		})
	}
}

// reviewKey prefixes the Refs key of an owner's review DM.
const reviewKey = "review:"

// dmOwners DMs blocks to every current approver of r. With a key, where
// each copy is goes to Refs, and owners who have their copy are skipped on
// a retry.
func (m *Messenger) dmOwners(ctx context.Context, r *grants.Request, key string, blocks []slack.Block, once bool) error {
	owners, err := m.svc.Approvers(ctx, r)
	if err != nil {
		return err
	}
	have := map[string]string{}
	if once {
		if have, err = m.refs.Refs(ctx, r.ID); err != nil {
			return err
		}
	}
	for _, u := range owners {
		if once && have[key+u] != "" {
			continue
		}
		ch, ts, err := m.api.PostMessageContext(ctx, u, slack.MsgOptionText(blockkit.Text(r), false), slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return fmt.Errorf("DM about %s to %s: %w", r.ID, u, err)
		}
		if key != "" {
			if err := m.refs.SetRef(ctx, r.ID, key+u, ch+":"+ts); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Messenger) updateReviews(ctx context.Context, r *grants.Request) error {
	if cur, err := m.svc.Get(ctx, r.ID); err == nil {
		r = cur
	}
	return m.updateCopies(ctx, r, reviewKey, "", blockkit.ApprovalText(r), blockkit.ReviewOutcome(r))
}

// askApprovers DMs every current approver and records where each copy is.
// On a retry, approvers who already have their copy are skipped.
func (m *Messenger) askApprovers(ctx context.Context, r *grants.Request) error {
	return m.dmOwners(ctx, r, approverKey, m.approvalRequest(r), true)
}

// updateApprovers rewrites every approver's copy to show r as it is now;
// once decided, the buttons are gone.
func (m *Messenger) updateApprovers(ctx context.Context, r *grants.Request) error {
	// Events of concurrent clicks can arrive in either order; the store
	// has the latest word.
	if cur, err := m.svc.Get(ctx, r.ID); err == nil {
		r = cur
	}
	blocks := m.approvalRequest(r)
	if r.State != grants.Pending {
		blocks = blockkit.ApprovalOutcome(r)
	}
	if r.State != grants.Pending || len(r.Steps) == 0 {
		return m.updateCopies(ctx, r, approverKey, "", blockkit.ApprovalText(r), blocks)
	}
	// A request with steps keeps its buttons only for the approvers of
	// the step it waits on; the others see whose turn it is.
	current, err := m.svc.Approvers(ctx, r)
	if err != nil {
		return err
	}
	passed := blockkit.StepPassed(r)
	return m.updateCopiesBy(ctx, r, approverKey, "", blockkit.ApprovalText(r), func(key string) []slack.Block {
		if slices.Contains(current, strings.TrimPrefix(key, approverKey)) {
			return blocks
		}
		return passed
	})
}

// updateCopies rewrites every DM about r whose Refs key starts with prefix
// to text and blocks; with a channel, only those in it.
func (m *Messenger) updateCopies(ctx context.Context, r *grants.Request, prefix, channel, text string, blocks []slack.Block) error {
	return m.updateCopiesBy(ctx, r, prefix, channel, text, func(string) []slack.Block { return blocks })
}

// updateCopiesBy is updateCopies with the blocks of each copy given by its
// Refs key.
func (m *Messenger) updateCopiesBy(ctx context.Context, r *grants.Request, prefix, channel, text string, blocksFor func(key string) []slack.Block) error {
	refs, err := m.refs.Refs(ctx, r.ID)
	if err != nil {
		return err
	}
	for key, ref := range refs {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		ch, ts, ok := strings.Cut(ref, ":")
		if !ok {
			continue
		}
		if channel != "" && ch != channel {
			m.log.WarnContext(ctx, "a recorded message place is not where it should be; left alone", "request_id", r.ID, "key", key, "channel", ch)
			continue
		}
		if _, _, _, err := m.api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocksFor(key)...)); err != nil {
			return fmt.Errorf("update DM of %s (%s): %w", r.ID, key, err)
		}
	}
	return nil
}

// tellFiler DMs who filed r for someone else the outcome the requester is
// told, in its own queue: never credentials, which go to the grantee alone.
func (m *Messenger) tellFiler(r *grants.Request, t grants.EventType, text string, blocks []slack.Block) {
	posted := false
	m.q.Do("filer:"+string(r.ID), "DM to filer: "+string(t), func(ctx context.Context) error {
		if posted {
			return nil
		}
		if _, _, err := m.api.PostMessageContext(ctx, r.FiledBy.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
			return err
		}
		posted = true
		return nil
	})
}

// remindKey prefixes the Refs key that records an approver's reminder, so
// a retry does not remind them twice.
const remindKey = "reminded:"

// remindApprovers posts the approval DM again, under a reminder, to every
// current approver of r who has not approved it, and strips the buttons
// from their earlier copy: the live copy is the one at the bottom of
// their DM.
func (m *Messenger) remindApprovers(ctx context.Context, r *grants.Request) error {
	if cur, err := m.svc.Get(ctx, r.ID); err == nil {
		r = cur
	}
	if r.State != grants.Pending {
		return nil
	}
	owners, err := m.svc.Approvers(ctx, r)
	if err != nil {
		return err
	}
	have, err := m.refs.Refs(ctx, r.ID)
	if err != nil {
		return err
	}
	for _, u := range owners {
		if have[remindKey+u] != "" || slices.ContainsFunc(r.Approvals, func(a grants.Approval) bool { return a.Approver == u }) {
			continue
		}
		ch, ts, err := m.api.PostMessageContext(ctx, u, slack.MsgOptionText(blockkit.ApprovalText(r), false), slack.MsgOptionBlocks(blockkit.Reminder(r)...))
		if err != nil {
			return fmt.Errorf("remind %s of %s: %w", u, r.ID, err)
		}
		ref := ch + ":" + ts
		if err := m.refs.SetRef(ctx, r.ID, remindKey+u, ref); err != nil {
			return err
		}
		if err := m.refs.SetRef(ctx, r.ID, approverKey+u, ref); err != nil {
			return err
		}
		if old := have[approverKey+u]; old != "" {
			m.supersede(ctx, r, old, ch)
		}
	}
	return nil
}

// supersede strips the buttons from an approver's earlier copy, in the
// channel of their new one; a failure is logged: the old copy's buttons
// still work, and the new copy is the one to use.
func (m *Messenger) supersede(ctx context.Context, r *grants.Request, ref, channel string) {
	ch, ts, ok := strings.Cut(ref, ":")
	if !ok || ch != channel {
		return
	}
	if _, _, _, err := m.api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText(blockkit.ApprovalText(r), false), slack.MsgOptionBlocks(blockkit.Superseded(r)...)); err != nil {
		m.log.WarnContext(ctx, "earlier approval DM not updated after the reminder", "request_id", r.ID, "err", err)
	}
}
