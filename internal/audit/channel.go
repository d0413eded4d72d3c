// Package audit keeps the audit trail that people read: in the audit
// channel, one parent message per request that always shows its current
// state, and a thread reply for every event. Break-glass grants, failures
// and refused decisions are also broadcast to the channel, not only the
// thread. It implements grants.Notifier and never blocks the domain.
package audit

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackmsg"
	"github.com/jitbot/jitbot/internal/slackpost"
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

// Channel posts the audit trail to one Slack channel.
type Channel struct {
	api     *slack.Client
	channel string
	refs    Refs
	q       *slackpost.Queue
	log     *slog.Logger
	get     Getter
}

// NewChannel returns the audit trail for channel. get may be nil, in which
// case the event's own copy of the record is shown.
func NewChannel(api *slack.Client, channel string, refs Refs, q *slackpost.Queue, get Getter, log *slog.Logger) *Channel {
	return &Channel{api: api, channel: channel, refs: refs, q: q, get: get, log: log}
}

// SetGetter sets the record source after construction (the service needs
// its notifiers before it exists).
func (c *Channel) SetGetter(g Getter) { c.get = g }

// Notify queues the event's thread reply and the parent's update.
func (c *Channel) Notify(_ context.Context, e grants.Event) {
	if c.channel == "" {
		return
	}
	// Credentials are for the requester's DM only; they never enter the
	// audit queue, not even in memory.
	e.Credentials = nil
	key := string(e.Request.ID)
	if key == "" {
		key = "audit:" + e.Request.Role
	}
	c.q.Do(key, "audit "+string(e.Type), func(ctx context.Context) error { return c.post(ctx, e) })
}

// post makes sure the parent exists and shows the current state, then adds
// the event to its thread. Retrying it is safe: the parent is found by its
// recorded place, and is updated, not posted again.
func (c *Channel) post(ctx context.Context, e grants.Event) error {
	if e.Request.ID == "" {
		// Findings about no request (reconciliation) stand on their own.
		if _, _, err := c.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(slackmsg.AuditEvent(e), false)); err != nil {
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
	text, blocks := slackmsg.AuditParent(r)
	ts := refs[parentKey]
	if ts == "" {
		_, ts, err = c.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return fmt.Errorf("post audit parent of %s: %w", r.ID, err)
		}
		if err := c.refs.SetRef(ctx, r.ID, parentKey, ts); err != nil {
			c.log.ErrorContext(ctx, "audit parent posted but its place not recorded; a later event starts a new parent", "request_id", r.ID, "err", err)
		}
	} else if _, _, _, err := c.api.UpdateMessageContext(ctx, c.channel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
		return fmt.Errorf("update audit parent of %s: %w", r.ID, err)
	}
	opts := []slack.MsgOption{slack.MsgOptionText(slackmsg.AuditEvent(e), false), slack.MsgOptionTS(ts)}
	if loud(e) {
		opts = append(opts, slack.MsgOptionBroadcast())
	}
	if _, _, err := c.api.PostMessageContext(ctx, c.channel, opts...); err != nil {
		return fmt.Errorf("post audit reply %s of %s: %w", e.Type, r.ID, err)
	}
	return nil
}

// loud events are also shown in the channel itself: break-glass access,
// failures, and attempts to decide by people who may not.
func loud(e grants.Event) bool {
	switch e.Type {
	case grants.EventAutoApproved, grants.EventGrantFailed, grants.EventRevokeFailed, grants.EventRefused, grants.EventReviewOverdue:
		return true
	case grants.EventGranted, grants.EventRevoked:
		return e.Request.AutoApproved
	}
	return false
}

// Announce posts a message about jitbot itself, not about a request (the
// catalog was reloaded, or a new one was rejected). text is plain text; it
// is escaped here.
func (c *Channel) Announce(text string) {
	if c.channel == "" {
		return
	}
	msg := slackmsg.Escape(text)
	c.q.Do("audit:announce", "audit announcement", func(ctx context.Context) error {
		_, _, err := c.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(msg, false))
		return err
	})
}
