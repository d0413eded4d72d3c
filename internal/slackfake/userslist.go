package slackfake

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
)

// usersListPage is the most users one users.list page holds, whatever the
// limit asked for. Slack documents that a page may hold fewer users than
// the limit before the end of the list, and a small page makes every
// client that forgets to follow next_cursor fail in tests.
const usersListPage = 2

// usersList answers users.list: every user of the workspace, deactivated
// users and bots included, in pages of at most usersListPage, ordered by
// ID so that pages are stable. next_cursor is "" on the last page.
//
// People of other organisations (External, Slack Connect) are not members
// of this workspace, and Slack documents users.list as the workspace's
// users, so they are left out; users.info still answers for them.
func (s *Server) usersList(r *request) (map[string]any, *apiError) {
	limit := usersListPage
	if v := r.param("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, &apiError{code: "invalid_arguments", messages: []string{"[ERROR] invalid value for field limit: expected a non-negative integer"}}
		}
		if n > 0 {
			limit = min(n, usersListPage)
		}
	}
	var ids []string
	for id, u := range s.users {
		if !u.External {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	start := 0
	if c := r.param("cursor"); c != "" {
		from, ok := decodeUsersCursor(c)
		if !ok {
			return nil, &apiError{code: "invalid_cursor"}
		}
		// Start at the first user at or after the one the cursor names,
		// so that a user removed between pages does not break the walk.
		start, _ = slices.BinarySearch(ids, from)
	}
	end := min(start+limit, len(ids))
	members := make([]any, 0, end-start)
	for _, id := range ids[start:end] {
		members = append(members, userJSON(s.users[id]))
	}
	next := ""
	if end < len(ids) {
		next = encodeUsersCursor(ids[end])
	}
	return map[string]any{
		"members":           members,
		"cache_ts":          time.Now().Unix(),
		"response_metadata": map[string]any{"next_cursor": next},
	}, nil
}

// Slack's users.list cursors are base64 of "user:<ID of the next user>"
// (its documented example, dXNlcjpVMDYxTkZUVDI=, is "user:U061NFTT2").
const usersCursorPrefix = "user:"

func encodeUsersCursor(id string) string {
	return base64.StdEncoding.EncodeToString([]byte(usersCursorPrefix + id))
}

func decodeUsersCursor(c string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(string(b), usersCursorPrefix)
	return id, ok && id != ""
}
