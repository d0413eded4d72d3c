package slackfake_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// client is the real slack-go client pointed at the fake, as the bot makes
// it from SLACK_API_URL and the tokens.
func client(s *slackfake.Server) *slack.Client {
	return slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(s.AppToken()))
}

// slackError returns the Slack error code of err, or "" when it is none.
func slackError(err error) string {
	var e slack.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	return ""
}

func text(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject("plain_text", s, false, false)
}

// decisionBlocks are an approver's request with Approve and Deny buttons.
func decisionBlocks(id string) []slack.Block {
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*alice* asks for prod-admin", false, false), nil, nil),
		slack.NewActionBlock("decide",
			slack.NewButtonBlockElement("approve", id, text("Approve")).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement("deny", id, text("Deny")).WithStyle(slack.StyleDanger)),
	}
}

func addPeople(s *slackfake.Server) {
	s.AddUser(slackfake.User{ID: "U0ALICE", Name: "alice", RealName: "Alice Liddell", Email: "alice@example.com"})
	s.AddUser(slackfake.User{ID: "U0BOB", Name: "bob", Email: "bob@example.com"})
	s.AddUser(slackfake.User{ID: "U0GUEST", Name: "gus", Email: "gus@partner.example", IsGuest: true})
	s.AddUser(slackfake.User{ID: "U0GONE", Name: "gone", Deleted: true})
	s.AddUser(slackfake.User{ID: "U0OTHERBOT", Name: "otherbot", IsBot: true})
}

func TestMessagesRoundTrip(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	api := client(s)
	ctx := t.Context()

	ch, ts, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("JIT-1 requested", false))
	if err != nil || ch != "C0AUDIT" || ts == "" {
		t.Fatalf("PostMessage = %q, %q, %v", ch, ts, err)
	}
	_, replyTS, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("approved by bob", false), slack.MsgOptionTS(ts))
	if err != nil {
		t.Fatalf("thread reply: %v", err)
	}
	if replyTS <= ts {
		t.Errorf("reply ts %q not after parent %q", replyTS, ts)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("JIT-1 active", false)); err != nil {
		t.Fatalf("UpdateMessage: %v", err)
	}
	got := s.Messages("C0AUDIT")
	if len(got) != 2 {
		t.Fatalf("Messages(C0AUDIT) = %+v, want parent and reply", got)
	}
	if p := got[0]; p.TS != ts || p.Text != "JIT-1 active" || p.Updates != 1 || p.User != slackfake.BotUserID || p.Ephemeral {
		t.Errorf("parent = %+v", p)
	}
	if r := got[1]; r.ThreadTS != ts || r.Text != "approved by bob" || r.Updates != 0 {
		t.Errorf("reply = %+v", r)
	}

	// A user ID posts to the DM, which conversations.open names too.
	dm, dmTS, err := api.PostMessageContext(ctx, "U0BOB", slack.MsgOptionText("JIT-1 needs you", false), slack.MsgOptionBlocks(decisionBlocks("JIT-1")...))
	if err != nil {
		t.Fatalf("post to U0BOB: %v", err)
	}
	if dm != s.DMChannel("U0BOB") || !strings.HasPrefix(dm, "D") {
		t.Errorf("post to U0BOB answered channel %q, DMChannel = %q", dm, s.DMChannel("U0BOB"))
	}
	opened, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U0BOB"}})
	if err != nil || opened.ID != dm {
		t.Errorf("conversations.open U0BOB = %+v, %v; want %s", opened, err, dm)
	}
	dms := s.DMs("U0BOB")
	if len(dms) != 1 || dms[0].TS != dmTS || dms[0].Channel != dm {
		t.Fatalf("DMs(U0BOB) = %+v", dms)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(dms[0].Blocks, &blocks); err != nil || len(blocks) != 2 || blocks[1]["block_id"] != "decide" {
		t.Errorf("DM blocks = %s (%v)", dms[0].Blocks, err)
	}

	// Updating with new blocks replaces them.
	done := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "Approved by bob", false, false), nil, nil)}
	if _, _, _, err := api.UpdateMessageContext(ctx, dm, dmTS, slack.MsgOptionText("approved", false), slack.MsgOptionBlocks(done...)); err != nil {
		t.Fatalf("update DM: %v", err)
	}
	if m := s.DMs("U0BOB")[0]; m.Updates != 1 || strings.Contains(string(m.Blocks), "approve") || !strings.Contains(string(m.Blocks), "Approved by bob") {
		t.Errorf("updated DM = %+v blocks %s", m, m.Blocks)
	}

	// Go's encoder writes <, > and & as \u003c…; the fake stores them as
	// characters so that tests can search for what Slack would show.
	tricky := "&lt;!channel&gt; <@U0BOB> & a literal back\\u003c"
	if _, _, err := api.PostMessageContext(ctx, "C0ESC", slack.MsgOptionBlocks(
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", tricky, false, false), nil, nil))); err != nil {
		t.Fatal(err)
	}
	esc := s.Messages("C0ESC")[0].Blocks
	var decoded []struct {
		Text struct{ Text string } `json:"text"`
	}
	if err := json.Unmarshal(esc, &decoded); err != nil || len(decoded) != 1 || decoded[0].Text.Text != tricky {
		t.Errorf("blocks %s decode to %+v (%v), want the text sent", esc, decoded, err)
	}
	if !strings.Contains(string(esc), "&lt;!channel&gt; <@U0BOB> & a literal") || strings.Contains(string(esc), `\u0026`) {
		t.Errorf("stored blocks are not searchable as text: %s", esc)
	}

	msgTS, err := api.PostEphemeralContext(ctx, "C0GENERAL", "U0ALICE", slack.MsgOptionText("JIT-1 sent to bob", false))
	if err != nil || msgTS == "" {
		t.Fatalf("PostEphemeral = %q, %v", msgTS, err)
	}
	eph := s.Ephemerals("U0ALICE")
	if len(eph) != 1 || !eph[0].Ephemeral || eph[0].Channel != "C0GENERAL" || eph[0].TS != msgTS || eph[0].Text != "JIT-1 sent to bob" {
		t.Errorf("Ephemerals(U0ALICE) = %+v", eph)
	}
	if n := len(s.Ephemerals("U0BOB")); n != 0 {
		t.Errorf("bob sees %d ephemeral messages meant for alice", n)
	}

	if all := s.Messages(""); len(all) != 5 {
		t.Errorf("Messages(\"\") has %d messages, want 5", len(all))
	}
	calls := s.Calls("chat.postMessage")
	if len(calls) != 4 || calls[2].Params.Get("channel") != "U0BOB" || calls[2].Token != s.BotToken() || calls[2].Params.Get("token") != "" {
		t.Errorf("recorded chat.postMessage calls = %+v", calls)
	}
	if !strings.Contains(calls[2].Params.Get("blocks"), `"action_id":"approve"`) {
		t.Errorf("recorded blocks = %s", calls[2].Params.Get("blocks"))
	}
}

