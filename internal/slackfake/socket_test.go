package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

const wait = 5 * time.Second

// bot is a real slack-go Socket Mode client connected to the fake; the test
// plays its handler, reading envelopes with next and acking them itself.
type bot struct {
	api    *slack.Client
	sm     *socketmode.Client
	events chan socketmode.Event
}

func startBot(t *testing.T, s *slackfake.Server, opts ...socketmode.Option) *bot {
	t.Helper()
	api := client(s)
	b := &bot{api: api, sm: socketmode.New(api, opts...), events: make(chan socketmode.Event, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	ran, forwarded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ran)
		b.sm.RunContext(ctx)
	}()
	go func() {
		defer close(forwarded)
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-b.sm.Events:
				// Keep the envelopes; connection events are noise here.
				if evt.Request == nil || evt.Request.EnvelopeID == "" {
					continue
				}
				select {
				case b.events <- evt:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-ran
		<-forwarded
	})
	return b
}

// next returns the next envelope the client received, which must be of typ.
func (b *bot) next(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	select {
	case evt := <-b.events:
		if evt.Type != typ {
			t.Fatalf("client received %s (%+v), want %s", evt.Type, evt.Data, typ)
		}
		return evt
	case <-time.After(wait):
		t.Fatalf("client received no %s envelope within %v", typ, wait)
		return socketmode.Event{}
	}
}

func (b *bot) ack(t *testing.T, evt socketmode.Event, payload ...any) {
	t.Helper()
	if err := b.sm.Ack(*evt.Request, payload...); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

// mustFail runs fn with a testing.TB whose Fatalf ends fn, and returns the
// failure message; it fails t when fn does not fail.
func mustFail(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	if f.msg == "" {
		t.Fatal("the helper did not fail the test")
	}
	return f.msg
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestSlashCommand(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)

	env := s.SlashCommand(t, "U0ALICE", "request prod-admin 1h fixing INC-42")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok {
		t.Fatalf("client event data is %T, want slack.SlashCommand", evt.Data)
	}
	if cmd.Command != "/jit" || cmd.Text != "request prod-admin 1h fixing INC-42" || cmd.UserID != "U0ALICE" ||
		cmd.UserName != "alice" || cmd.ChannelID != "C0GENERAL" || cmd.TeamID != slackfake.TeamID ||
		cmd.APIAppID != slackfake.AppID || cmd.TriggerID == "" || !strings.HasPrefix(cmd.ResponseURL, s.URL()+"/response/") {
		t.Errorf("slash command = %+v", cmd)
	}
	if evt.Request.EnvelopeID != env.ID || !evt.Request.AcceptsResponsePayload || evt.Request.RetryAttempt != 0 {
		t.Errorf("request = %+v, want envelope %s accepting a response payload", evt.Request, env.ID)
	}
	if env.Acked() {
		t.Errorf("envelope acked before the client acked")
	}

	b.ack(t, evt)
	if p := env.Ack(t, wait); p != nil {
		t.Errorf("ack payload = %s, want none", p)
	}
	if !env.Acked() || env.AckDelay() <= 0 {
		t.Errorf("Acked %v, AckDelay %v after the ack", env.Acked(), env.AckDelay())
	}
	acks := s.Acks()
	if len(acks) != 1 || acks[0].EnvelopeID != env.ID || acks[0].Type != "slash_commands" || acks[0].Delay != env.AckDelay() || acks[0].Ignored != "" {
		t.Errorf("Acks() = %+v", acks)
	}

	// An ack may carry the answer, which Slack shows to the user alone.
	env = s.SlashCommand(t, "U0ALICE", "help")
	b.ack(t, b.next(t, socketmode.EventTypeSlashCommand), map[string]any{"text": "Usage: /jit request …"})
	env.Ack(t, wait)
	if e := s.Ephemerals("U0ALICE"); len(e) != 1 || e[0].Text != "Usage: /jit request …" || e[0].Channel != "C0GENERAL" {
		t.Errorf("Ephemerals after an ack with a message = %+v", e)
	}
}

func TestResponseURL(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)
	ctx := t.Context()

	s.SlashCommandIn(t, "U0ALICE", "C0OPS", "roles")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	cmd := evt.Data.(slack.SlashCommand)

	err := slack.PostWebhookContext(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: "only you", ResponseType: slack.ResponseTypeEphemeral})
	if err != nil {
		t.Fatal(err)
	}
	if err := slack.PostWebhookContext(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: "for everyone", ResponseType: slack.ResponseTypeInChannel}); err != nil {
		t.Fatal(err)
	}
	if e := s.Ephemerals("U0ALICE"); len(e) != 1 || e[0].Text != "only you" || e[0].Channel != "C0OPS" {
		t.Errorf("Ephemerals = %+v", e)
	}
	if m := s.Messages("C0OPS"); len(m) != 2 || m[1].Text != "for everyone" || m[1].Ephemeral || m[1].User != slackfake.BotUserID {
		t.Errorf("Messages(C0OPS) = %+v", m)
	}
	posts := s.Calls("response_url")
	if len(posts) != 2 || posts[0].Params.Get("response_type") != "ephemeral" || posts[0].Params.Get("response_url") != cmd.ResponseURL {
		t.Errorf("recorded response_url posts = %+v", posts)
	}

	// Five posts per URL, as on Slack.
	for range 3 {
		if err := slack.PostWebhookContext(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: "again"}); err != nil {
			t.Fatal(err)
		}
	}
	err = slack.PostWebhookContext(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: "sixth"})
	var sce slack.StatusCodeError
	if !errors.As(err, &sce) || sce.Code != http.StatusNotFound {
		t.Errorf("sixth post = %v, want a 404", err)
	}
	if c := s.Calls("response_url"); c[len(c)-1].Error != "used_url" {
		t.Errorf("sixth post recorded as %+v", c[len(c)-1])
	}
	if err := slack.PostWebhookContext(ctx, s.URL()+"/response/nope", &slack.WebhookMessage{Text: "x"}); !errors.As(err, &sce) {
		t.Errorf("post to an unknown response URL = %v", err)
	}

	s.SlashCommand(t, "U0BOB", "list")
	evt = b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	s.RateLimit("response_url", 1, time.Second)
	err = slack.PostWebhookContext(ctx, evt.Data.(slack.SlashCommand).ResponseURL, &slack.WebhookMessage{Text: "x"})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Errorf("rate-limited response_url post = %v", err)
	}
}

