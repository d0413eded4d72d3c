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

// Decision identifies one decision (an approval, a denial, a revocation)
// among the reads a Directory serves.
type Decision struct{ _ int } // not zero-sized, so that two are never the same pointer

// Fresh marks ctx as that of a decision: a Directory must answer from its
// source, not from a cache, so that a change made a second ago counts.
// Within one decision the first answer is the source's: Fresh on a ctx
// already marked returns it as it is, and a Directory may answer the
// decision's later reads of the same user or group from what it read for
// the first (see DecisionOf). An approval reads the requester three times
// and the user groups as often; asking Slack each time only made it slower.
func Fresh(ctx context.Context) context.Context {
	if DecisionOf(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, freshKey{}, new(Decision))
}

// IsFresh reports whether ctx is marked by Fresh.
func IsFresh(ctx context.Context) bool { return DecisionOf(ctx) != nil }

// DecisionOf returns the decision ctx is marked with by Fresh, or nil.
func DecisionOf(ctx context.Context) *Decision {
	d, _ := ctx.Value(freshKey{}).(*Decision)
	return d
}
