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
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/pace"
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

// channelKey is the queue key of the audit channel's one writer. Slack
// lets a bot post about once a second to a channel; writers of their own
// per request would only take turns at 429s.
const channelKey = "audit:channel"

// AuditChannel posts the audit trail to one Slack channel. Events wait in
// a backlog for the channel's writer, which shows all that waits in one
// post a turn: a request's events in one thread reply, or, when several
// requests wait while Slack holds the channel back (a 429 in the last
// minute), one digest naming them all. When Slack's limits hold the
// writer back, events pile up and fewer posts show them all; none is
// dropped. DMs never wait for it: they have queue keys of their own.
type AuditChannel struct {
	api     *slack.Client
	channel string
	refs    Refs
	q       *queue.Queue
	log     *slog.Logger
	get     Getter

	// UpdateGap is the least time between two parent updates made to catch
	// up after a digest. chat.update's budget (Tier 3, ~50 a minute) is the
	// workspace's, shared with the approvers' DMs: catching up slowly
	// leaves them most of it. Default 2s.
	UpdateGap time.Duration

	// Turns, when set, is the channel's schedule shared by every replica
	// (internal/turns): while Slack holds the channel back, each post
	// waits for its turn on it, so that a replica's writer is not refused
	// for as long as another's is busy. Until then posts go at once, as
	// Slack allows a burst. A wait keeps the channel counted as held back:
	// events are folded into digests.
	Turns interface {
		Wait(context.Context) (time.Duration, error)
	}

	mu sync.Mutex
	// backlog holds each request's events not shown yet, in the order they
	// came; order lists the requests by their oldest such event.
	backlog map[grants.RequestID][]grants.Event
	order   []grants.RequestID
	// behind lists the requests whose parent does not show what a digest
	// or a reply showed, oldest first; isBehind is the same set. Only the
	// IDs are kept, and a catch-up reads the record as it is then: 100,000
	// grants ending in ten minutes left tens of thousands of parents
	// behind, and their copies held over 100 MiB of a replica's memory.
	// An ID that caught up leaves isBehind at once, and behind when it
	// comes to the front.
	behind     []grants.RequestID
	isBehind   map[grants.RequestID]bool
	scheduled  bool      // a turn is queued and has not started
	lastUpdate time.Time // of a catch-up
	limitedAt  time.Time // when Slack last refused a write for its rate
}

// NewAuditChannel returns the audit trail for channel. get may be nil, in which
// case the event's own copy of the record is shown.
func NewAuditChannel(api *slack.Client, channel string, refs Refs, q *queue.Queue, get Getter, log *slog.Logger) *AuditChannel {
	return &AuditChannel{api: api, channel: channel, refs: refs, q: q, get: get, log: log,
		UpdateGap: 2 * time.Second, backlog: map[grants.RequestID][]grants.Event{}, isBehind: map[grants.RequestID]bool{}}
}

// Notify adds the event to the backlog and makes sure a turn of the
// channel's writer is queued.
func (c *AuditChannel) Notify(_ context.Context, e grants.Event) {
	if c.channel == "" {
		return
	}
	// Credentials are for the requester's DM only; they never enter the
	// audit queue, not even in memory.
	e.Credentials = nil
	id := e.Request.ID
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.backlog[id]; !ok {
		c.order = append(c.order, id)
	}
	c.backlog[id] = append(c.backlog[id], e)
	c.schedule()
}

// schedule queues a turn unless one is queued already. c.mu is held.
func (c *AuditChannel) schedule() {
	if !c.scheduled {
		c.scheduled = c.q.Do(channelKey, "audit channel", c.turn)
	}
}