func TestClick(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)
	ctx := t.Context()

	dm, ts, err := b.api.PostMessageContext(ctx, "U0BOB", slack.MsgOptionText("JIT-1 needs you", false), slack.MsgOptionBlocks(decisionBlocks("JIT-1")...))
	if err != nil {
		t.Fatal(err)
	}
	env := s.Click(t, "U0BOB", dm, ts, "approve", "JIT-1")
	evt := b.next(t, socketmode.EventTypeInteractive)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok {
		t.Fatalf("client event data is %T", evt.Data)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U0BOB" || cb.User.Name != "bob" ||
		cb.Channel.ID != dm || cb.Container.Type != "message" || cb.Container.MessageTs != ts || cb.Container.ChannelID != dm ||
		cb.Message.Timestamp != ts || cb.TriggerID == "" || cb.ResponseURL == "" || cb.APIAppID != slackfake.AppID || cb.Team.ID != slackfake.TeamID {
		t.Errorf("callback = %+v", cb)
	}
	if len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("actions = %+v", cb.ActionCallback)
	}
	if a := cb.ActionCallback.BlockActions[0]; a.ActionID != "approve" || a.BlockID != "decide" || a.Value != "JIT-1" ||
		a.Type != "button" || a.Text.Text != "Approve" || a.ActionTs == "" {
		t.Errorf("action = %+v", a)
	}
	if len(cb.Message.Blocks.BlockSet) != 2 {
		t.Errorf("the payload's message has %d blocks, want the 2 shown", len(cb.Message.Blocks.BlockSet))
	}
	b.ack(t, evt)
	env.Ack(t, wait)

	// The bot answers through response_url, replacing the buttons.
	done := &slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "Approved by bob", false, false), nil, nil)}}
	if err := slack.PostWebhookContext(ctx, cb.ResponseURL, &slack.WebhookMessage{Text: "approved", Blocks: done, ReplaceOriginal: true}); err != nil {
		t.Fatal(err)
	}
	s.WaitMessage(t, "the approval DM updated", wait, func(m slackfake.Message) bool { return m.Channel == dm && m.Updates == 1 })
	m := s.DMs("U0BOB")
	if len(m) != 1 || m[0].Text != "approved" || m[0].Updates != 1 || strings.Contains(string(m[0].Blocks), `"approve"`) {
		t.Fatalf("DM after replace_original = %+v", m)
	}

	// A user who still sees the old buttons can click them.
	s.Click(t, "U0BOB", dm, ts, "deny", "")
	cb = b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if a := cb.ActionCallback.BlockActions[0]; a.ActionID != "deny" || a.Value != "JIT-1" {
		t.Errorf("stale click action = %+v", a)
	}

	msg := mustFail(t, func(tb testing.TB) { s.Click(tb, "U0ALICE", dm, ts, "approve", "") })
	if !strings.Contains(msg, "cannot see it") {
		t.Errorf("clicking someone else's DM failed with %q", msg)
	}
	// A forged click is delivered all the same, for the bot to refuse.
	s.ForgedClick(t, "U0ALICE", dm, ts, "approve", "JIT-1")
	cb = b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.User.ID != "U0ALICE" || cb.Channel.ID != dm || cb.ActionCallback.BlockActions[0].ActionID != "approve" {
		t.Errorf("forged click = user %s channel %s actions %+v", cb.User.ID, cb.Channel.ID, cb.ActionCallback.BlockActions)
	}
	mustFail(t, func(tb testing.TB) { s.Click(tb, "U0BOB", dm, ts, "escalate", "") })
	mustFail(t, func(tb testing.TB) { s.Click(tb, "U0BOB", dm, ts, "approve", "JIT-2") })

	// Clicks in ephemeral messages: only their user sees them.
	eph, err := b.api.PostEphemeralContext(ctx, "C0GENERAL", "U0ALICE", slack.MsgOptionText("confirm?", false), slack.MsgOptionBlocks(decisionBlocks("JIT-3")...))
	if err != nil {
		t.Fatal(err)
	}
	s.Click(t, "U0ALICE", "C0GENERAL", eph, "deny", "JIT-3")
	cb = b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if !cb.Container.IsEphemeral || cb.Message.Timestamp != "" {
		t.Errorf("ephemeral click container = %+v, message ts %q", cb.Container, cb.Message.Timestamp)
	}
	if err := slack.PostWebhookContext(ctx, cb.ResponseURL, &slack.WebhookMessage{DeleteOriginal: true}); err != nil {
		t.Fatal(err)
	}
	if e := s.Ephemerals("U0ALICE"); len(e) != 0 {
		t.Errorf("ephemerals after delete_original = %+v", e)
	}
	mustFail(t, func(tb testing.TB) { s.Click(tb, "U0BOB", "C0GENERAL", eph, "deny", "") })
}

