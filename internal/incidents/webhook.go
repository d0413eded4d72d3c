package incidents

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// SignatureHeader carries a Webhooks v3 delivery's signatures.
const SignatureHeader = "X-PagerDuty-Signature"

// MaxWebhookBody bounds a delivery's body. PagerDuty drops webhooks over
// 256 KB, so a larger body is not from PagerDuty.
const MaxWebhookBody = 1 << 20

// VerifySignature reports whether header, the X-PagerDuty-Signature of a
// delivery, holds a v1 signature of body under secret: the hex HMAC-SHA256
// of the raw body. The header may hold several comma-separated signatures
// (PagerDuty sends one per secret while a secret is being rotated); one
// match is enough, and versions other than v1 are passed over. The
// comparison takes the same time however much of a signature matches. An
// empty secret verifies nothing, since anyone can sign with it.
func VerifySignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	for sig := range strings.SplitSeq(header, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(sig), "v1=")
		if !ok || len(v) != hex.EncodedLen(sha256.Size) {
			continue
		}
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// Event is one Webhooks v3 event.
type Event struct {
	ID   string // PagerDuty's event ID; a redelivery repeats it
	Type string // event_type, e.g. "incident.resolved"
	// Incident is the incident the event is about; zero for events on
	// other resources. Events whose data is not the incident itself (a
	// note, a responder, a status update) carry only its ID, title and URL:
	// Status is then "", so Open is false, and the caller should ask
	// PagerDuty.
	Incident Incident
}

// ParseEvent reads a Webhooks v3 payload. Only events on incidents carry
// an incident; any other resource, and any event type this package does
// not know, is returned with its type and no error, for the caller to
// pass over. What is not a v3 payload, or an incident event without the
// incident's ID, is an error.
func ParseEvent(body []byte) (Event, error) {
	var doc struct {
		Event *struct {
			ID           string          `json:"id"`
			EventType    string          `json:"event_type"`
			ResourceType string          `json:"resource_type"`
			Data         json.RawMessage `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Event{}, fmt.Errorf("pagerduty webhook: not a JSON payload: %w", err)
	}
	e := doc.Event
	if e == nil {
		return Event{}, errors.New(`pagerduty webhook: no "event" object`)
	}
	if e.EventType == "" {
		return Event{}, errors.New("pagerduty webhook: event has no event_type")
	}
	ev := Event{ID: e.ID, Type: e.EventType}
	if e.ResourceType != "incident" {
		return ev, nil
	}
	var data struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Number   int    `json:"number"`
		Status   string `json:"status"`
		Title    string `json:"title"`
		HTMLURL  string `json:"html_url"`
		Incident *struct {
			ID      string `json:"id"`
			Summary string `json:"summary"`
			HTMLURL string `json:"html_url"`
		} `json:"incident"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return Event{}, fmt.Errorf("pagerduty webhook: %s event %s: data: %w", e.EventType, e.ID, err)
	}
	switch {
	case data.Type == "incident":
		ev.Incident = Incident{ID: data.ID, Number: data.Number, Title: data.Title, Status: data.Status, URL: data.HTMLURL}
	case data.Incident != nil:
		// A note, responder or status update names its incident by
		// reference, whose summary is the incident's title.
		ev.Incident = Incident{ID: data.Incident.ID, Title: data.Incident.Summary, URL: data.Incident.HTMLURL}
	}
	if ev.Incident.ID == "" {
		return Event{}, fmt.Errorf("pagerduty webhook: %s event %s names no incident", e.EventType, e.ID)
	}
	return ev, nil
}

// WebhookHandler serves PagerDuty's Webhooks v3 deliveries: it checks the
// signature against secret, reads the event and calls onEvent with it
// before answering, so onEvent should be quick (PagerDuty waits 5 s) and
// gets the request's context. Answers:
//   - 405 to anything but POST;
//   - 413 to a body over MaxWebhookBody;
//   - 401 when no signature matches: nothing is called, and a warning is
//     logged, as this is either an attack or a wrong secret;
//   - 400 to a signed body that is not a v3 event;
//   - 202 once onEvent has returned.
//
// PagerDuty retries 5xx and 429 and drops other 4xx, so none of the
// refusals above is retried. An empty secret refuses every delivery. A nil
// log discards.
func WebhookHandler(secret string, onEvent func(context.Context, Event), log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if secret == "" {
		log.Error("pagerduty webhook has no secret: every delivery will be refused")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				log.WarnContext(r.Context(), "pagerduty webhook refused: body too large", "remote", r.RemoteAddr, "limit", MaxWebhookBody)
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "could not read body", http.StatusBadRequest)
			return
		}
		// A proxy may split the header in two; the signatures are the
		// same list either way.
		sigs := strings.Join(r.Header.Values(SignatureHeader), ",")
		if !VerifySignature(secret, body, sigs) {
			log.WarnContext(r.Context(), "pagerduty webhook refused: signature does not match",
				"remote", r.RemoteAddr, "signature_sent", sigs != "", "bytes", len(body))
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		ev, err := ParseEvent(body)
		if err != nil {
			log.WarnContext(r.Context(), "pagerduty webhook refused: bad payload", "remote", r.RemoteAddr, "err", err)
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		log.InfoContext(r.Context(), "pagerduty webhook", "event_id", ev.ID, "event_type", ev.Type,
			"incident", ev.Incident.ID, "incident_number", ev.Incident.Number, "status", ev.Incident.Status)
		if onEvent != nil {
			onEvent(r.Context(), ev)
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
