// Package history reads the past grants of a role for package suggest:
// which grants ended, from the durable audit log, and what each did, from
// CloudTrail. It is the thin adapter between the stores and the pure
// suggestion.
package history

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/suggest"
)

// Log is what Load reads of the audit log.
type Log interface {
	Since(ctx context.Context, t time.Time) ([]auditlog.Stored, error)
}

// Caller looks up a grant's calls; *cloudtrail.Lookup is one.
type Caller interface {
	Calls(ctx context.Context, r *grants.Request) (calls []suggest.Call, skipped int, truncated bool, err error)
}

// Ended returns the grants of role that ended, oldest first, from the
// log's revoked entries: each carries the grant's window and the access
// key or principal CloudTrail knows it by. Dry-run grants touched no AWS
// account and are left out.
func Ended(entries []auditlog.Entry, role string) []*grants.Request {
	var out []*grants.Request
	for _, e := range entries {
		if e.Type != string(grants.EventRevoked) || e.Role != role || e.GrantedAt.IsZero() || e.DryRun {
			continue
		}
		out = append(out, &grants.Request{
			ID: grants.RequestID(e.RequestID), Role: e.Role, Backend: e.Backend, Principal: e.Principal,
			AccessKeyID: e.AccessKeyID, GrantedAt: e.GrantedAt, ExpiresAt: e.ExpiresAt, RevokedAt: e.EndedAt,
		})
	}
	return out
}

// Load returns the grants of role that ended since, with their calls; with
// last > 0, only the last that many. It asks CloudTrail once per grant, one
// grant at a time: LookupEvents allows two requests a second per account,
// and the SDK retries when throttled.
func Load(ctx context.Context, l Log, c Caller, role string, since time.Time, last int) ([]suggest.Grant, error) {
	stored, err := l.Since(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	entries := make([]auditlog.Entry, len(stored))
	for i, s := range stored {
		entries[i] = s.Entry
	}
	ended := Ended(entries, role)
	if last > 0 && len(ended) > last {
		ended = ended[len(ended)-last:]
	}
	var out []suggest.Grant
	for _, r := range ended {
		calls, skipped, truncated, err := c.Calls(ctx, r)
		if err != nil {
			return nil, err
		}
		end := r.RevokedAt
		if end.IsZero() {
			end = r.ExpiresAt
		}
		out = append(out, suggest.Grant{ID: string(r.ID), Start: r.GrantedAt, End: end, Calls: calls, Truncated: truncated, Skipped: skipped})
	}
	return out, nil
}