// requestModal is a modal with a required role select and reason input.
func requestModal() slack.ModalViewRequest {
	role := slack.NewOptionsSelectBlockElement("static_select", text("Pick a role"), "role",
		slack.NewOptionBlockObject("prod-ro", text("Production read-only"), nil),
		slack.NewOptionBlockObject("prod-admin", text("Production admin"), nil))
	reason := slack.NewPlainTextInputBlockElement(text("Why?"), "reason")
	reason.MaxLength = 500
	incident := slack.NewPlainTextInputBlockElement(nil, "incident")
	incidentBlock := slack.NewInputBlock("incident", text("Incident"), nil, incident)
	incidentBlock.Optional = true
	return slack.ModalViewRequest{
		Type: slack.VTModal, Title: text("Request access"), Submit: text("Request"), Close: text("Cancel"),
		CallbackID: "jit_request", PrivateMetadata: "C0GENERAL",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("role", text("Role"), nil, role),
			slack.NewInputBlock("reason", text("Reason"), nil, reason),
			incidentBlock,
		}},
	}
}

func TestSubmitView(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)
	ctx := t.Context()

	s.SlashCommand(t, "U0ALICE", "")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	trigger := evt.Data.(slack.SlashCommand).TriggerID
	opened, err := b.api.OpenViewContext(ctx, trigger, requestModal())
	if err != nil {
		t.Fatalf("views.open: %v", err)
	}
	if _, err := b.api.OpenViewContext(ctx, trigger, requestModal()); slackError(err) != "exchanged_trigger_id" {
		t.Errorf("second views.open with one trigger = %v, want exchanged_trigger_id", err)
	}
	views := s.Views("U0ALICE")
	if len(views) != 1 || views[0].ID != opened.ID || views[0].CallbackID != "jit_request" || views[0].PrivateMetadata != "C0GENERAL" {
		t.Fatalf("Views(U0ALICE) = %+v; views.open answered %s", views, opened.ID)
	}

	env := s.SubmitView(t, "U0ALICE", opened.ID, map[string]map[string]any{
		"role":   {"role": slackfake.Selected("prod-admin")},
		"reason": {"reason": slackfake.PlainText("short")},
	})
	evt = b.next(t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeViewSubmission || cb.User.ID != "U0ALICE" || cb.View.ID != opened.ID ||
		cb.View.CallbackID != "jit_request" || cb.View.PrivateMetadata != "C0GENERAL" || cb.View.Hash != opened.Hash {
		t.Errorf("view_submission = %+v", cb)
	}
	values := cb.View.State.Values
	if v := values["reason"]["reason"]; v.Type != "plain_text_input" || v.Value != "short" {
		t.Errorf("reason state = %+v", v)
	}
	if v := values["role"]["role"]; v.SelectedOption.Value != "prod-admin" || v.SelectedOption.Text.Text != "Production admin" {
		t.Errorf("role state = %+v", v)
	}
	if v, ok := values["incident"]["incident"]; !ok || v.Value != "" {
		t.Errorf("the untouched optional input is %+v (present %v), want present and empty", v, ok)
	}
	if !evt.Request.AcceptsResponsePayload {
		t.Errorf("a view submission accepts a response payload")
	}

	b.ack(t, evt, slack.NewErrorsViewSubmissionResponse(map[string]string{"reason": "at least 10 characters"}))
	var ack slack.ViewSubmissionResponse
	if err := json.Unmarshal(env.Ack(t, wait), &ack); err != nil || ack.ResponseAction != slack.RAErrors || ack.Errors["reason"] != "at least 10 characters" {
		t.Errorf("ack payload = %+v, %v", ack, err)
	}
	if v := s.Views("U0ALICE"); len(v) != 1 || v[0].Errors["reason"] != "at least 10 characters" {
		t.Errorf("after an errors ack, Views = %+v; the modal stays open showing the error", v)
	}

	env = s.SubmitView(t, "U0ALICE", opened.ID, map[string]map[string]any{
		"role":   {"role": slackfake.Selected("prod-admin")},
		"reason": {"reason": slackfake.PlainText("fixing INC-42 replica lag")},
	})
	b.ack(t, b.next(t, socketmode.EventTypeInteractive))
	if p := env.Ack(t, wait); p != nil {
		t.Errorf("ack payload = %s", p)
	}
	if v := s.Views("U0ALICE"); len(v) != 0 {
		t.Errorf("after an empty ack, Views = %+v; the modal closes", v)
	}
	if _, err := b.api.UpdateViewContext(ctx, requestModal(), "", "", opened.ID); slackError(err) != "not_found" {
		t.Errorf("views.update of the closed modal = %v, want not_found", err)
	}
}

