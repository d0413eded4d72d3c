package slackfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTP mode: instead of Socket Mode, Slack POSTs every slash command,
// interaction and event to the app's request URLs, signs each request with
// the app's signing secret, and takes the HTTP response as the ack. HTTPMode
// plays Slack's side of that, with the fake's state: the same payloads as
// the Socket Mode drivers, the same reaction to the ack (a slash command's
// answer, a modal's errors), and the same 3-second deadline.
//
// Slack's rules, from "Verifying requests from Slack" and the Events API
// docs: the signature is "v0=" + hex(HMAC-SHA256(signing secret,
// "v0:" + X-Slack-Request-Timestamp + ":" + body)); slash commands are
// form posts, interactions a form post with one field, payload, holding
// the JSON; events are JSON, and a new events URL must echo the challenge
// of a url_verification. Slack retries an event whose response failed,
// with X-Slack-Retry-Num and X-Slack-Retry-Reason, keeping its event_id.

// DefaultSigningSecret is a signing secret shaped like Slack's (32 hex
// characters), for the app under test and HTTPMode to share.
const DefaultSigningSecret = "8f742231b10e8888abcd99ed1d4c5a6b"

// The request URLs of the fake's app, under the app's base URL.
const (
	CommandsPath      = "/slack/commands"
	InteractivityPath = "/slack/interactivity"
	EventsPath        = "/slack/events"
)

// HTTPMode delivers to an app in HTTP mode. Its fields may be changed
// between deliveries; a copy with another SigningSecret or Now sends
// forged or stale requests.
type HTTPMode struct {
	CommandsURL      string
	InteractivityURL string
	EventsURL        string
	SigningSecret    string
	// Now is the clock of X-Slack-Request-Timestamp.
	Now    func() time.Time
	Client *http.Client

	s *Server
}

// HTTPMode returns a deliverer to the app at baseURL (its request URLs
// are baseURL+CommandsPath, …) that signs with signingSecret.
func (s *Server) HTTPMode(baseURL, signingSecret string) *HTTPMode {
	baseURL = strings.TrimSuffix(baseURL, "/")
	return &HTTPMode{
		CommandsURL: baseURL + CommandsPath, InteractivityURL: baseURL + InteractivityPath, EventsURL: baseURL + EventsPath,
		SigningSecret: signingSecret, Now: time.Now,
		Client: &http.Client{Timeout: 10 * time.Second}, s: s,
	}
}

// HTTPDelivery is one request to the app and its response. The embedded
// Envelope (Ack, AckDelay, …) is acknowledged when the app answered 200,
// with the response body as the ack payload; any other status is a
// failure Slack shows to the user, and leaves it unacknowledged.
type HTTPDelivery struct {
	Envelope
	Status int
	Body   []byte // the response body
	Header http.Header

	url, contentType string
	body             []byte // the request body
}

// Sign returns the X-Slack-Signature of body sent at timestamp (Unix
// seconds, as in X-Slack-Request-Timestamp), as Slack computes it.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", timestamp)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// Post sends body to url as Slack does: signed, with
// X-Slack-Request-Timestamp and, for a retry (retryNum > 0),
// X-Slack-Retry-Num and X-Slack-Retry-Reason. It returns the response with
// its body read.
func (h *HTTPMode) Post(url, contentType string, body []byte, retryNum int) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	ts := strconv.FormatInt(h.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", Sign(h.SigningSecret, ts, body))
	if retryNum > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retryNum))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxAckSize))
	if err != nil {
		return nil, nil, fmt.Errorf("read the response of %s: %w", url, err)
	}
	return resp, got, nil
}

// SendSlashCommand posts "/jit text" typed by userID in channel, as a
// form. An answer in the response (JSON, or plain text) is shown to the
// user, as the ack of a Socket Mode slash command is.
func (h *HTTPMode) SendSlashCommand(userID, channel, text string) (HTTPDelivery, error) {
	p, apply := h.s.newSlashCommand(userID, channel, text)
	raw, err := json.Marshal(p)
	if err != nil {
		return HTTPDelivery{}, err
	}
	var fields map[string]string // every field of a slash command is a string
	json.Unmarshal(raw, &fields)
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	return h.send(HTTPDelivery{
		Envelope: Envelope{ID: uuid(), Type: "slash_commands", Payload: raw},
		url:      h.CommandsURL, contentType: "application/x-www-form-urlencoded", body: []byte(form.Encode()),
	}, apply)
}

// SendClick posts the click of userID on a button of a message, as Click
// sends it over Socket Mode.
func (h *HTTPMode) SendClick(userID, channel, messageTS, actionID, value string) (HTTPDelivery, error) {
	h.s.mu.Lock()
	p, err := h.s.clickPayload(userID, channel, messageTS, actionID, value, false)
	h.s.mu.Unlock()
	if err != nil {
		return HTTPDelivery{}, err
	}
	return h.sendInteraction(p, nil)
}

