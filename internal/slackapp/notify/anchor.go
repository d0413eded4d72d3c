package notify

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
)

// Head reads the audit chain's head: the last entry's seq and chain value.
type Head func(ctx context.Context) (seq int64, hash string, err error)

// PostAnchors posts the head of the audit chain to the audit channel at
// start and then every interval, but only when the head moved since the
// last post: an idle log is anchored once. Slack keeps the posts out of a
// Redis writer's reach, so `jitbot audit verify` can compare the log with
// them. It returns when ctx is done.
func (c *AuditChannel) PostAnchors(ctx context.Context, head Head, every time.Duration) error {
	if c.channel == "" {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last string
	for {
		seq, hash, err := head(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Error("read the audit head to anchor it; will try again", "err", err, "retry_in", every)
		case err == nil && seq > 0 && hash != last:
			c.Announce(auditlog.FormatAnchor(seq, hash))
			last = hash
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