func TestViewResponseActions(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)
	ctx := t.Context()

	s.SlashCommand(t, "U0ALICE", "")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	modal := requestModal()
	modal.ExternalID = "req-alice"
	opened, err := b.api.OpenViewContext(ctx, evt.Data.(slack.SlashCommand).TriggerID, modal)
	if err != nil {
		t.Fatal(err)
	}
	filled := map[string]map[string]any{
		"role":   {"role": slackfake.Selected("prod-ro")},
		"reason": {"reason": slackfake.PlainText("fixing INC-42 replica lag")},
	}

	// views.update by external_id, with Slack's hash check.
	modal.CallbackID = "jit_request_v2"
	if _, err := b.api.UpdateViewContext(ctx, modal, "req-alice", "1.stale", ""); slackError(err) != "hash_conflict" {
		t.Errorf("views.update with a stale hash = %v", err)
	}
	updated, err := b.api.UpdateViewContext(ctx, modal, "req-alice", opened.Hash, "")
	if err != nil || updated.ID != opened.ID || updated.CallbackID != "jit_request_v2" {
		t.Fatalf("views.update = %+v, %v", updated, err)
	}

	// An errors ack naming a block the view lacks is ignored, as Slack
	// ignores it.
	env := s.SubmitView(t, "U0ALICE", opened.ID, filled)
	b.ack(t, b.next(t, socketmode.EventTypeInteractive), slack.NewErrorsViewSubmissionResponse(map[string]string{"nosuch": "x"}))
	env.Ack(t, wait)
	if acks := s.Acks(); !strings.Contains(acks[len(acks)-1].Ignored, "nosuch") {
		t.Errorf("last ack = %+v, want it ignored for naming nosuch", acks[len(acks)-1])
	}
	if v := s.Views("U0ALICE"); len(v) != 1 || v[0].Errors != nil {
		t.Errorf("Views after an ignored ack = %+v", v)
	}

	step2 := requestModal()
	step2.CallbackID = "jit_confirm"
	env = s.SubmitView(t, "U0ALICE", opened.ID, filled)
	b.ack(t, b.next(t, socketmode.EventTypeInteractive), slack.NewUpdateViewSubmissionResponse(&step2))
	env.Ack(t, wait)
	if v := s.Views("U0ALICE"); len(v) != 1 || v[0].ID != opened.ID || v[0].CallbackID != "jit_confirm" {
		t.Fatalf("Views after update = %+v", v)
	}

	pushed := requestModal()
	pushed.CallbackID = "jit_more"
	env = s.SubmitView(t, "U0ALICE", opened.ID, filled)
	b.ack(t, b.next(t, socketmode.EventTypeInteractive), slack.NewPushViewSubmissionResponse(&pushed))
	env.Ack(t, wait)
	v := s.Views("U0ALICE")
	if len(v) != 2 || v[0].ID != opened.ID || v[1].CallbackID != "jit_more" {
		t.Fatalf("Views after push = %+v", v)
	}
	var top struct {
		RootViewID     string `json:"root_view_id"`
		PreviousViewID string `json:"previous_view_id"`
	}
	if err := json.Unmarshal(v[1].JSON, &top); err != nil || top.RootViewID != opened.ID || top.PreviousViewID != opened.ID {
		t.Errorf("pushed view = %s (%v)", v[1].JSON, err)
	}

	env = s.SubmitView(t, "U0ALICE", v[1].ID, filled)
	b.ack(t, b.next(t, socketmode.EventTypeInteractive), slack.NewClearViewSubmissionResponse())
	env.Ack(t, wait)
	if v := s.Views("U0ALICE"); len(v) != 0 {
		t.Errorf("Views after clear = %+v", v)
	}
}

