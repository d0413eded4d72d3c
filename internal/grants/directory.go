package grants

import (
	"context"
	"time"

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

// Roster is a Directory that can also read everyone at once. The
// lifecycle pass asks it once a pass instead of asking User once per
// requester: at 5,000 requesters that is 25 pages of users.list instead
// of 5,000 users.info calls, which Slack answers about 100 a minute.
type Roster interface {
	// Everyone returns every user the source lists, by ID, read from the
	// source now, without their groups. Someone it does not list (a Slack
	// Connect user of another organisation) is asked for with User.
	Everyone(ctx context.Context) (map[string]rules.User, error)
}

type freshKey struct{}

// Decision identifies one decision (an approval, a denial, a revocation)
// among the reads a Directory serves, and when it began: an answer read
// from the source after that is as fresh as the decision needs, whoever
// asked for it.
type Decision struct{ began time.Time }

// Began is when the decision began, on the monotonic clock of this
// process (time.Now), not the service's: a Directory compares it with
// when it made its own calls.
func (d *Decision) Began() time.Time { return d.began }

// Fresh marks ctx as that of a decision: a Directory must answer from its
// source, not from a cache, so that a change made a second ago counts.
// Within one decision the first answer is the source's: Fresh on a ctx
// already marked returns it as it is, and a Directory may answer the
// decision's later reads of the same user or group from any answer it
// read after the decision began (see DecisionOf), its own or another's. An approval reads the requester three times
// and the user groups as often; asking Slack each time only made it slower.
func Fresh(ctx context.Context) context.Context {
	if DecisionOf(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, freshKey{}, &Decision{began: time.Now()})
}

// IsFresh reports whether ctx is marked by Fresh.
func IsFresh(ctx context.Context) bool { return DecisionOf(ctx) != nil }

// DecisionOf returns the decision ctx is marked with by Fresh, or nil.
func DecisionOf(ctx context.Context) *Decision {
	d, _ := ctx.Value(freshKey{}).(*Decision)
	return d
}
