package slackfake_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// httpApp is an app in HTTP mode built on slack-go alone: it verifies each
// request with slack-go's verifier and parses it with slack-go's parsers,
// so these tests prove that the fake signs and encodes as slack-go
// expects Slack to.
type httpApp struct {
	secret string
	url    string

	mu      sync.Mutex
	got     []received // verified requests
	refused []error    // why the verifier refused, in order
	answer  func(r *http.Request) (contentType, body string)
}

type received struct {
	path   string
	header http.Header
	body   []byte
}

func startHTTPApp(t *testing.T, secret string) *httpApp {
	t.Helper()
	a := &httpApp{secret: secret}
	a.reply(func(*http.Request) (string, string) { return "", "" })
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// startHTTPMode starts the fake with its people, an app, and the fake's
// side of HTTP mode posting to the app.
func startHTTPMode(t *testing.T) (*slackfake.Server, *httpApp, *slackfake.HTTPMode) {
	t.Helper()
	s := slackfake.Start(t)
	addPeople(s)
	app := startHTTPApp(t, slackfake.DefaultSigningSecret)
	return s, app, s.HTTPMode(app.url, slackfake.DefaultSigningSecret)
}

func (a *httpApp) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sv, err := slack.NewSecretsVerifier(r.Header, a.secret)
	if err == nil {
		sv.Write(body)
		err = sv.Ensure()
	}
	a.mu.Lock()
	if err != nil {
		a.refused = append(a.refused, err)
		a.mu.Unlock()
		http.Error(w, "refused", http.StatusUnauthorized)
		return
	}
	a.got = append(a.got, received{path: r.URL.Path, header: r.Header.Clone(), body: body})
	answer := a.answer
	a.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	ct, out := answer(r)
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	io.WriteString(w, out)
}

// reply sets how the app answers from now on.
func (a *httpApp) reply(answer func(r *http.Request) (contentType, body string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answer = answer
}

// last returns the last verified request, as the app received it.
func (a *httpApp) last(t *testing.T) *http.Request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) == 0 {
		t.Fatal("the app verified no request")
	}
	g := a.got[len(a.got)-1]
	r := httptest.NewRequest(http.MethodPost, g.path, bytes.NewReader(g.body))
	r.Header = g.header.Clone()
	return r
}

func (a *httpApp) refusals() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.refused...)
}

func TestHTTPModeSlashCommand(t *testing.T) {
	s, app, h := startHTTPMode(t)

	d := h.SlashCommand(t, "U0ALICE", "request prod-admin 1h fixing INC-42")
	r := app.last(t)
	if r.URL.Path != slackfake.CommandsPath || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("posted to %s as %q", r.URL.Path, r.Header.Get("Content-Type"))
	}
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Command != "/jit" || cmd.Text != "request prod-admin 1h fixing INC-42" || cmd.UserID != "U0ALICE" || cmd.UserName != "alice" ||
		cmd.ChannelID != "C0GENERAL" || cmd.TeamID != slackfake.TeamID || cmd.APIAppID != slackfake.AppID || cmd.TriggerID == "" ||
		!strings.HasPrefix(cmd.ResponseURL, s.URL()+"/response/") {
		t.Errorf("slash command = %+v", cmd)
	}
	if d.Status != http.StatusOK || d.Type != "slash_commands" || d.Ack(t, wait) != nil || d.AckDelay() <= 0 {
		t.Errorf("delivery: status %d type %s ack delay %v", d.Status, d.Type, d.AckDelay())
	}
	if acks := s.Acks(); len(acks) != 1 || acks[0].EnvelopeID != d.ID || acks[0].Ignored != "" {
		t.Errorf("Acks() = %+v", acks)
	}

	// The response may carry the answer, as JSON or as plain text; Slack
	// shows it to the user alone.
	app.reply(func(*http.Request) (string, string) { return "application/json", `{"text":"Usage: /jit request …"}` })
	h.SlashCommand(t, "U0ALICE", "help")
	app.reply(func(*http.Request) (string, string) { return "text/plain", "plain answer" })
	h.SlashCommand(t, "U0ALICE", "help")
	if e := s.Ephemerals("U0ALICE"); len(e) != 2 || e[0].Text != "Usage: /jit request …" || e[1].Text != "plain answer" {
		t.Errorf("Ephemerals after answers in the response = %+v", e)
	}
}