// post makes sure the parent of the events' request exists and shows its
// current state, then adds the events to its thread in one reply.
// Retrying post is safe: the parent is found by its recorded place, and is
// updated, not posted again. When Slack rate limits the update (chat.update
// is the workspace's budget, shared with DMs), the reply is posted all the
// same and behind reports that the parent is to catch up later. Findings
// about no request (reconciliation) stand on their own.
func (c *AuditChannel) post(ctx context.Context, events []grants.Event) (behind bool, err error) {
	reply := eventLines(events)
	last := events[len(events)-1]
	if last.Request.ID == "" {
		if _, err := c.postMessage(ctx, slack.MsgOptionText(reply, false)); err != nil {
			return false, fmt.Errorf("post audit %s: %w", last.Type, err)
		}
		return false, nil
	}
	ts, err := c.showParent(ctx, last.Request)
	var rl *slack.RateLimitedError
	switch {
	case ts != "" && errors.As(err, &rl):
		c.limitedNow()
		behind = true
	case err != nil:
		return false, err
	}
	opts := []slack.MsgOption{slack.MsgOptionText(reply, false), slack.MsgOptionTS(ts)}
	if slices.ContainsFunc(events, loud) {
		opts = append(opts, slack.MsgOptionBroadcast())
	}
	if _, err := c.postMessage(ctx, opts...); err != nil {
		return false, fmt.Errorf("post audit reply %s of %s: %w", last.Type, last.Request.ID, err)
	}
	return behind, nil
}

// showParent posts the parent of r, or updates it to r's current state
// (the event's copy when the record cannot be read), and returns its ts,
// which it also returns when the update fails.
func (c *AuditChannel) showParent(ctx context.Context, r grants.Request) (string, error) {
	cur := &r
	if c.get != nil {
		if got, err := c.get.Get(ctx, r.ID); err == nil {
			cur = got
		}
	}
	return c.show(ctx, cur, false)
}

// show posts the parent of cur or updates it to show cur, as showParent.
// Paced, an update first waits UpdateGap after the last paced one.
func (c *AuditChannel) show(ctx context.Context, cur *grants.Request, paced bool) (string, error) {
	refs, err := c.refs.Refs(ctx, cur.ID)
	if err != nil {
		return "", err
	}
	text, blocks := blockkit.AuditParent(cur)
	ts := refs[parentKey]
	if ts == "" {
		ts, err = c.postMessage(ctx, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return "", fmt.Errorf("post audit parent of %s: %w", cur.ID, err)
		}
		if err := c.refs.SetRef(ctx, cur.ID, parentKey, ts); err != nil {
			c.log.ErrorContext(ctx, "audit parent posted but its place not recorded; a later event starts a new parent", "request_id", cur.ID, "err", err)
		}
		return ts, nil
	}
	if paced {
		if err := c.waitGap(ctx); err != nil {
			return "", err
		}
	}
	// chat.update's turns are the workspace's, and once Slack holds it back
	// the approvers' DM updates queue for them, a thousand in an incident.
	// The parent does not queue behind them: it is refused at once, stays
	// behind and catches up later, while the thread replies show the events.
	if _, _, _, err := c.api.UpdateMessageContext(pace.NoWait(ctx), c.channel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
		return ts, fmt.Errorf("update audit parent of %s: %w", cur.ID, err)
	}
	return ts, nil
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

// postMessage posts to the channel: at once, or, while Slack holds the
// channel back, once it is this replica's turn on the shared schedule. A
// schedule that cannot be read (Redis unreachable) does not stop the
// post: Slack's own answers pace it then.
func (c *AuditChannel) postMessage(ctx context.Context, opts ...slack.MsgOption) (string, error) {
	if c.Turns != nil && c.limited() {
		waited, err := c.Turns.Wait(ctx)
		switch {
		case ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil:
			c.log.DebugContext(ctx, "audit channel posts without its shared turn", "err", err)
		case waited > 0:
			c.limitedNow()
		}
	}
	_, ts, err := c.api.PostMessageContext(ctx, c.channel, opts...)
	if rl := (*slack.RateLimitedError)(nil); errors.As(err, &rl) {
		c.limitedNow() // the next posts book their turns
	}
	return ts, err
}

// Announce posts a message about jitbot itself, not about a request (the
// catalog was reloaded, or a new one was rejected). text is plain text; it
// is escaped here.
func (c *AuditChannel) Announce(text string) {
	if c.channel == "" {
		return
	}
	msg := blockkit.Escape(text)
	c.q.Do(channelKey, "audit announcement", func(ctx context.Context) error {
		_, err := c.postMessage(ctx, slack.MsgOptionText(msg, false))
		return err
	})
}