func TestSubmitViewRefusesWhatSlackWouldNotSend(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)

	cmd := s.SlashCommand(t, "U0ALICE", "")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	cmd.Ack(t, wait) // the one ack there is to be, in before the count below
	opened, err := b.api.OpenViewContext(t.Context(), evt.Data.(slack.SlashCommand).TriggerID, requestModal())
	if err != nil {
		t.Fatal(err)
	}
	good := slackfake.PlainText("fixing INC-42 replica lag")
	tests := []struct {
		name   string
		user   string
		values map[string]map[string]any
		want   string
	}{
		{name: "required input empty", user: "U0ALICE", values: map[string]map[string]any{"reason": {"reason": good}}, want: "required"},
		{name: "unknown option", user: "U0ALICE", values: map[string]map[string]any{"role": {"role": slackfake.Selected("root")}, "reason": {"reason": good}}, want: "no option"},
		{name: "unknown input", user: "U0ALICE", values: map[string]map[string]any{"role": {"role": slackfake.Selected("prod-ro")}, "reason": {"reason": good}, "team": {"team": good}}, want: "no input team/team"},
		{name: "too long", user: "U0ALICE", values: map[string]map[string]any{"role": {"role": slackfake.Selected("prod-ro")}, "reason": {"reason": slackfake.PlainText(strings.Repeat("x", 501))}}, want: "max_length"},
		{name: "someone else's modal", user: "U0BOB", values: nil, want: "no open modal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := mustFail(t, func(tb testing.TB) { s.SubmitView(tb, tt.user, opened.ID, tt.values) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("SubmitView failed with %q, want it to mention %q", msg, tt.want)
			}
		})
	}
	if len(s.Acks()) != 1 {
		t.Errorf("a refused submission reached the client: %+v", s.Acks())
	}
}