func TestMessageErrors(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	api := client(s)
	ctx := t.Context()
	section := func(n int) slack.MsgOption {
		return slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("x", n), false, false), nil, nil))
	}

	tests := []struct {
		name    string
		channel string
		opts    []slack.MsgOption
		want    string
	}{
		{name: "unknown user", channel: "U0NOBODY", opts: []slack.MsgOption{slack.MsgOptionText("hi", false)}, want: "channel_not_found"},
		{name: "deactivated user", channel: "U0GONE", opts: []slack.MsgOption{slack.MsgOptionText("hi", false)}, want: "user_disabled"},
		{name: "a bot", channel: "U0OTHERBOT", opts: []slack.MsgOption{slack.MsgOptionText("hi", false)}, want: "cannot_dm_bot"},
		{name: "unopened DM", channel: "D0NOPE", opts: []slack.MsgOption{slack.MsgOptionText("hi", false)}, want: "channel_not_found"},
		{name: "no text", channel: "C0AUDIT", want: "no_text"},
		{name: "text too long", channel: "C0AUDIT", opts: []slack.MsgOption{slack.MsgOptionText(strings.Repeat("a", 40001), false)}, want: "msg_too_long"},
		{name: "section text too long", channel: "C0AUDIT", opts: []slack.MsgOption{section(3001)}, want: "invalid_blocks"},
		{name: "empty section text", channel: "C0AUDIT", opts: []slack.MsgOption{section(0)}, want: "invalid_blocks"},
		{name: "bad thread_ts", channel: "C0AUDIT", opts: []slack.MsgOption{slack.MsgOptionText("hi", false), slack.MsgOptionTS("0")}, want: "invalid_thread_ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := api.PostMessageContext(ctx, tt.channel, tt.opts...)
			if got := slackError(err); got != tt.want {
				t.Errorf("PostMessage = %v (%q), want %s", err, got, tt.want)
			}
		})
	}
	if _, _, err := api.PostMessageContext(ctx, "C0AUDIT", section(3000)); err != nil {
		t.Errorf("3000 characters of section text are allowed: %v", err)
	}
	if n := len(s.Messages("")); n != 1 {
		t.Errorf("%d messages stored, want only the valid one", n)
	}

	// Slack names the field that is wrong.
	_, _, err := api.PostMessageContext(ctx, "C0AUDIT", section(3001))
	var e slack.SlackErrorResponse
	if !errors.As(err, &e) || !slices.ContainsFunc(e.ResponseMetadata.Messages, func(m string) bool {
		return strings.Contains(m, "[json-pointer:/blocks/0/text/text]")
	}) {
		t.Errorf("invalid_blocks messages = %+v", e.ResponseMetadata.Messages)
	}

	_, _, _, err = api.UpdateMessageContext(ctx, "C0AUDIT", "1.000001", slack.MsgOptionText("x", false))
	if got := slackError(err); got != "message_not_found" {
		t.Errorf("update of an unknown message = %v, want message_not_found", err)
	}
	// A message is found by its channel and ts together, and not once it
	// is deleted. A forgotten one still exists for the bot: it can be
	// updated (unrecorded) and deleted, once.
	_, ts, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("kept", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0OTHER", ts, slack.MsgOptionText("x", false)); slackError(err) != "message_not_found" {
		t.Errorf("update of %s in another channel = %v, want message_not_found", ts, err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("updated", false)); err != nil {
		t.Errorf("update of %s: %v", ts, err)
	}
	if _, _, err := api.DeleteMessageContext(ctx, "C0AUDIT", ts); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("x", false)); slackError(err) != "message_not_found" {
		t.Errorf("update of deleted %s = %v, want message_not_found", ts, err)
	}
	_, ts, err = api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("forgotten", false))
	if err != nil {
		t.Fatal(err)
	}
	s.Forget()
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("update of forgotten %s: %v", ts, err)
	}
	if n := len(s.Messages("")); n != 0 {
		t.Errorf("the update of a forgotten message recorded %d messages", n)
	}
	if _, _, err := api.DeleteMessageContext(ctx, "C0AUDIT", ts); err != nil {
		t.Errorf("delete of forgotten %s: %v", ts, err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("x", false)); slackError(err) != "message_not_found" {
		t.Errorf("update of forgotten and deleted %s = %v, want message_not_found", ts, err)
	}
	if _, err := api.PostEphemeralContext(ctx, "C0AUDIT", "U0NOBODY", slack.MsgOptionText("x", false)); slackError(err) != "user_not_in_channel" {
		t.Errorf("ephemeral to an unknown user = %v, want user_not_in_channel", err)
	}
}

