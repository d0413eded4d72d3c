package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// These tests run the service as startSec builds it, served in HTTP mode
// (RunHTTP on a loopback port), with the Slack fake posting to it as Slack
// does in HTTP mode.

// startHTTP serves e's handler in HTTP mode with slackfake's signing
// secret and returns the fake's side of it and the app's base URL.
func startHTTP(t *testing.T, e *secEnv) (*slackfake.HTTPMode, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.h.RunHTTP(ctx, ln, slackfake.DefaultSigningSecret) }()
	// Registered after startSec's clean-up, so it runs first: the work in
	// hand finishes while the store is still there.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunHTTP: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	return e.slack.HTTPMode(base, slackfake.DefaultSigningSecret), base
}

// slashForm is the form body of a /jit command typed by user, as Slack
// posts it, without a response_url: the answer then goes by DM.
func slashForm(user, text string) []byte {
	return []byte(url.Values{
		"command": {"/jit"}, "text": {text}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"team_id": {slackfake.TeamID}, "channel_id": {slackfake.DefaultChannel}, "trigger_id": {"1.2." + text},
	}.Encode())
}

// post sends body to url with the given signature headers; a zero
// timestamp leaves both headers out. A chunked body declares no length.
func post(t *testing.T, url string, body []byte, chunked bool, ts time.Time, secret string, signed []byte) *http.Response {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r)
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !ts.IsZero() {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		req.Header.Set("X-Slack-Request-Timestamp", stamp)
		req.Header.Set("X-Slack-Signature", slackfake.Sign(secret, stamp, signed))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestHTTPModeVerifiesSignatures: every request that would file a request
// if it were handled, but that Slack did not sign with the app's signing
// secret within the last 5 minutes, or whose body is over the limit, is
// refused with a log line saying why, and files nothing. The signed one
// files its request.
func TestHTTPModeVerifiesSignatures(t *testing.T) {
	e := startSec(t, secOptions{})
	_, base := startHTTP(t, e)
	commands := base + handlers.PathCommands
	const text = "request readonly 5m checking replica lag for INC-42"
	body := slashForm("UALICE", text)
	secret := slackfake.DefaultSigningSecret

	tests := []struct {
		name       string
		body       []byte
		ts         time.Time
		secret     string
		signed     []byte // what the signature covers
		chunked    bool
		wantStatus int
		wantLog    string
	}{
		{name: "unsigned", body: body, wantStatus: 401, wantLog: "not signed"},
		{name: "wrong secret", body: body, ts: time.Now(), secret: "0000000000000000000000000000beef", signed: body, wantStatus: 401, wantLog: "signature does not match"},
		{name: "replayed 6 minutes later", body: body, ts: time.Now().Add(-6 * time.Minute), secret: secret, signed: body, wantStatus: 401, wantLog: "more than 5 minutes"},
		{name: "body tampered", body: slashForm("UEVE", text), ts: time.Now(), secret: secret, signed: body, wantStatus: 401, wantLog: "signature does not match"},
		{name: "oversized", body: append(bytes.Clone(body), make([]byte, handlers.MaxBodySize)...), ts: time.Now(), secret: secret, wantStatus: 413, wantLog: "over the 1048576-byte limit"},
		{name: "oversized, length not declared", body: append(bytes.Clone(body), make([]byte, handlers.MaxBodySize)...), chunked: true, ts: time.Now(), secret: secret, wantStatus: 413, wantLog: "body over the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(e.logs.String(), tt.wantLog)
			signed := tt.signed
			if signed == nil {
				signed = tt.body
			}
			if resp := post(t, commands, tt.body, tt.chunked, tt.ts, tt.secret, signed); resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := e.logs.String(); strings.Count(got, tt.wantLog) != before+1 || !strings.Contains(got, "Slack request refused") {
				t.Errorf("no log line says %q", tt.wantLog)
			}
		})
	}

	// The same request, signed: handled. A refused request is refused
	// before any work is handed over; the count of approval DMs shows it.
	if resp := post(t, commands, body, false, time.Now(), secret, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed request: status %d", resp.StatusCode)
	}
	id := grants.RequestID(requestIDRE.FindString(e.dm(t, "UALICE", "JIT-").Text))
	e.approvalDM(t, "ULEAD1", id)
	if dms := e.slack.DMs("ULEAD1"); len(dms) != 1 {
		t.Errorf("ULEAD1 has %d approval DMs, want 1: refused requests were handled", len(dms))
	}
	l, err := e.svc.List(t.Context(), "UEVE")
	if err != nil || len(l.Mine) != 0 {
		t.Errorf("the tampered request filed something for UEVE: %+v, %v", l, err)
	}

	for _, tt := range []struct {
		name, method, path string
		want               int
	}{
		{name: "GET", method: http.MethodGet, path: handlers.PathCommands, want: http.StatusMethodNotAllowed},
		{name: "unknown path", method: http.MethodPost, path: "/slack/other", want: http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

// TestHTTPModeFlow: a request, an approval and the App Home over HTTP
// mode, through the same handlers as Socket Mode; each acknowledged within
// Slack's 3 seconds; the same request sent again (Slack's retry, or a
// replay within the signature window) is acknowledged and ignored.
func TestHTTPModeFlow(t *testing.T) {
	e := startSec(t, secOptions{})
	h, _ := startHTTP(t, e)

	if _, err := h.SendURLVerification(); err != nil {
		t.Fatal(err)
	}
	cmd := h.SlashCommand(t, "UALICE", "request readonly 5m checking replica lag for INC-42")
	if cmd.Status != http.StatusOK || cmd.AckDelay() <= 0 {
		t.Fatalf("slash command: status %d, ack delay %v", cmd.Status, cmd.AckDelay())
	}
	id := grants.RequestID(requestIDRE.FindString(e.ephemeral(t, "UALICE", 0, "the acknowledgement", "JIT-")))
	dm := e.approvalDM(t, "ULEAD1", id)
	if again := h.Retry(t, cmd); again.Status != http.StatusOK || again.AckDelay() <= 0 {
		t.Errorf("retried slash command: status %d", again.Status)
	}

	click := h.Click(t, "ULEAD1", dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
	if click.Status != http.StatusOK || click.AckDelay() <= 0 {
		t.Fatalf("click: status %d", click.Status)
	}
	e.waitState(t, id, grants.Active)
	e.dm(t, "UALICE", string(id), "export AWS_SECRET_ACCESS_KEY="+secSecretKey)
	h.Retry(t, click)

	home := h.OpenHome(t, "UALICE")
	e.slack.WaitFor(t, "App Home published", 10*time.Second, func() bool { return len(e.slack.Calls("views.publish")) == 1 })
	h.Retry(t, home)

	// Each retry was recognised, and did nothing.
	e.slack.WaitFor(t, "three retries ignored", 10*time.Second, func() bool {
		return strings.Count(e.logs.String(), "redelivered Slack request ignored") == 3
	})
	if g := e.backend.grantsOf(); len(g) != 1 {
		t.Errorf("grants %v, want one", g)
	}
	if l, _ := e.svc.List(t.Context(), "UALICE"); len(l.Mine) != 1 {
		t.Errorf("UALICE has %d requests, want 1", len(l.Mine))
	}
	if n := len(e.slack.Calls("views.publish")); n != 1 {
		t.Errorf("views.publish called %d times, want 1", n)
	}
}

// TestHTTPModeModalErrorsInTheResponse: a modal submission's field errors
// travel in the HTTP response, as they do in the Socket Mode ack, and keep
// the modal open.
func TestHTTPModeModalErrorsInTheResponse(t *testing.T) {
	e := startSec(t, secOptions{})
	h, _ := startHTTP(t, e)

	h.SlashCommand(t, "UALICE", "")
	view := e.openView(t, "UALICE", blockkit.ViewRequest)
	d := h.SubmitView(t, "UALICE", view.ID, map[string]map[string]any{
		blockkit.InputRole:     {blockkit.InputRole: slackfake.Selected("readonly")},
		blockkit.InputDuration: {blockkit.InputDuration: slackfake.PlainText("soon")},
		blockkit.InputReason:   {blockkit.InputReason: slackfake.PlainText("checking replica lag for INC-42")},
	})
	var ack slack.ViewSubmissionResponse
	if err := json.Unmarshal(d.Ack(t, 5*time.Second), &ack); err != nil || ack.ResponseAction != slack.RAErrors || ack.Errors[blockkit.InputDuration] == "" {
		t.Fatalf("response %d %s: %v", d.Status, d.Body, err)
	}
	if ct := d.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if v := e.slack.Views("UALICE"); len(v) != 1 || v[0].Errors[blockkit.InputDuration] == "" {
		t.Errorf("the modal does not show the error: %+v", v)
	}
}
