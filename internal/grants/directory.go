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