// SendClickHome posts the click of userID on a button of their App Home.
func (h *HTTPMode) SendClickHome(userID, actionID, value string) (HTTPDelivery, error) {
	h.s.mu.Lock()
	p, err := h.s.homeClickPayload(userID, actionID, value)
	h.s.mu.Unlock()
	if err != nil {
		return HTTPDelivery{}, err
	}
	return h.sendInteraction(p, nil)
}

// SendSubmitView posts the submission of userID's open modal viewID. The
// response acts on the modal as SubmitView's ack does.
func (h *HTTPMode) SendSubmitView(userID, viewID string, values map[string]map[string]any) (HTTPDelivery, error) {
	h.s.mu.Lock()
	p, err := h.s.submitPayload(userID, viewID, values)
	h.s.mu.Unlock()
	if err != nil {
		return HTTPDelivery{}, err
	}
	return h.sendInteraction(p, func(s *Server, ack json.RawMessage) string {
		return s.applyViewResponse(userID, viewID, ack)
	})
}

// SendOpenHome posts the app_home_opened event of userID.
func (h *HTTPMode) SendOpenHome(userID string) (HTTPDelivery, error) {
	p := h.s.homeOpened(userID)
	raw, err := json.Marshal(p)
	if err != nil {
		return HTTPDelivery{}, err
	}
	return h.send(HTTPDelivery{
		Envelope: Envelope{ID: p["event_id"].(string), Type: "events_api", Payload: raw},
		url:      h.EventsURL, contentType: "application/json", body: raw,
	}, nil)
}

// SendURLVerification posts the url_verification Slack sends when the
// events request URL is saved, and fails unless the response echoes its
// challenge.
func (h *HTTPMode) SendURLVerification() (HTTPDelivery, error) {
	challenge := randomHex(16)
	raw, _ := json.Marshal(map[string]any{"token": verificationToken, "challenge": challenge, "type": "url_verification"})
	d, err := h.send(HTTPDelivery{
		Envelope: Envelope{ID: uuid(), Type: "events_api", Payload: raw},
		url:      h.EventsURL, contentType: "application/json", body: raw,
	}, nil)
	if err != nil {
		return d, err
	}
	if d.Status != http.StatusOK {
		return d, fmt.Errorf("url_verification answered %d %s", d.Status, bytes.TrimSpace(d.Body))
	}
	var echo struct{ Challenge string }
	if string(d.Body) != challenge && (json.Unmarshal(d.Body, &echo) != nil || echo.Challenge != challenge) {
		return d, fmt.Errorf("url_verification answered %q, not the challenge %q", d.Body, challenge)
	}
	return d, nil
}

// SendRetry sends d again as Slack retries a request whose response
// failed: the same body, signed anew, with X-Slack-Retry-Num one higher.
// (Slack retries events; it never resends a slash command or an
// interaction, but an app must not act twice if one arrives again.)
func (h *HTTPMode) SendRetry(d HTTPDelivery) (HTTPDelivery, error) {
	if d.url == "" {
		return HTTPDelivery{}, errors.New("a retry needs a delivery HTTPMode sent")
	}
	var apply func(*Server, json.RawMessage) string
	if d.d != nil {
		apply = d.d.apply
	}
	d.RetryAttempt++
	return h.send(d, apply)
}

func (h *HTTPMode) sendInteraction(p map[string]any, apply func(*Server, json.RawMessage) string) (HTTPDelivery, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return HTTPDelivery{}, err
	}
	return h.send(HTTPDelivery{
		Envelope: Envelope{ID: uuid(), Type: "interactive", Payload: raw},
		url:      h.InteractivityURL, contentType: "application/x-www-form-urlencoded",
		body: []byte(url.Values{"payload": {string(raw)}}.Encode()),
	}, apply)
}

// send posts d and records the response as the ack.
func (h *HTTPMode) send(d HTTPDelivery, apply func(*Server, json.RawMessage) string) (HTTPDelivery, error) {
	d.d = &delivery{
		env:  wireEnvelope{EnvelopeID: d.ID, Type: d.Type, Payload: d.Payload, RetryAttempt: d.RetryAttempt},
		sent: time.Now(), acked: make(chan struct{}), apply: apply,
	}
	resp, body, err := h.Post(d.url, d.contentType, d.body, d.RetryAttempt)
	if err != nil {
		return d, fmt.Errorf("post %s to %s: %w", d.Type, d.url, err)
	}
	d.Status, d.Body, d.Header = resp.StatusCode, body, resp.Header
	if d.Status == http.StatusOK {
		h.s.httpAck(d.d, ackPayload(resp.Header.Get("Content-Type"), body))
	}
	return d, nil
}

