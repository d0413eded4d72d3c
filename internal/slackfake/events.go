package slackfake

import (
	"fmt"
	"slices"
	"time"
)

// Deactivate marks the user deactivated, as a workspace admin does, and
// sends the user_change event Slack sends then. With send false the event
// is lost, as one Slack fails to deliver is: only users.info tells.
func (s *Server) Deactivate(t TB, userID string, send bool) {
	t.Helper()
	if err := s.SendDeactivate(userID, send); err != nil {
		t.Fatalf("slackfake: %v", err)
	}
}

// SendDeactivate does what Deactivate does, for programs without a TB.
func (s *Server) SendDeactivate(userID string, send bool) error {
	s.mu.Lock()
	u, ok := s.users[userID]
	if ok {
		u.Deleted = true
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no user %s", userID)
	}
	if !send {
		return nil
	}
	return s.SendUserChange(userID)
}

// SendUserChange sends the user_change event of userID, with the user
// object as users.info would answer it now.
func (s *Server) SendUserChange(userID string) error {
	s.mu.Lock()
	u, ok := s.users[userID]
	var user map[string]any
	if ok {
		user = userJSON(u)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no user %s", userID)
	}
	_, err := s.sendNew("events_api", s.eventCallback(map[string]any{
		"type": "user_change", "user": user, "cache_ts": time.Now().Unix(), "event_ts": s.lockedTS(),
	}), false, nil)
	return err
}

// SendSubteamMembersChanged sends the subteam_members_changed event of the
// user group with this handle, naming who was added and removed; the
// group's members are changed to match first.
func (s *Server) SendSubteamMembersChanged(handle string, added, removed []string) error {
	s.mu.Lock()
	var id string
	for _, g := range s.groups {
		if g.handle == handle {
			id = g.id
			g.members = applyChange(g.members, added, removed)
		}
	}
	s.mu.Unlock()
	if id == "" {
		return fmt.Errorf("no user group @%s", handle)
	}
	_, err := s.sendNew("events_api", s.eventCallback(map[string]any{
		"type": "subteam_members_changed", "subteam_id": id, "team_id": TeamID,
		"date_previous_update": 0, "date_update": time.Now().Unix(),
		"added_users": added, "added_users_count": len(added),
		"removed_users": removed, "removed_users_count": len(removed),
		"event_ts": s.lockedTS(),
	}), false, nil)
	return err
}

func applyChange(members, added, removed []string) []string {
	out := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return slices.Contains(removed, m) })
	for _, m := range added {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) lockedTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextTS()
}

// eventCallback wraps an inner event as the Events API delivers it.
func (s *Server) eventCallback(event map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{
		"token": verificationToken, "team_id": TeamID, "api_app_id": AppID,
		"event": event, "type": "event_callback", "event_id": s.nextID("Ev"),
		"event_time": time.Now().Unix(), "is_ext_shared_channel": false,
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false,
		}},
	}
}