func TestTriggerExpires(t *testing.T) {
	s := slackfake.Start(t, slackfake.WithTriggerTTL(50*time.Millisecond))
	addPeople(s)
	b := startBot(t, s)
	s.SlashCommand(t, "U0ALICE", "")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	deadline := time.Now().Add(100 * time.Millisecond)
	slackfake.WaitFor(t, "the trigger to expire", time.Second, func() bool { return time.Now().After(deadline) })
	if _, err := b.api.OpenViewContext(t.Context(), evt.Data.(slack.SlashCommand).TriggerID, requestModal()); slackError(err) != "expired_trigger_id" {
		t.Errorf("views.open with an old trigger = %v, want expired_trigger_id", err)
	}
}

func TestAppHome(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)

	env := s.OpenHome(t, "U0ALICE")
	evt := b.next(t, socketmode.EventTypeEventsAPI)
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok || ev.Type != slackevents.CallbackEvent || ev.APIAppID != slackfake.AppID {
		t.Fatalf("events_api data = %+v", evt.Data)
	}
	home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if !ok || home.User != "U0ALICE" || home.Tab != "home" || home.Channel != s.DMChannel("U0ALICE") {
		t.Fatalf("inner event = %+v", ev.InnerEvent.Data)
	}
	b.ack(t, evt)
	env.Ack(t, wait)

	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "JIT-1 active until 14:00", false, false), nil,
			slack.NewAccessory(slack.NewButtonBlockElement("relinquish", "JIT-1", text("Give up")))),
	}}}
	published, err := b.api.PublishViewContext(t.Context(), slack.PublishViewContextRequest{UserID: "U0ALICE", View: view})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s.Home("U0ALICE")), "JIT-1 active until 14:00") {
		t.Errorf("Home = %s", s.Home("U0ALICE"))
	}

	s.ClickHome(t, "U0ALICE", "relinquish", "JIT-1")
	cb := b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockActions || cb.Container.Type != "view" || cb.Container.ViewID != published.ID ||
		cb.View.ID != published.ID || cb.View.Type != slack.VTHomeTab || cb.ResponseURL != "" || cb.TriggerID == "" {
		t.Errorf("home click = %+v", cb)
	}
	if a := cb.ActionCallback.BlockActions; len(a) != 1 || a[0].ActionID != "relinquish" || a[0].Value != "JIT-1" {
		t.Errorf("home click actions = %+v", a)
	}
	mustFail(t, func(tb testing.TB) { s.ClickHome(tb, "U0BOB", "relinquish", "") })
}

func TestDropAndReconnect(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)
	slackfake.WaitFor(t, "the client to connect", wait, func() bool { return s.Connected() == 1 })

	s.Drop()
	slackfake.WaitFor(t, "the client to reconnect", wait, func() bool { return s.Connections() == 2 && s.Connected() == 1 })
	env := s.SlashCommand(t, "U0ALICE", "list")
	b.ack(t, b.next(t, socketmode.EventTypeSlashCommand))
	env.Ack(t, wait)

	s.Disconnect("refresh_requested")
	slackfake.WaitFor(t, "the client to reconnect after disconnect", wait, func() bool { return s.Connections() == 3 && s.Connected() == 1 })
	env = s.SlashCommand(t, "U0ALICE", "roles")
	b.ack(t, b.next(t, socketmode.EventTypeSlashCommand))
	env.Ack(t, wait)
	if n := len(s.Calls("apps.connections.open")); n != 3 {
		t.Errorf("apps.connections.open called %d times, want 3", n)
	}
}

