package report

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/rules"
)

// FromLog builds the report of the window ending at now from the durable
// audit log: jitbot report prints it, /jit report posts it.
func FromLog(ctx context.Context, l *auditlog.Log, catalog *rules.Catalog, window time.Duration, now time.Time) (Report, error) {
	since := now.Add(-window)
	// A grant that started before the window and is still running has
	// its entries before it; no grant runs longer than the longest
	// max_duration of the catalog.
	stored, err := l.Since(ctx, since.Add(-longestGrant(catalog)))
	if err != nil {
		return Report{}, err
	}
	entries := make([]auditlog.Entry, len(stored))
	for i, s := range stored {
		entries[i] = s.Entry
	}
	return Build(entries, catalog.Names(), since, now), nil
}

// longestGrant is the longest a grant of the catalog may run.
func longestGrant(c *rules.Catalog) time.Duration {
	d := c.Defaults.MaxDuration
	for _, r := range c.Roles {
		d = max(d, r.MaxDuration)
	}
	return d
}
