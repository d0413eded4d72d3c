package directory

import (
	"context"
	"fmt"
	"slices"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/rules"
)

// Users returns every user from users.list (following next_cursor; slack-go
// waits out rate limits), each with the handles of their user groups from
// one usergroups.list, and converted as User converts a requester, so the
// rules see what they see for a real request: guests are is_restricted or
// is_ultra_restricted, Slack Connect users of another team or enterprise.
// It needs the scopes
// users:read, users:read.email and usergroups:read, and is never cached:
// access-map reads the workspace once per run.
func (d *Directory) Users(ctx context.Context) ([]rules.User, error) {
	groups, err := d.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil {
		return nil, fmt.Errorf("usergroups.list: %w", err)
	}
	handles := map[string][]string{} // user ID → handles
	for _, g := range groups {
		for _, id := range g.Users {
			handles[id] = append(handles[id], g.Handle)
		}
	}
	users, err := d.api.GetUsersContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("users.list: %w", err)
	}
	out := make([]rules.User, 0, len(users))
	for _, u := range users {
		ru, err := d.fromSlack(ctx, u)
		if err != nil {
			return nil, err
		}
		ru.Groups = handles[u.ID]
		slices.Sort(ru.Groups)
		out = append(out, ru)
	}
	return out, nil
}
