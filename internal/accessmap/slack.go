package accessmap

import (
	"context"
	"fmt"
	"slices"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackdir"
)

var _ Directory = (*Slack)(nil)

// Slack is the Directory on the Slack Web API, with the bot's scopes
// users:read, users:read.email and usergroups:read.
type Slack struct {
	api *slack.Client
	dir *slackdir.Directory
}

// NewSlack returns a Directory that reads the workspace through api.
func NewSlack(api *slack.Client) *Slack {
	return &Slack{api: api, dir: slackdir.New(api, 0, 0)}
}

// Users returns every user from users.list (following next_cursor; slack-go
// waits out rate limits), each with the handles of their user groups from
// one usergroups.list, and converted as slackdir.Directory.User converts a
// requester, so the rules see what they see for a real request: guests are
// is_restricted or is_ultra_restricted, Slack Connect users is_stranger.
func (s *Slack) Users(ctx context.Context) ([]rules.User, error) {
	groups, err := s.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil {
		return nil, fmt.Errorf("usergroups.list: %w", err)
	}
	handles := map[string][]string{} // user ID → handles
	for _, g := range groups {
		for _, id := range g.Users {
			handles[id] = append(handles[id], g.Handle)
		}
	}
	users, err := s.api.GetUsersContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("users.list: %w", err)
	}
	out := make([]rules.User, 0, len(users))
	for _, u := range users {
		ru := slackdir.FromSlack(u)
		ru.Groups = handles[u.ID]
		slices.Sort(ru.Groups)
		out = append(out, ru)
	}
	return out, nil
}

// GroupMembers resolves a user group as the service resolves approvers
// when they click (slackdir, usergroups.users.list).
func (s *Slack) GroupMembers(ctx context.Context, handle string) ([]string, error) {
	return s.dir.GroupMembers(ctx, handle)
}
