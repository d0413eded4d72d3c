// Package history reads the past grants of a role for package suggest:
// which grants ended, from the durable audit log, and what each did, from
// CloudTrail. It is the thin adapter between the stores and the pure
// suggestion.
package history

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/suggest"
)

// Log is what Load reads of the audit log: pages of entries, newest
// first (auditlog.Log.Back).
type Log interface {
	Back(ctx context.Context, end string, count int64) ([]auditlog.Stored, error)
}

// Caller looks up a grant's calls; *cloudtrail.Lookup is one.
type Caller interface {
	Calls(ctx context.Context, r *grants.Request) (calls []suggest.Call, skipped int, truncated bool, err error)
}

// ended returns the grant of role whose end e records, if e is one: a
// revoked entry carries the grant's window and the access key or
// principal CloudTrail knows it by. Dry-run grants touched no AWS account
// and are left out.
func ended(e auditlog.Entry, role string) (*grants.Request, bool) {
	if e.Type != string(grants.EventRevoked) || e.Role != role || e.GrantedAt.IsZero() || e.DryRun {
		return nil, false
	}
	return &grants.Request{
		ID: grants.RequestID(e.RequestID), Role: e.Role, Backend: e.Backend, Principal: e.Principal,
		AccessKeyID: e.AccessKeyID, GrantedAt: e.GrantedAt, ExpiresAt: e.ExpiresAt, RevokedAt: e.EndedAt,
	}, true
}

// Scan bounds what Load reads of the log.
type Scan struct {
	Since time.Time // entries before it are not read
	Last  int       // with Last > 0, the Last most recent grants are enough
	// Max > 0 stops after that many entries, whatever was found: the
	// approval DM's line must cost the same however long the log is.
	Max int
}

// page is how many entries Load reads of the log per round trip.
const page = 1000

// Load returns the grants of role that ended within scan, oldest first,
// with their calls. It reads the log backwards a page at a time, keeping
// only role's ended grants, so its memory is a page and what it found,
// not the window's log (100,000 grants a day are millions of entries in
// 90 days). It asks CloudTrail once per grant, one grant at a time:
// LookupEvents allows two requests a second per account, and the SDK
// retries when throttled.
func Load(ctx context.Context, l Log, c Caller, role string, scan Scan) ([]suggest.Grant, error) {
	ended, err := endedBack(ctx, l, role, scan)
	if err != nil {
		return nil, err
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

// endedBack returns role's ended grants within scan, oldest first.
func endedBack(ctx context.Context, l Log, role string, scan Scan) ([]*grants.Request, error) {
	var found []*grants.Request // newest first
	end, read := "+", 0
	for {
		stored, err := l.Back(ctx, end, page)
		if err != nil {
			return nil, fmt.Errorf("read the audit log: %w", err)
		}
		for _, s := range stored {
			read++
			// An entry that does not parse has no time; it is no grant,
			// and no reason to stop.
			if !scan.Since.IsZero() && !s.Entry.At.IsZero() && s.Entry.At.Before(scan.Since) {
				return oldestFirst(found), nil
			}
			if r, ok := ended(s.Entry, role); ok {
				found = append(found, r)
			}
			if scan.Last > 0 && len(found) == scan.Last || scan.Max > 0 && read >= scan.Max {
				return oldestFirst(found), nil
			}
		}
		if len(stored) < page {
			return oldestFirst(found), nil
		}
		end = "(" + stored[len(stored)-1].StreamID
	}
}

func oldestFirst(rs []*grants.Request) []*grants.Request {
	slices.Reverse(rs)
	return rs
}
