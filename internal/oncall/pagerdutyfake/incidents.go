package pagerdutyfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

type incident struct {
	id, title, status string
	number            int
	created, changed  time.Time
}

// AddIncident adds a triggered incident with this number and title (or
// replaces the one with this number) and returns its ID, fresh and shaped
// like PagerDuty's: "Q" and 13 capitals and digits. It sends no webhook.
func (s *Server) AddIncident(number int, title string) (id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	in := &incident{id: "Q" + rand.Text()[:13], number: number, title: title, status: "triggered", created: now, changed: now}
	for i, old := range s.incidents {
		if old.number == number {
			s.incidents[i] = in
			return in.id
		}
	}
	s.incidents = append(s.incidents, in)
	return in.id
}

// Resolve resolves the incident that ref names (its ID or number) and,
// when SetWebhook has set a URL, delivers incident.resolved there before
// returning. The error says if there is no such incident or the delivery
// failed or was answered with other than 2xx; the incident is resolved
// all the same, as PagerDuty's would be. An incident already resolved
// stays so, and nothing is sent.
func (s *Server) Resolve(ref string) error {
	return s.setStatus(ref, "resolved", "incident.resolved")
}

// Acknowledge acknowledges the incident that ref names, delivering
// incident.acknowledged as Resolve delivers incident.resolved. A resolved
// incident cannot be acknowledged, as in PagerDuty.
func (s *Server) Acknowledge(ref string) error {
	return s.setStatus(ref, "acknowledged", "incident.acknowledged")
}

// SetWebhook makes Resolve and Acknowledge deliver Webhooks v3 events to
// url, signed with secret, as a webhook subscription does. url "" stops
// the deliveries. For a delivery signed wrongly, pass a wrong secret, or
// use SendWebhook.
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.webhookSecret = url, secret
}

func (s *Server) setStatus(ref, status, eventType string) error {
	s.mu.Lock()
	in := s.findIncident(ref)
	switch {
	case in == nil:
		s.mu.Unlock()
		return fmt.Errorf("pagerdutyfake: no incident %q", ref)
	case in.status == status:
		s.mu.Unlock()
		return nil
	case in.status == "resolved":
		s.mu.Unlock()
		return fmt.Errorf("pagerdutyfake: incident %s is resolved; it cannot be %s", in.id, status)
	}
	in.status, in.changed = status, time.Now().UTC().Truncate(time.Second)
	id, url, secret := in.id, s.webhookURL, s.webhookSecret
	body := s.eventBody(eventType, in)
	// The receiver may well ask the fake about the incident while it
	// handles the delivery, so the lock is not held across it.
	s.mu.Unlock()
	if url == "" {
		return nil
	}
	code, err := SendWebhook(context.Background(), url, Sign(secret, body), body)
	if err != nil {
		return err
	}
	if code < 200 || code > 299 {
		return fmt.Errorf("pagerdutyfake: webhook %s for %s answered %d", eventType, id, code)
	}
	return nil
}

// EventBody is the Webhooks v3 payload that a delivery of eventType for
// the incident ref names would carry now, for tests that send it
// themselves with SendWebhook (tampered, unsigned, signed wrongly).
func (s *Server) EventBody(eventType, ref string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.findIncident(ref)
	if in == nil {
		return nil, fmt.Errorf("pagerdutyfake: no incident %q", ref)
	}
	return s.eventBody(eventType, in), nil
}

// Sign returns the X-PagerDuty-Signature value PagerDuty sends with body
// for a subscription whose secret is secret: "v1=" and the hex
// HMAC-SHA256 of the body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookClient delivers webhooks; PagerDuty itself waits 5 s.
var webhookClient = &http.Client{Timeout: 5 * time.Second}

// SendWebhook POSTs body to url with the headers of a Webhooks v3
// delivery, signature as X-PagerDuty-Signature ("" sends none), and
// returns the status of the answer.
func SendWebhook(ctx context.Context, url, signature string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("pagerdutyfake: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	req.Header.Set("X-Webhook-Id", rand.Text())
	req.Header.Set("X-Webhook-Subscription", "PSUBFAKE")
	if signature != "" {
		req.Header.Set("X-PagerDuty-Signature", signature)
	}
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("pagerdutyfake: webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so the connection is reused
	return resp.StatusCode, nil
}

// findIncident finds by number when ref is all digits, else by ID, as
// PagerDuty's GET /incidents/{id} does. The caller holds s.mu.
func (s *Server) findIncident(ref string) *incident {
	n, err := strconv.Atoi(ref)
	isNumber := err == nil && ref != "" && ref[0] >= '0' && ref[0] <= '9'
	for _, in := range s.incidents {
		if isNumber && in.number == n || !isNumber && in.id == ref {
			return in
		}
	}
	return nil
}

// getIncident answers GET /incidents/{id or number}. The caller holds s.mu.
func (s *Server) getIncident(w http.ResponseWriter, ref string) {
	in := s.findIncident(ref)
	if in == nil {
		writeError(w, http.StatusNotFound, 2100, "Incident Not Found")
		return
	}
	var resolvedAt *string
	if in.status == "resolved" {
		t := in.changed.Format(time.RFC3339)
		resolvedAt = &t
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": map[string]any{
		"id":                    in.id,
		"type":                  "incident",
		"summary":               fmt.Sprintf("[#%d] %s", in.number, in.title),
		"self":                  s.srv.URL + "/incidents/" + in.id,
		"html_url":              "https://fake.pagerduty.com/incidents/" + in.id,
		"incident_number":       in.number,
		"title":                 in.title,
		"created_at":            in.created.Format(time.RFC3339),
		"updated_at":            in.changed.Format(time.RFC3339),
		"last_status_change_at": in.changed.Format(time.RFC3339),
		"resolved_at":           resolvedAt,
		"status":                in.status,
		"incident_key":          in.id,
		"urgency":               "high",
		"service":               s.serviceRef(),
		"assignments":           []any{},
		"assigned_via":          "escalation_policy",
		"escalation_policy":     s.policyRef("PPOLFAKE", "Default"),
	}})
}

// eventBody builds a Webhooks v3 payload, whose incident data differs
// from the REST API's: "number", not "incident_number". The caller holds
// s.mu.
func (s *Server) eventBody(eventType string, in *incident) []byte {
	body, err := json.Marshal(map[string]any{"event": map[string]any{
		"id":            rand.Text(),
		"event_type":    eventType,
		"resource_type": "incident",
		"occurred_at":   in.changed.Format(time.RFC3339Nano),
		"agent":         nil,
		"client":        nil,
		"data": map[string]any{
			"id":                in.id,
			"type":              "incident",
			"self":              s.srv.URL + "/incidents/" + in.id,
			"html_url":          "https://fake.pagerduty.com/incidents/" + in.id,
			"number":            in.number,
			"status":            in.status,
			"incident_key":      in.id,
			"created_at":        in.created.Format(time.RFC3339),
			"title":             in.title,
			"service":           s.serviceRef(),
			"assignees":         []any{},
			"escalation_policy": s.policyRef("PPOLFAKE", "Default"),
			"teams":             []any{},
			"priority":          nil,
			"urgency":           "high",
			"conference_bridge": nil,
			"resolve_reason":    nil,
		},
	}})
	if err != nil {
		panic(err) // maps of strings and numbers always encode
	}
	return body
}

func (s *Server) serviceRef() reference {
	return reference{ID: "PSVCFAKE", Type: "service_reference", Summary: "Fake Service",
		Self: s.srv.URL + "/services/PSVCFAKE", HTMLURL: "https://fake.pagerduty.com/service-directory/PSVCFAKE"}
}
