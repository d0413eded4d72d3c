package doctor

import (
	"slices"
	"testing"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestSlackAPI reads scopes and membership from the Slack fake, whose
// default scopes are the manifest's.
func TestSlackAPI(t *testing.T) {
	s := slackfake.Start(t)
	api := &SlackAPI{URL: s.APIURL(), Token: s.BotToken()}
	got, err := api.Scopes(t.Context())
	if err != nil || !slices.Equal(got, Scopes) {
		t.Errorf("Scopes = %v, %v; want %v", got, err, Scopes)
	}
	if in, err := api.IsMember(t.Context(), "C0AUDIT"); !in || err != nil {
		t.Errorf("IsMember before Leave = %v, %v", in, err)
	}
	s.Leave("C0AUDIT")
	if in, err := api.IsMember(t.Context(), "C0AUDIT"); in || err != nil {
		t.Errorf("IsMember after Leave = %v, %v", in, err)
	}
	bad := &SlackAPI{URL: s.APIURL(), Token: "xoxb-wrong"}
	if _, err := bad.Scopes(t.Context()); err == nil {
		t.Error("Scopes with a wrong token: no error")
	}
}
