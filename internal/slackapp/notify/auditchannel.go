// Package notify holds the two grants.Notifiers that write to Slack.
// Messenger talks to the people of a request: approvers, owners and the
// requester. AuditChannel keeps the audit trail that people read: in the
// audit channel, one parent message per request that always shows its current
// state, and a thread reply for every event. Break-glass grants, failures
// and refused decisions are also broadcast to the channel, not only the
// thread. It implements grants.Notifier and never blocks the domain.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
)

// Refs remembers where a request's parent message is, across restarts.
type Refs interface {
	SetRef(ctx context.Context, id grants.RequestID, key, value string) error
	Refs(ctx context.Context, id grants.RequestID) (map[string]string, error)
}

// Getter reads the current record, so a parent message never goes back to
// an older state when events of concurrent clicks arrive out of order.
type Getter interface {
	Get(ctx context.Context, id grants.RequestID) (*grants.Request, error)
}

const parentKey = "audit"

// AuditChannel posts the audit trail to one Slack channel.
type AuditChannel struct {
	api     *slack.Client
	channel string
	refs    Refs
	q       *queue.Queue
	log     *slog.Logger
	get     Getter

	mu sync.Mutex
	// queued counts each request's events handed to the queue and not yet
	// started. A post with another event of its request queued behind it
	// leaves the parent message to that one: in a flood, when Slack's
	// limits hold the queue back, a request's events pile up, and one
	// chat.update (Tier 3, ~50 a minute per workspace) shows them all.
	queued map[grants.RequestID]int
}

// NewAuditChannel returns the audit trail for channel. get may be nil, in which
// case the event's own copy of the record is shown.
func NewAuditChannel(api *slack.Client, channel string, refs Refs, q *queue.Queue, get Getter, log *slog.Logger) *AuditChannel {
	return &AuditChannel{api: api, channel: channel, refs: refs, q: q, get: get, log: log, queued: map[grants.RequestID]int{}}
}

// Notify queues the event's thread reply and the parent's update.
func (c *AuditChannel) Notify(_ context.Context, e grants.Event) {
	if c.channel == "" {
		return
	}
	// Credentials are for the requester's DM only; they never enter the
	// audit queue, not even in memory.
	e.Credentials = nil
	id := e.Request.ID
	key := string(id)
	if key == "" {
		key = "audit:" + e.Request.Role
	}
	c.mu.Lock()
	c.queued[id]++
	c.mu.Unlock()
	behind := -1 // events of the request queued after this one, counted when it starts
	if !c.q.Do(key, "audit "+string(e.Type), func(ctx context.Context) error {
		if behind < 0 { // retries run on the same goroutine: count once
			behind = c.start(id)
		}
		return c.post(ctx, e, behind > 0)
	}) {
		c.start(id)
	}
}

// start records that one of id's queued events is being posted, and
// returns how many are still queued after it.
func (c *AuditChannel) start(id grants.RequestID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued[id]--
	n := c.queued[id]
	if n <= 0 {
		delete(c.queued, id)
	}
	return n
}

// post makes sure the parent exists and shows the current state, then adds
// the event to its thread. An existing parent is left as it is when a later
// event of the request is queued (later), as that one's post updates it
// with the state then. Retrying post is safe: the parent is found by its
// recorded place, and is updated, not posted again.
func (c *AuditChannel) post(ctx context.Context, e grants.Event, later bool) error {
	if e.Request.ID == "" {
		// Findings about no request (reconciliation) stand on their own.
		if _, _, err := c.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(blockkit.AuditEvent(e), false)); err != nil {
			return fmt.Errorf("post audit %s: %w", e.Type, err)
		}
		return nil
	}
	r := &e.Request
	if c.get != nil {
		if cur, err := c.get.Get(ctx, r.ID); err == nil {
			r = cur
		}
	}
	refs, err := c.refs.Refs(ctx, r.ID)
	if err != nil {
		return err
	}
	text, blocks := blockkit.AuditParent(r)
	ts := refs[parentKey]
	switch {
	case ts == "":
		_, ts, err = c.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return fmt.Errorf("post audit parent of %s: %w", r.ID, err)
		}
		if err := c.refs.SetRef(ctx, r.ID, parentKey, ts); err != nil {
			c.log.ErrorContext(ctx, "audit parent posted but its place not recorded; a later event starts a new parent", "request_id", r.ID, "err", err)
		}
	case later:
		// The post of the last queued event updates the parent.
	default:
		if _, _, _, err := c.api.UpdateMessageContext(ctx, c.channel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
			return fmt.Errorf("update audit parent of %s: %w", r.ID, err)
		}
	}
	opts := []slack.MsgOption{slack.MsgOptionText(blockkit.AuditEvent(e), false), slack.MsgOptionTS(ts)}
	if loud(e) {
		opts = append(opts, slack.MsgOptionBroadcast())
	}
	if _, _, err := c.api.PostMessageContext(ctx, c.channel, opts...); err != nil {
		return fmt.Errorf("post audit reply %s of %s: %w", e.Type, r.ID, err)
	}
	return nil
}

// loud events are also shown in the channel itself: break-glass access,
// failures, attempts to decide by people who may not, and records changed
// outside jitbot.
func loud(e grants.Event) bool {
	switch e.Type {
	case grants.EventAutoApproved, grants.EventGrantFailed, grants.EventRevokeFailed, grants.EventRefused, grants.EventReviewOverdue, grants.EventTampered:
		return true
	case grants.EventGranted, grants.EventRevoked:
		return e.Request.AutoApproved
	}
	return false
}

// Announce posts a message about jitbot itself, not about a request (the
// catalog was reloaded, or a new one was rejected). text is plain text; it
// is escaped here.
func (c *AuditChannel) Announce(text string) {
	if c.channel == "" {
		return
	}
	msg := blockkit.Escape(text)
	c.q.Do("audit:announce", "audit announcement", func(ctx context.Context) error {
		_, _, err := c.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(msg, false))
		return err
	})
}