func TestHTTPModeInteractions(t *testing.T) {
	s, app, h := startHTTPMode(t)
	api := client(s)
	ctx := t.Context()

	dm, ts, err := api.PostMessageContext(ctx, "U0BOB", slack.MsgOptionText("JIT-1 needs you", false), slack.MsgOptionBlocks(decisionBlocks("JIT-1")...))
	if err != nil {
		t.Fatal(err)
	}
	h.Click(t, "U0BOB", dm, ts, "approve", "JIT-1")
	r := app.last(t)
	if r.URL.Path != slackfake.InteractivityPath {
		t.Errorf("click posted to %s", r.URL.Path)
	}
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U0BOB" || cb.Container.MessageTs != ts || cb.TriggerID == "" ||
		len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].Value != "JIT-1" {
		t.Errorf("callback = %+v", cb)
	}
	if _, err := h.SendClick("U0ALICE", dm, ts, "approve", "JIT-1"); err == nil || !strings.Contains(err.Error(), "cannot see it") {
		t.Errorf("a click on someone else's DM = %v, want refused by the fake", err)
	}

	// A modal's errors in the response keep it open, as in Socket Mode.
	h.SlashCommand(t, "U0ALICE", "")
	cmd, err := slack.SlashCommandParse(app.last(t))
	if err != nil {
		t.Fatal(err)
	}
	opened, err := api.OpenViewContext(ctx, cmd.TriggerID, requestModal())
	if err != nil {
		t.Fatal(err)
	}
	app.reply(func(*http.Request) (string, string) {
		return "application/json", `{"response_action":"errors","errors":{"reason":"at least 10 characters"}}`
	})
	values := map[string]map[string]any{"role": {"role": slackfake.Selected("prod-admin")}, "reason": {"reason": slackfake.PlainText("short")}}
	h.SubmitView(t, "U0ALICE", opened.ID, values)
	cb, err = slack.InteractionCallbackParse(app.last(t))
	if err != nil || cb.Type != slack.InteractionTypeViewSubmission || cb.View.State.Values["reason"]["reason"].Value != "short" {
		t.Errorf("view_submission = %+v, %v", cb, err)
	}
	if v := s.Views("U0ALICE"); len(v) != 1 || v[0].Errors["reason"] != "at least 10 characters" {
		t.Errorf("after an errors response, Views = %+v", v)
	}
	app.reply(func(*http.Request) (string, string) { return "", "" })
	h.SubmitView(t, "U0ALICE", opened.ID, values)
	if v := s.Views("U0ALICE"); len(v) != 0 {
		t.Errorf("after an empty response, Views = %+v; the modal closes", v)
	}
}

func TestHTTPModeEvents(t *testing.T) {
	_, app, h := startHTTPMode(t)

	d := h.OpenHome(t, "U0ALICE")
	r := app.last(t)
	body, _ := io.ReadAll(r.Body)
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil || r.URL.Path != slackfake.EventsPath || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("event posted to %s as %q: %v", r.URL.Path, r.Header.Get("Content-Type"), err)
	}
	home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	cbe, _ := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || home.User != "U0ALICE" || home.Tab != "home" || cbe == nil || cbe.EventID != d.ID {
		t.Errorf("event = %+v, inner %+v; delivery ID %s", ev, ev.InnerEvent.Data, d.ID)
	}

	// A retry: the same body, signed anew, with Slack's retry headers.
	retry := h.Retry(t, d)
	r = app.last(t)
	again, _ := io.ReadAll(r.Body)
	if string(again) != string(body) || r.Header.Get("X-Slack-Retry-Num") != "1" || r.Header.Get("X-Slack-Retry-Reason") != "http_timeout" || retry.RetryAttempt != 1 {
		t.Errorf("retry: same body %v, headers %v, attempt %d", string(again) == string(body), r.Header, retry.RetryAttempt)
	}

	// url_verification passes only when the challenge comes back.
	if _, err := h.SendURLVerification(); err == nil || !strings.Contains(err.Error(), "not the challenge") {
		t.Errorf("url_verification answered with nothing = %v, want an error", err)
	}
	app.reply(func(r *http.Request) (string, string) {
		var v struct{ Challenge string }
		json.NewDecoder(r.Body).Decode(&v)
		return "text/plain", v.Challenge
	})
	if _, err := h.SendURLVerification(); err != nil {
		t.Errorf("url_verification with the challenge echoed: %v", err)
	}
}

// TestHTTPModeForgedAndStale: a request signed with another secret, or
// sent more than 5 minutes ago, is refused by slack-go's verifier, and the
// fake records no ack for it.
func TestHTTPModeForgedAndStale(t *testing.T) {
	s, app, h := startHTTPMode(t)

	forged := *h
	forged.SigningSecret = "0000000000000000000000000000beef"
	stale := *h
	stale.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) }
	for _, tt := range []struct {
		name string
		h    *slackfake.HTTPMode
		want error
	}{
		{name: "another secret", h: &forged, want: slack.ErrInvalidSignature},
		{name: "6 minutes old", h: &stale, want: slack.ErrExpiredTimestamp},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.h.SlashCommand(t, "U0ALICE", "roles")
			if ref := app.refusals(); d.Status != http.StatusUnauthorized || d.Acked() || len(ref) == 0 || !errors.Is(ref[len(ref)-1], tt.want) {
				t.Errorf("status %d, acked %v, refusals %v; want 401 for %v", d.Status, d.Acked(), ref, tt.want)
			}
		})
	}
	if a := s.Acks(); len(a) != 0 {
		t.Errorf("Acks() = %+v, want none", a)
	}
}

// TestSign checks Sign against the worked example of Slack's "Verifying
// requests from Slack".
func TestSign(t *testing.T) {
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar" +
		"&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=" +
		"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN" +
		"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	const want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	if got := slackfake.Sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", []byte(body)); got != want {
		t.Errorf("Sign = %s\nwant   %s", got, want)
	}
}
