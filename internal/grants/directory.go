package grants

import (
	"context"

	"github.com/jitbot/jitbot/internal/rules"
)

// Directory answers who people are at the moment a decision is made. The
// Slack layer implements it with users.info and usergroups.users.list, so a
// user who left a group can no longer approve for it.
type Directory interface {
	// User returns the current identity of a Slack user, including the
	// handles of the user groups they belong to.
	User(ctx context.Context, id string) (rules.User, error)
	// GroupMembers returns the Slack user IDs in the user group with the
	// given handle (without the leading @).
	GroupMembers(ctx context.Context, handle string) ([]string, error)
}

type freshKey struct{}

// Fresh marks ctx as that of a decision: a Directory must answer from its
// source, not from a cache, so that a change made a second ago counts.
func Fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

// IsFresh reports whether ctx is marked by Fresh.
func IsFresh(ctx context.Context) bool { v, _ := ctx.Value(freshKey{}).(bool); return v }
