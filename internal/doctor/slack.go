package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SlackAPI is Slack on its Web API, with the bot token.
type SlackAPI struct {
	URL    string // SLACK_API_URL, ending in /
	Token  string // SLACK_BOT_TOKEN
	Client *http.Client
}

var _ Slack = (*SlackAPI)(nil)

// Scopes calls auth.test and reads the x-oauth-scopes header of the
// answer, where Slack lists the token's scopes (slack-go drops headers).
func (s *SlackAPI) Scopes(ctx context.Context) ([]string, error) {
	resp, err := s.call(ctx, "auth.test", nil, nil)
	if err != nil {
		return nil, err
	}
	h, ok := resp.Header[http.CanonicalHeaderKey("x-oauth-scopes")]
	if !ok {
		return nil, fmt.Errorf("auth.test: Slack's answer has no x-oauth-scopes header")
	}
	var scopes []string
	for _, s := range strings.Split(strings.Join(h, ","), ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	return scopes, nil
}

// IsMember asks for the newest message of channel: Slack answers
// not_in_channel (public) or channel_not_found (private) when the bot is
// not in it. conversations.info would need channels:read and
// groups:read, which jitbot's manifest does not ask for; reading history
// needs channels:history and groups:history, which it does.
func (s *SlackAPI) IsMember(ctx context.Context, channel string) (bool, error) {
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	_, err := s.call(ctx, "conversations.history", url.Values{"channel": {channel}, "limit": {"1"}}, &answer)
	switch {
	case err != nil:
		return false, err
	case answer.OK:
		return true, nil
	case answer.Error == "not_in_channel" || answer.Error == "channel_not_found":
		return false, nil
	}
	return false, fmt.Errorf("conversations.history %s: %s", channel, answer.Error)
}

// call posts a form to method and decodes the answer into out, if any.
// An answer of ok false is an error, but for conversations.history, whose
// errors IsMember reads.
func (s *SlackAPI) call(ctx context.Context, method string, form url.Values, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.URL, "/")+"/"+method, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", method, resp.Status)
	}
	var base struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if out != nil {
		return resp, json.Unmarshal(raw, out)
	}
	if !base.OK {
		return nil, fmt.Errorf("%s: Slack refused: %s", method, base.Error)
	}
	return resp, nil
}