func TestUsersAndGroups(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	s.AddUser(slackfake.User{ID: "U0SCG", Name: "scg", SingleChannelGuest: true})
	s.AddUserGroup("S0LEADS", "platform-leads", "U0ALICE", "U0BOB")
	s.AddUserGroup("S0ONCALL", "oncall", "U0BOB")
	api := client(s)
	ctx := t.Context()

	u, err := api.GetUserInfoContext(ctx, "U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "U0ALICE" || u.Name != "alice" || u.RealName != "Alice Liddell" || u.Profile.Email != "alice@example.com" ||
		u.Profile.RealName != "Alice Liddell" || u.Profile.DisplayName != "alice" || u.Deleted || u.IsBot || u.IsRestricted {
		t.Errorf("users.info U0ALICE = %+v", u)
	}
	tests := []struct {
		id                                        string
		deleted, bot, restricted, ultraRestricted bool
	}{
		{id: "U0GUEST", restricted: true},
		{id: "U0SCG", restricted: true, ultraRestricted: true},
		{id: "U0GONE", deleted: true},
		{id: "U0OTHERBOT", bot: true},
		{id: slackfake.BotUserID, bot: true},
	}
	for _, tt := range tests {
		u, err := api.GetUserInfoContext(ctx, tt.id)
		if err != nil {
			t.Errorf("users.info %s: %v", tt.id, err)
			continue
		}
		if u.Deleted != tt.deleted || u.IsBot != tt.bot || u.IsRestricted != tt.restricted || u.IsUltraRestricted != tt.ultraRestricted {
			t.Errorf("users.info %s = deleted %v bot %v restricted %v ultra %v", tt.id, u.Deleted, u.IsBot, u.IsRestricted, u.IsUltraRestricted)
		}
	}
	if _, err := api.GetUserInfoContext(ctx, "U0NOBODY"); slackError(err) != "user_not_found" {
		t.Errorf("users.info of an unknown user = %v", err)
	}
	if u, err := api.GetUserByEmailContext(ctx, "BOB@example.com"); err != nil || u.ID != "U0BOB" {
		t.Errorf("users.lookupByEmail = %+v, %v", u, err)
	}

	groups, err := api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].ID != "S0LEADS" || groups[0].Handle != "platform-leads" || groups[0].Name != "platform-leads" ||
		!slices.Equal(groups[0].Users, []string{"U0ALICE", "U0BOB"}) || groups[0].UserCount != 2 {
		t.Errorf("usergroups.list = %+v", groups)
	}
	without, err := api.GetUserGroupsContext(ctx)
	if err != nil || len(without) != 2 || without[0].Users != nil || without[0].UserCount != 2 {
		t.Errorf("usergroups.list without include_users = %+v, %v", without, err)
	}

	s.SetUserGroupMembers("platform-leads", "U0BOB")
	members, err := api.GetUserGroupMembersContext(ctx, "S0LEADS")
	if err != nil || !slices.Equal(members, []string{"U0BOB"}) {
		t.Errorf("usergroups.users.list after SetUserGroupMembers = %v, %v", members, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S0NOPE"); slackError(err) != "no_such_subteam" {
		t.Errorf("usergroups.users.list of an unknown group = %v", err)
	}
}

func TestAuth(t *testing.T) {
	s := slackfake.Start(t)
	ctx := t.Context()

	res, err := client(s).AuthTestContext(ctx)
	if err != nil || res.UserID != slackfake.BotUserID || res.TeamID != slackfake.TeamID || res.BotID != slackfake.BotID {
		t.Errorf("auth.test = %+v, %v", res, err)
	}
	wrong := slack.New("xoxb-wrong", slack.OptionAPIURL(s.APIURL()))
	if _, err := wrong.AuthTestContext(ctx); slackError(err) != "invalid_auth" {
		t.Errorf("auth.test with a wrong token = %v, want invalid_auth", err)
	}
	none := slack.New("", slack.OptionAPIURL(s.APIURL()))
	if _, err := none.AuthTestContext(ctx); slackError(err) != "not_authed" {
		t.Errorf("auth.test without a token = %v, want not_authed", err)
	}
	appAsBot := slack.New(s.AppToken(), slack.OptionAPIURL(s.APIURL()))
	if _, _, err := appAsBot.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("x", false)); slackError(err) != "not_allowed_token_type" {
		t.Errorf("chat.postMessage with the app token = %v", err)
	}
	botAsApp := slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(s.BotToken()))
	if _, _, err := botAsApp.StartSocketModeContext(ctx); slackError(err) != "not_allowed_token_type" {
		t.Errorf("apps.connections.open with the bot token = %v", err)
	}
	_, wsURL, err := client(s).StartSocketModeContext(ctx)
	if err != nil || !strings.HasPrefix(wsURL, "ws://127.0.0.1:") || !strings.Contains(wsURL, "/link/?ticket=") {
		t.Errorf("apps.connections.open = %q, %v", wsURL, err)
	}

	// Raw requests: a JSON body with a Bearer token, a form body with the
	// token as a field, an unknown method and a malformed body.
	post := func(method, ctype, auth, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL()+method, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s answered %d %q", method, resp.StatusCode, b)
		}
		return out
	}
	if got := post("chat.postMessage", "application/json", s.BotToken(), `{"channel":"C0RAW","text":"from json","unfurl_links":false}`); got["ok"] != true {
		t.Errorf("JSON post = %v", got)
	}
	form := url.Values{"token": {s.BotToken()}, "channel": {"C0RAW"}, "text": {"from a form"}}
	if got := post("chat.postMessage", "application/x-www-form-urlencoded", "", form.Encode()); got["ok"] != true {
		t.Errorf("form post = %v", got)
	}
	if c := s.Calls("chat.postMessage"); len(c) != 3 || c[0].Error != "not_allowed_token_type" ||
		c[1].Params.Get("unfurl_links") != "false" || c[2].Params.Get("text") != "from a form" {
		t.Errorf("recorded raw calls = %+v", c)
	}
	if got := post("chat.nonsense", "application/json", s.BotToken(), `{}`); got["error"] != "unknown_method" {
		t.Errorf("unknown method = %v", got)
	}
	if got := post("chat.postMessage", "application/json", s.BotToken(), `{"channel":`); got["error"] != "invalid_json" {
		t.Errorf("malformed JSON = %v", got)
	}
	if got := post("chat.postMessage", "application/json", s.BotToken(), `{"channel":"C0RAW","blocks":"not blocks"}`); got["error"] != "invalid_blocks_format" {
		t.Errorf("malformed blocks = %v", got)
	}
}