func TestRedeliver(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	b := startBot(t, s)

	first := s.SlashCommand(t, "U0ALICE", "request prod-ro fixing INC-42 lag")
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	b.ack(t, evt)
	first.Ack(t, wait)

	again := s.Redeliver(t, first)
	evt2 := b.next(t, socketmode.EventTypeSlashCommand)
	if evt2.Request.EnvelopeID != first.ID || evt2.Request.RetryAttempt != 1 || evt2.Request.RetryReason != "timeout" || again.RetryAttempt != 1 {
		t.Errorf("redelivered request = %+v", evt2.Request)
	}
	if evt2.Data.(slack.SlashCommand) != evt.Data.(slack.SlashCommand) {
		t.Errorf("redelivered payload differs: %+v vs %+v", evt2.Data, evt.Data)
	}
	if again.Acked() {
		t.Errorf("the redelivery counts as acked by the first ack")
	}
	b.ack(t, evt2)
	again.Ack(t, wait)
	acks := s.Acks()
	if len(acks) != 2 || acks[0].RetryAttempt != 0 || acks[1].RetryAttempt != 1 || acks[1].EnvelopeID != first.ID {
		t.Errorf("Acks() = %+v", acks)
	}
}

func TestPingsKeepAnIdleConnection(t *testing.T) {
	// slack-go reconnects when no ping came for its ping interval (30 s by
	// default); both sides are shortened here.
	s := slackfake.Start(t, slackfake.WithPingInterval(50*time.Millisecond))
	addPeople(s)
	b := startBot(t, s, socketmode.OptionPingInterval(300*time.Millisecond))
	slackfake.WaitFor(t, "the client to connect", wait, func() bool { return s.Connected() == 1 })

	idle := time.Now().Add(1500 * time.Millisecond) // five of the client's ping intervals
	slackfake.WaitFor(t, "idle time to pass", 3*time.Second, func() bool { return time.Now().After(idle) })
	if n := s.Connections(); n != 1 {
		t.Fatalf("the client connected %d times while idle; pings did not keep it", n)
	}
	env := s.SlashCommand(t, "U0ALICE", "list")
	b.ack(t, b.next(t, socketmode.EventTypeSlashCommand))
	env.Ack(t, wait)
}

func TestWithoutPingsTheClientReconnects(t *testing.T) {
	// The control for TestPingsKeepAnIdleConnection: the same client gives
	// up on a connection that is never pinged.
	s := slackfake.Start(t, slackfake.WithPingInterval(0))
	startBot(t, s, socketmode.OptionPingInterval(300*time.Millisecond))
	slackfake.WaitFor(t, "the client to reconnect for lack of pings", wait, func() bool { return s.Connections() >= 2 })
}

func TestConnectRateLimited(t *testing.T) {
	s := slackfake.Start(t)
	s.RateLimit("apps.connections.open", 1, time.Second)
	start := time.Now()
	startBot(t, s)
	slackfake.WaitFor(t, "the client to connect after the rate limit", wait, func() bool { return s.Connected() == 1 })
	if d := time.Since(start); d < time.Second {
		t.Errorf("connected after %v, before Retry-After", d)
	}
	calls := s.Calls("apps.connections.open")
	if len(calls) != 2 || calls[0].Error != "ratelimited" || calls[1].Token != s.AppToken() {
		t.Errorf("apps.connections.open calls = %+v", calls)
	}
}

