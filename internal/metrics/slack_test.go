package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// bigList is a successful answer larger than the transport peeks at.
var bigList = `{"ok":true,"members":["` + strings.Repeat("U0123456789", 7000) + `"]}`

// slackAPI answers like Slack: chat.postMessage succeeds, chat.update is
// refused with ok:false, users.info is rate limited, conversations.open
// fails with a 502, users.list is large.
func slackAPI(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/api/chat.postMessage":
			fmt.Fprint(w, `{"ok":true,"channel":"C0AUDIT001","ts":"1700000000.000100"}`)
		case "/api/chat.update":
			fmt.Fprint(w, `{"ok":false,"error":"channel_not_found"}`)
		case "/api/users.info":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"ok":false,"error":"ratelimited"}`)
		case "/api/conversations.open":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>bad gateway</html>")
		case "/api/users.list":
			fmt.Fprint(w, bigList)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The real slack-go client over the transport: every result is counted
// under its method, and slack-go still reads each answer in full (the
// posted message's ts, Slack's error, the Retry-After).
func TestSlackTransportWithSlackGo(t *testing.T) {
	srv := slackAPI(t)
	m := New()
	api := slack.New("xoxb-test", slack.OptionAPIURL(srv.URL+"/api/"),
		slack.OptionHTTPClient(&http.Client{Transport: m.SlackTransport(nil)}))
	ctx := t.Context()

	_, ts, err := api.PostMessageContext(ctx, "C0AUDIT001", slack.MsgOptionText("hello", false))
	if err != nil || ts != "1700000000.000100" {
		t.Errorf("PostMessage = %q, %v; want the ts from the answer", ts, err)
	}
	_, _, _, err = api.UpdateMessageContext(ctx, "C0AUDIT001", ts, slack.MsgOptionText("hello again", false))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "channel_not_found" {
		t.Errorf("UpdateMessage error = %v, want Slack's channel_not_found", err)
	}
	_, err = api.GetUserInfoContext(ctx, "UALICE")
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter.Seconds() != 7 {
		t.Errorf("GetUserInfo error = %v, want rate limited for 7s", err)
	}
	if _, _, _, err = api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"UALICE"}}); err == nil {
		t.Error("OpenConversation succeeded on a 502")
	}

	for _, tt := range []struct{ method, result string }{
		{"chat.postMessage", "ok"},
		{"chat.update", "slack_error"},
		{"users.info", "ratelimited"},
		{"conversations.open", "http_502"},
	} {
		if got := value(t, m, "jitbot_slack_api_calls_total", map[string]string{"method": tt.method, "result": tt.result}); got != 1 {
			t.Errorf("jitbot_slack_api_calls_total{method=%q,result=%q} = %v, want 1", tt.method, tt.result, got)
		}
		if s, _ := find(t, m, "jitbot_slack_api_duration_seconds", map[string]string{"method": tt.method}); s.count != 1 {
			t.Errorf("jitbot_slack_api_duration_seconds{method=%q} count = %d, want 1", tt.method, s.count)
		}
	}
}

// A body larger than the peek is passed on whole, byte for byte; a body
// that fails while being peeked at fails the caller too.
func TestSlackTransportGivesBodiesBack(t *testing.T) {
	srv := slackAPI(t)
	m := New()
	client := &http.Client{Transport: m.SlackTransport(nil)}
	for _, tt := range []struct{ path, want string }{
		{"/api/users.list", bigList},
		{"/api/chat.update", `{"ok":false,"error":"channel_not_found"}`},
	} {
		resp, err := client.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != tt.want {
			t.Errorf("GET %s: body of %d bytes (%v), want the %d the server sent", tt.path, len(body), err, len(tt.want))
		}
	}
	if got := value(t, m, "jitbot_slack_api_calls_total", map[string]string{"method": "users.list", "result": "ok"}); got != 1 {
		t.Errorf("users.list ok = %v, want 1", got)
	}

	broken := &http.Client{Transport: m.SlackTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(io.MultiReader(strings.NewReader(`{"ok":fa`), errReader{io.ErrUnexpectedEOF}))}, nil
	}))}
	resp, err := broken.Get("http://slack.invalid/api/chat.postMessage")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if string(body) != `{"ok":fa` || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("broken body read as %q, %v; want the bytes before the failure, then the failure", body, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSlackTransportNetworkErrorsAndOddPaths(t *testing.T) {
	srv := slackAPI(t)
	m := New()
	client := &http.Client{Transport: m.SlackTransport(nil)}

	resp, err := client.Get(srv.URL + "/api/files/F0123/weird-path")
	if err == nil {
		resp.Body.Close()
	}
	if got := value(t, m, "jitbot_slack_api_calls_total", map[string]string{"method": "other", "result": "http_404"}); got != 1 {
		t.Errorf("an odd path counted as other/http_404 %v times, want 1", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/chat.postMessage", nil)
	if _, err := client.Do(req); err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	if got := value(t, m, "jitbot_slack_api_calls_total", map[string]string{"method": "chat.postMessage", "result": "cancelled"}); got != 1 {
		t.Errorf("cancelled = %v, want 1", got)
	}

	srv.Close()
	if _, err := client.Post(srv.URL+"/api/chat.postMessage", "application/json", nil); err == nil {
		t.Fatal("a call to a closed server succeeded")
	}
	if got := value(t, m, "jitbot_slack_api_calls_total", map[string]string{"method": "chat.postMessage", "result": "network_error"}); got != 1 {
		t.Errorf("network_error = %v, want 1", got)
	}
}

// jitbot_slack_socket_mode_open_ok follows the last apps.connections.open:
// absent before the first, 0 after a refusal (Socket Mode then gives up,
// so no later call would show it), 1 after a success.
func TestSlackSocketModeOpenGauge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer xapp-good" {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		fmt.Fprint(w, `{"ok":true,"url":"wss://example.invalid/link"}`)
	}))
	t.Cleanup(srv.Close)
	m := New()
	if _, ok := find(t, m, "jitbot_slack_socket_mode_open_ok", nil); ok {
		t.Error("the gauge exists before any apps.connections.open")
	}
	for _, tt := range []struct {
		token string
		want  float64
	}{
		{"xapp-wrong", 0},
		{"xapp-good", 1},
		{"xapp-wrong", 0},
	} {
		api := slack.New("xoxb-test", slack.OptionAPIURL(srv.URL+"/api/"), slack.OptionAppLevelToken(tt.token),
			slack.OptionHTTPClient(&http.Client{Transport: m.SlackTransport(nil)}))
		api.StartSocketModeContext(t.Context())
		if got := value(t, m, "jitbot_slack_socket_mode_open_ok", nil); got != tt.want {
			t.Errorf("after apps.connections.open with %s: gauge = %v, want %v", tt.token, got, tt.want)
		}
	}
}
