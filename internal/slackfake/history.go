package slackfake

import (
	"slices"
	"strconv"
)

// conversationsHistory answers conversations.history as Slack does for a
// channel the bot is in (not_in_channel for one it has left, see Leave): the channel's top-level messages (no thread
// replies, no ephemerals), newest first, at most limit (default 100, at
// most 999) a page, the next page named by response_metadata.next_cursor.
// The cursor is an offset here; Slack's is opaque, so clients only pass
// it back.
func (s *Server) conversationsHistory(r *request) (map[string]any, *apiError) {
	ch := r.param("channel")
	if ch == "" || (ch[0] != 'C' && ch[0] != 'G') {
		return nil, &apiError{code: "channel_not_found"}
	}
	if s.outside[ch] {
		return nil, &apiError{code: "not_in_channel"}
	}
	limit := 100
	if v := r.param("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &apiError{code: "invalid_limit"}
		}
		limit = min(n, 999)
	}
	from := 0
	if c := r.param("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return nil, &apiError{code: "invalid_cursor"}
		}
		from = n
	}
	var top []map[string]any
	for _, m := range slices.Backward(s.msgs) {
		if m.Channel == ch && m.ThreadTS == "" && !m.Ephemeral {
			top = append(top, messageJSON(m))
		}
	}
	page := top[min(from, len(top)):min(from+limit, len(top))]
	next := ""
	if from+limit < len(top) {
		next = strconv.Itoa(from + limit)
	}
	return map[string]any{
		"messages": page, "has_more": next != "",
		"response_metadata": map[string]any{"next_cursor": next},
	}, nil
}

// PostAs posts text to channel as userID, as a person in the workspace
// would: for tests of what jitbot makes of other people's messages.
func (s *Server) PostAs(channel, userID, text string) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.post(channel, "", text, userID, nil, false).Message
}