func TestDriversNeedAConnectedBot(t *testing.T) {
	s := slackfake.Start(t, slackfake.WithConnectTimeout(100*time.Millisecond))
	msg := mustFail(t, func(tb testing.TB) { s.SlashCommand(tb, "U0ALICE", "help") })
	if !strings.Contains(msg, "no bot connected") {
		t.Errorf("SlashCommand without a bot failed with %q", msg)
	}
	env := func() slackfake.Envelope {
		// A bot that connects but never acks.
		api := client(s)
		_, wsURL, err := api.StartSocketModeContext(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return s.SlashCommand(t, "U0ALICE", "help")
	}()
	msg = mustFail(t, func(tb testing.TB) { env.Ack(tb, 50*time.Millisecond) })
	if !strings.Contains(msg, "not acknowledged") {
		t.Errorf("Ack without an ack failed with %q", msg)
	}
	start := time.Now()
	if d := env.AckDelay(); d != 0 || time.Since(start) > slackfake.AckDeadline+time.Second {
		t.Errorf("AckDelay of an envelope never acked = %v after %v; want 0 once Slack's deadline passed", d, time.Since(start))
	}
}

func TestOversizedAckIsDropped(t *testing.T) {
	s := slackfake.Start(t)
	_, wsURL, err := client(s).StartSocketModeContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	env := s.OpenHome(t, "U0ALICE")
	big := map[string]any{"envelope_id": env.ID, "payload": map[string]any{"text": strings.Repeat("x", 20<<10)}}
	if err := ws.WriteJSON(big); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"envelope_id": "not-ours"}); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"envelope_id": env.ID}); err != nil {
		t.Fatal(err)
	}
	if p := env.Ack(t, wait); p != nil {
		t.Errorf("ack payload = %.40s…, want the small ack's (none); Slack drops responses of 20 kB or more", p)
	}
	if acks := s.Acks(); len(acks) != 1 {
		t.Errorf("Acks() = %d acks, want only the small one", len(acks))
	}
}

func TestCloseEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	s := slackfake.New(slackfake.WithPingInterval(10 * time.Millisecond))
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	api := slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(s.AppToken()),
		slack.OptionHTTPClient(&http.Client{Transport: transport}))
	_, wsURL, err := api.StartSocketModeContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Any Origin is accepted.
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"https://elsewhere.example"}})
	if err != nil {
		t.Fatalf("dial with a foreign Origin: %v", err)
	}
	defer ws.Close()
	var hello struct {
		Type           string `json:"type"`
		NumConnections int    `json:"num_connections"`
		DebugInfo      struct {
			Host string `json:"host"`
		} `json:"debug_info"`
		ConnectionInfo struct {
			AppID string `json:"app_id"`
		} `json:"connection_info"`
	}
	if err := ws.ReadJSON(&hello); err != nil || hello.Type != "hello" || hello.NumConnections != 1 ||
		hello.DebugInfo.Host == "" || hello.ConnectionInfo.AppID != slackfake.AppID {
		t.Fatalf("first message = %+v, %v", hello, err)
	}
	pinged := make(chan struct{}, 1)
	ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	read := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				read <- err
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(wait):
		t.Fatal("no ping within 5s")
	}
	if _, _, err := websocket.DefaultDialer.Dial(wsURL, nil); !errors.Is(err, websocket.ErrBadHandshake) {
		t.Errorf("second dial with one ticket = %v, want a refused handshake", err)
	}

	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-read:
	case <-time.After(wait):
		t.Fatal("the websocket stayed open after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := api.AuthTestContext(t.Context()); err == nil {
		t.Errorf("auth.test succeeded after Close")
	}
	ws.Close()
	transport.CloseIdleConnections()
	slackfake.WaitFor(t, "goroutines to end", wait, func() bool { return runtime.NumGoroutine() <= before })
}

func TestStartSlackThroughTestenv(t *testing.T) {
	var addr string
	t.Run("serves", func(t *testing.T) {
		s := testenv.StartSlack(t, slackfake.WithBotToken("xoxb-other"))
		addr = strings.TrimPrefix(s.URL(), "http://")
		if !strings.HasPrefix(addr, "127.0.0.1:") || !strings.HasSuffix(s.APIURL(), "/api/") {
			t.Fatalf("URL() = %q, APIURL() = %q", s.URL(), s.APIURL())
		}
		if res, err := client(s).AuthTestContext(t.Context()); err != nil || res.UserID != slackfake.BotUserID {
			t.Fatalf("auth.test with the configured token = %+v, %v", res, err)
		}
	})
	// The subtest's cleanup has closed the server.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("slackfake still accepts connections on %s after the test ended", addr)
	}
}