// ackPayload is the response body as a Socket Mode ack would carry it:
// JSON as it is, plain text (which Slack shows as a slash command's
// answer) as a message.
func ackPayload(contentType string, body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/json" {
		return body
	}
	raw, _ := json.Marshal(map[string]string{"text": string(body)})
	return raw
}

// httpAck records the response to a delivery as its ack and lets Slack
// react to it, as receive does for a Socket Mode ack.
func (s *Server) httpAck(d *delivery, payload json.RawMessage) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Ack{EnvelopeID: d.env.EnvelopeID, Type: d.env.Type, RetryAttempt: d.env.RetryAttempt, Payload: payload, Delay: now.Sub(d.sent)}
	switch {
	case rec.Delay > AckDeadline:
		rec.Ignored = fmt.Sprintf("answered after %v, past Slack's %v", rec.Delay, AckDeadline)
	case d.apply != nil:
		rec.Ignored = d.apply(s, payload)
	}
	d.payload, d.at = payload, now
	close(d.acked)
	s.acks = append(s.acks, rec)
}

// newSlashCommand builds the payload of "/jit text" typed by userID in
// channel, with a fresh trigger_id and response_url, and Slack's reaction
// to its ack: a message in the ack is the answer the user sees.
func (s *Server) newSlashCommand(userID, channel, text string) (slashPayload, func(*Server, json.RawMessage) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	responseURL, ru := s.newResponseURL(userID, channel, "")
	p := slashPayload{
		Token: verificationToken, TeamID: TeamID, TeamDomain: TeamDomain,
		ChannelID: channel, ChannelName: s.channelName(channel),
		UserID: userID, UserName: s.userName(userID), Command: Command, Text: text,
		APIAppID: AppID, IsEnterpriseInstall: "false",
		ResponseURL: responseURL, TriggerID: s.newTrigger(userID),
	}
	return p, func(s *Server, payload json.RawMessage) string {
		if len(payload) == 0 {
			return ""
		}
		var msg responseMessage
		if json.Unmarshal(payload, &msg) != nil {
			return "the ack payload is not a message"
		}
		if msg.Text == "" && len(msg.Blocks) == 0 {
			return ""
		}
		if aerr := s.respond(ru, msg); aerr != nil {
			return "the ack's message is invalid: " + aerr.code + " " + strings.Join(aerr.errors, "; ")
		}
		return ""
	}
}

// homeOpened builds the event_callback of userID opening the App Home
// tab, with the published view if any.
func (s *Server) homeOpened(userID string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	event := map[string]any{
		"type": "app_home_opened", "user": userID, "channel": s.dmChannel(userID),
		"tab": "home", "event_ts": s.nextTS(),
	}
	if id, ok := s.homes[userID]; ok {
		event["view"] = s.views[id].wire()
	}
	return map[string]any{
		"token": verificationToken, "team_id": TeamID, "api_app_id": AppID,
		"event": event, "type": "event_callback", "event_id": s.nextID("Ev"),
		"event_time": time.Now().Unix(), "is_ext_shared_channel": false,
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false,
		}},
	}
}

// SlashCommand posts "/jit text" typed by userID in the default channel
// and fails the test when the request cannot be made. The response may be
// a refusal: see Status.
func (h *HTTPMode) SlashCommand(t TB, userID, text string) HTTPDelivery {
	t.Helper()
	return must(t, "SlashCommand")(h.SendSlashCommand(userID, h.s.channel, text))
}

// Click posts the click of userID on a button of a message; see Click.
func (h *HTTPMode) Click(t TB, userID, channel, messageTS, actionID, value string) HTTPDelivery {
	t.Helper()
	return must(t, "Click")(h.SendClick(userID, channel, messageTS, actionID, value))
}

// SubmitView posts the submission of userID's open modal viewID; see
// SubmitView.
func (h *HTTPMode) SubmitView(t TB, userID, viewID string, values map[string]map[string]any) HTTPDelivery {
	t.Helper()
	return must(t, "SubmitView")(h.SendSubmitView(userID, viewID, values))
}

// OpenHome posts the app_home_opened event of userID.
func (h *HTTPMode) OpenHome(t TB, userID string) HTTPDelivery {
	t.Helper()
	return must(t, "OpenHome")(h.SendOpenHome(userID))
}

// Retry sends d again as Slack retries it; see SendRetry.
func (h *HTTPMode) Retry(t TB, d HTTPDelivery) HTTPDelivery {
	t.Helper()
	return must(t, "Retry")(h.SendRetry(d))
}

// must turns an error-returning driver into one that fails the test.
func must(t TB, name string) func(HTTPDelivery, error) HTTPDelivery {
	return func(d HTTPDelivery, err error) HTTPDelivery {
		t.Helper()
		if err != nil {
			t.Fatalf("slackfake: HTTPMode.%s: %v", name, err)
		}
		return d
	}
}
