package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
)

const (
	// digestAt is how many requests must be waiting for a turn to show
	// them in one digest rather than in their threads one by one.
	digestAt = 3
	// maxPostText bounds the text of a folded reply or a digest, well
	// under Slack's 40,000 characters; what does not fit waits a turn.
	maxPostText = 30000
	// digestMax is more requests than one digest can name (a section is
	// at least about 75 characters), so a round copies no more than that
	// of the backlog, however long it is.
	digestMax = maxPostText / 64
)

// waiting is the events of one request that a turn shows.
type waiting struct {
	id     grants.RequestID
	events []grants.Event
}

// turn shows what waits, one post a round, until nothing does: the
// events of one request in its thread or, when several requests wait
// while Slack holds the channel back, a digest of them all. With nothing
// waiting, it brings one parent that a digest left behind up to date. A turn that fails is retried by the queue (after Retry-After when
// rate limited), and then takes in what came meanwhile: a backed-up
// channel folds more events into each post. A turn goes on while work is
// left.
func (c *AuditChannel) turn(ctx context.Context) error {
	// One job shows everything: a job queued from inside a job is refused
	// once the queue shuts down, and what came in the last moments before
	// the stop would be dropped.
	for {
		more, err := c.round(ctx)
		if err != nil {
			c.mu.Lock()
			c.scheduled = false // the queue retries this job; Notify may queue another
			c.mu.Unlock()
			return err
		}
		if !more {
			return nil
		}
	}
}

