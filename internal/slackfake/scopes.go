package slackfake

import (
	"net/http"
	"strings"
)

// DefaultScopes are the bot token's scopes unless WithScopes says
// otherwise: those jitbot's app manifest asks for
// (deploy/slack-app-manifest.yaml).
var DefaultScopes = []string{
	"commands", "chat:write", "im:write", "users:read", "users:read.email",
	"usergroups:read", "channels:history", "groups:history", "files:write",
}

// WithScopes sets the scopes Slack names in the x-oauth-scopes header of
// every answer to the bot token, as it does for an installed app.
func WithScopes(scopes ...string) Option { return func(s *Server) { s.scopes = scopes } }

// setScopes writes the x-oauth-scopes header of a successful answer.
func (s *Server) setScopes(w http.ResponseWriter) {
	w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ","))
}

// Leave takes the bot out of channel: conversations.history answers
// not_in_channel there, as Slack does for a public channel the bot is not
// in. Posting is not refused: the tests of jitbot's posts need none.
func (s *Server) Leave(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outside[channel] = true
}
