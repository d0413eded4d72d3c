package slackfake_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// scopesOf calls auth.test with the bot token and returns the
// x-oauth-scopes header of the answer.
func scopesOf(t *testing.T, s *slackfake.Server) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.APIURL()+"auth.test", nil)
	req.Header.Set("Authorization", "Bearer "+slackfake.DefaultBotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-OAuth-Scopes")
}

// TestScopesHeader: every answer names the token's scopes, as Slack's do.
func TestScopesHeader(t *testing.T) {
	if got := scopesOf(t, slackfake.Start(t)); !slices.Equal(strings.Split(got, ","), slackfake.DefaultScopes) {
		t.Errorf("x-oauth-scopes = %q, want the default %v", got, slackfake.DefaultScopes)
	}
	if got := scopesOf(t, slackfake.Start(t, slackfake.WithScopes("chat:write", "admin"))); got != "chat:write,admin" {
		t.Errorf("x-oauth-scopes = %q, want chat:write,admin", got)
	}
}

// TestLeave: conversations.history in a channel the bot has left answers
// not_in_channel.
func TestLeave(t *testing.T) {
	s := slackfake.Start(t)
	api := client(s)
	params := &slack.GetConversationHistoryParameters{ChannelID: "C0AUDIT", Limit: 1}
	if _, err := api.GetConversationHistoryContext(t.Context(), params); err != nil {
		t.Fatalf("history while in the channel: %v", err)
	}
	s.Leave("C0AUDIT")
	if _, err := api.GetConversationHistoryContext(t.Context(), params); slackError(err) != "not_in_channel" {
		t.Errorf("history after Leave = %v, want not_in_channel", err)
	}
}