// round shows one post's worth of what waits (see turn) and reports
// whether more waits; when nothing does, the writer is idle.
func (c *AuditChannel) round(ctx context.Context) (more bool, err error) {
	c.mu.Lock()
	limited := c.limitedLocked()
	// A round shows one request's events, or one digest's worth while
	// Slack holds the channel back: it takes no more of the backlog. With
	// tens of thousands of requests waiting (an expiry burst), copying
	// the whole backlog each round made each round slower than the events
	// came, and the process spent its CPU on that copy.
	take := 1
	if limited {
		take = digestMax
	}
	batch := c.waitingLocked(take)
	var stale grants.RequestID
	if len(batch) == 0 {
		stale = c.nextBehindLocked()
	}
	c.mu.Unlock()

	// behind: the parents of batch do not show what it shows. Requests
	// are folded into a digest only while Slack holds the channel back;
	// otherwise each gets its own thread, one turn each.
	behind := limited && len(batch) >= digestAt
	switch {
	case behind:
		batch, err = c.digest(ctx, batch)
	case len(batch) > 0:
		batch = batch[:1]
		batch[0].events = fit(batch[0].events)
		behind, err = c.post(ctx, batch[0].events)
	case stale != "":
		err = c.catchUp(ctx, stale)
	}
	if rl := (*slack.RateLimitedError)(nil); errors.As(err, &rl) {
		c.limitedNow()
		if stale != "" {
			// The catch-up stays behind and is tried again after
			// UpdateGap. Waiting out its Retry-After instead (minutes,
			// when approval DMs hold chat.update's turns) would keep
			// every event that comes meanwhile from the channel.
			stale, err = "", nil
		}
	}
	if err != nil && ctx.Err() != nil {
		// Shutting down, past the queue's grace: what waits is not shown
		// in the channel (the durable log has it). Said once; giving up
		// request by request wrote thousands of errors at every stop.
		c.mu.Lock()
		waiting := len(c.order)
		c.mu.Unlock()
		c.log.Warn("audit channel stopped with events not shown; the durable log has them", "requests", waiting)
		return false, err
	}
	if err != nil && !queue.Permanent(err) {
		return false, err
	}
	if err != nil {
		// As the queue gives up on such a write: the durable log keeps
		// the events; the channel cannot show them.
		c.log.ErrorContext(ctx, "audit post given up", "requests", len(batch), "err", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.shownLocked(batch, behind)
	if stale != "" {
		c.caughtUpLocked(stale)
	}
	more = len(c.order) > 0 || len(c.isBehind) > 0
	if !more {
		c.scheduled = false
	}
	return more, nil
}

// waitingLocked copies the first max requests of the backlog, in order.
// c.mu is held.
func (c *AuditChannel) waitingLocked(max int) []waiting {
	batch := make([]waiting, 0, min(max, len(c.order)))
	for _, id := range c.order[:min(max, len(c.order))] {
		batch = append(batch, waiting{id: id, events: append([]grants.Event(nil), c.backlog[id]...)})
	}
	return batch
}

// shownLocked takes the events of batch, a prefix of the backlog's order
// (Notify only appends to it), out of the backlog. Requests whose parent
// does not show them (a digest's, or an update Slack refused) are left
// behind until it catches up; the others' parents are up to date. c.mu is
// held.
func (c *AuditChannel) shownLocked(batch []waiting, behind bool) {
	var kept []grants.RequestID // of batch, with events still to show
	for _, w := range batch {
		rest := c.backlog[w.id][len(w.events):]
		if len(rest) > 0 {
			c.backlog[w.id] = rest
			kept = append(kept, w.id)
		} else {
			delete(c.backlog, w.id)
		}
		if w.id == "" {
			continue
		}
		if !behind {
			c.caughtUpLocked(w.id)
			continue
		}
		if !c.isBehind[w.id] {
			c.behind = append(c.behind, w.id)
			c.isBehind[w.id] = true
		}
	}
	// The batch was the order's first len(batch); those kept stay first,
	// in their order. Nothing after them is copied.
	k := len(batch)
	copy(c.order[k-len(kept):k], kept)
	c.order = c.order[k-len(kept):]
}

func (c *AuditChannel) caughtUpLocked(id grants.RequestID) {
	delete(c.isBehind, id)
}

// nextBehindLocked returns the oldest request still behind, or "" when
// none is, dropping from the front of c.behind the IDs that caught up
// since they were listed. c.mu is held.
func (c *AuditChannel) nextBehindLocked() grants.RequestID {
	for len(c.behind) > 0 && !c.isBehind[c.behind[0]] {
		c.behind = c.behind[1:]
	}
	if len(c.behind) == 0 {
		c.behind = nil // let go of the array the IDs were in
		return ""
	}
	return c.behind[0]
}

// catchUp brings the parent of a request that is behind up to date with
// the record as it is now. A record that cannot be read (gone after its
// retention, or changed outside jitbot) leaves the parent as it was: its
// events are in the thread or a digest, the record's fate is the
// reconciler's to report, and an unreadable record must not hold the
// channel's writer in a retry loop.
func (c *AuditChannel) catchUp(ctx context.Context, id grants.RequestID) error {
	if c.get == nil {
		return nil
	}
	r, err := c.get.Get(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.WarnContext(ctx, "audit parent left as it was: its record cannot be read", "request_id", id, "err", err)
		return nil
	}
	_, err = c.show(ctx, r, true)
	return err
}

// digest posts one message naming the waiting requests and their events,
// as many as fit, and returns those it named.
func (c *AuditChannel) digest(ctx context.Context, batch []waiting) ([]waiting, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Audit digest: the channel is busy, so these events are shown together; each request's message catches up later.")
	n := 0
	for _, w := range batch {
		section := "\n\n" + digestSection(w)
		if n > 0 && b.Len()+len(section) > maxPostText {
			break
		}
		b.WriteString(section)
		n++
	}
	if _, err := c.postMessage(ctx, slack.MsgOptionText(b.String(), false)); err != nil {
		return nil, fmt.Errorf("post audit digest of %d requests: %w", n, err)
	}
	return batch[:n], nil
}

// digestSection names the request and lists its events in order.
func digestSection(w waiting) string {
	head := "Findings about no request"
	if w.id != "" {
		r := w.events[len(w.events)-1].Request
		head = fmt.Sprintf("`%s` · %s · %s", w.id, blockkit.Escape(r.Role), blockkit.Escape(r.Requester.Name))
	}
	lines := make([]string, len(w.events))
	for i, e := range w.events {
		lines[i] = "• " + blockkit.AuditEvent(e)
	}
	return cutText(head + "\n" + strings.Join(lines, "\n"))
}

// eventLines is the text of one post showing events in order.
func eventLines(events []grants.Event) string {
	if len(events) == 1 {
		return blockkit.AuditEvent(events[0])
	}
	lines := make([]string, len(events))
	for i, e := range events {
		lines[i] = "• " + blockkit.AuditEvent(e)
	}
	return strings.Join(lines, "\n")
}

// fit returns the leading events whose lines fit in one post (at least
// one); the others wait a turn.
func fit(events []grants.Event) []grants.Event {
	total := 0
	for i, e := range events {
		total += len(blockkit.AuditEvent(e)) + 3
		if i > 0 && total > maxPostText {
			return events[:i]
		}
	}
	return events
}

// cutText keeps a digest section of one request with very many events
// within a post.
func cutText(s string) string {
	if len(s) <= maxPostText {
		return s
	}
	return s[:maxPostText-1] + "…"
}

// limitMemory is how long after Slack last refused one of the channel's
// writes for its rate the writer keeps folding requests into digests and
// spacing its catch-ups.
const limitMemory = time.Minute

// limited reports whether Slack holds the channel back (limitedLocked).
func (c *AuditChannel) limited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limitedLocked()
}

// limitedNow records that Slack refused a write of the channel for its
// rate.
func (c *AuditChannel) limitedNow() {
	c.mu.Lock()
	c.limitedAt = time.Now()
	c.mu.Unlock()
}

// limitedLocked reports whether Slack refused a write of the channel for
// its rate within limitMemory. c.mu is held.
func (c *AuditChannel) limitedLocked() bool {
	return !c.limitedAt.IsZero() && time.Since(c.limitedAt) < limitMemory
}

// waitGap waits until UpdateGap has passed since the last paced update,
// while Slack holds the channel back; otherwise it does not wait.
func (c *AuditChannel) waitGap(ctx context.Context) error {
	c.mu.Lock()
	wait := time.Until(c.lastUpdate.Add(c.UpdateGap))
	if !c.limitedLocked() {
		wait = 0
	}
	c.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	c.mu.Lock()
	c.lastUpdate = time.Now()
	c.mu.Unlock()
	return nil
}