func TestRateLimitAndFailNext(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	api := client(s)
	ctx := t.Context()

	s.RateLimit("chat.postMessage", 1, 1500*time.Millisecond)
	_, _, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("first", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Fatalf("rate-limited post = %v, want *slack.RateLimitedError retrying after 2s (1.5s rounded up)", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("second", false)); err != nil {
		t.Errorf("the call after the limit: %v", err)
	}
	calls := s.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Error != "ratelimited" || calls[1].Error != "" {
		t.Errorf("recorded calls = %+v", calls)
	}
	if m := s.Messages("C0AUDIT"); len(m) != 1 || m[0].Text != "second" {
		t.Errorf("messages = %+v, want only the second", m)
	}

	s.FailNext("users.info", 2, "fatal_error")
	for i := range 2 {
		if _, err := api.GetUserInfoContext(ctx, "U0ALICE"); slackError(err) != "fatal_error" {
			t.Errorf("users.info #%d = %v, want fatal_error", i+1, err)
		}
	}
	if _, err := api.GetUserInfoContext(ctx, "U0ALICE"); err != nil {
		t.Errorf("users.info after the failures: %v", err)
	}
}

func TestViewsPublishAndOpen(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	api := client(s)
	ctx := t.Context()

	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "No active grants", false, false), nil, nil),
	}}}
	resp, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0ALICE", View: home})
	if err != nil || !strings.HasPrefix(resp.ID, "V") || resp.Type != slack.VTHomeTab || resp.Hash == "" {
		t.Fatalf("views.publish = %+v, %v", resp, err)
	}
	var got map[string]any
	if err := json.Unmarshal(s.Home("U0ALICE"), &got); err != nil || got["id"] != resp.ID || got["type"] != "home" ||
		!strings.Contains(string(s.Home("U0ALICE")), "No active grants") {
		t.Errorf("Home(U0ALICE) = %s (%v)", s.Home("U0ALICE"), err)
	}
	if s.Home("U0BOB") != nil {
		t.Errorf("Home(U0BOB) = %s, want nil", s.Home("U0BOB"))
	}
	stale := "1.stale"
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0ALICE", View: home, Hash: &stale}); slackError(err) != "hash_conflict" {
		t.Errorf("publish with a stale hash = %v, want hash_conflict", err)
	}
	again, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0ALICE", View: home, Hash: &resp.Hash})
	if err != nil || again.ID != resp.ID || again.Hash == resp.Hash {
		t.Errorf("republish = %+v, %v; want the same view ID and a new hash", again, err)
	}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0NOBODY", View: home}); slackError(err) != "user_not_found" {
		t.Errorf("publish for an unknown user = %v", err)
	}

	modal := slack.ModalViewRequest{Type: slack.VTModal, Title: text("Request access"), Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "hi", false, false), nil, nil),
	}}}
	if _, err := api.OpenViewContext(ctx, "1.2.nope", modal); slackError(err) != "invalid_trigger_id" {
		t.Errorf("views.open with an unknown trigger = %v", err)
	}
	modal.Title = text("A title longer than 24 characters")
	_, err = api.OpenViewContext(ctx, "1.2.nope", modal)
	var e slack.SlackErrorResponse
	if !errors.As(err, &e) || e.Err != "invalid_arguments" || !slices.ContainsFunc(e.ResponseMetadata.Messages, func(m string) bool {
		return strings.Contains(m, "/view/title/text")
	}) {
		t.Errorf("views.open with a long title = %v %+v", err, e.ResponseMetadata)
	}
}

// TestMessageTime: a message's Time is when the fake took it in.
func TestMessageTime(t *testing.T) {
	s := slackfake.New()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.AddUser(slackfake.User{ID: "UALICE", Name: "alice"})
	before := time.Now().Truncate(time.Microsecond)
	if _, _, err := client(s).PostMessage("UALICE", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	m := s.DMs("UALICE")[0]
	if at := m.Time(); at.Before(before) || at.After(after) {
		t.Errorf("Time() = %v for a message posted between %v and %v", at, before, after)
	}
	if !(slackfake.Message{TS: "not-a-ts"}).Time().IsZero() {
		t.Errorf("Time() of a malformed ts is not zero")
	}
}
