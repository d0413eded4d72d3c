package incidents_test

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/internal/incidents"
	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
)

const secret = "whsec-test"

// resolved is a v3 incident.resolved payload, as PagerDuty documents it.
const resolved = `{"event":{"id":"01DEN2HXAGNOO4M2WYRTQYBSY7","event_type":"incident.resolved","resource_type":"incident",
"occurred_at":"2020-10-02T18:45:22.169Z","agent":null,"client":null,"data":{"id":"Q2C5T3M8S1ABCD","type":"incident",
"self":"https://api.pagerduty.com/incidents/Q2C5T3M8S1ABCD","html_url":"https://acme.pagerduty.com/incidents/Q2C5T3M8S1ABCD",
"number":123,"status":"resolved","title":"A little bump in the road","resolve_reason":null}}}`

func TestVerifySignature(t *testing.T) {
	body := []byte(resolved)
	good := pagerdutyfake.Sign(secret, body)
	tests := []struct {
		name, secret, header string
		body                 []byte
		want                 bool
	}{
		{name: "good", header: good, want: true},
		{name: "wrong secret", header: pagerdutyfake.Sign("other", body)},
		{name: "tampered body", header: good, body: []byte(strings.Replace(resolved, "resolved", "triggered", 1))},
		{name: "one extra byte", header: good, body: append([]byte(resolved), '\n')},
		{name: "rotation: new first", header: good + "," + pagerdutyfake.Sign("old", body), want: true},
		{name: "rotation: new second", header: pagerdutyfake.Sign("old", body) + "," + good, want: true},
		{name: "spaces after commas", header: pagerdutyfake.Sign("old", body) + ", " + good + " ", want: true},
		{name: "empty header"},
		{name: "only commas", header: ",,,"},
		{name: "other version", header: "v0=" + strings.TrimPrefix(good, "v1=")},
		{name: "no version", header: strings.TrimPrefix(good, "v1=")},
		{name: "non-hex", header: "v1=" + strings.Repeat("zz", 32)},
		{name: "half a signature", header: good[:len(good)/2]},
		{name: "signature twice over", header: good + strings.TrimPrefix(good, "v1=")},
		{name: "v1= alone", header: "v1="},
		{name: "empty secret verifies nothing", secret: "-", header: pagerdutyfake.Sign("", body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, b := secret, body
			if tt.secret == "-" {
				s = ""
			}
			if tt.body != nil {
				b = tt.body
			}
			if got := incidents.VerifySignature(s, b, tt.header); got != tt.want {
				t.Errorf("VerifySignature(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name, body string
		want       incidents.Event
		wantErr    string
	}{
		{name: "resolved", body: resolved, want: incidents.Event{ID: "01DEN2HXAGNOO4M2WYRTQYBSY7", Type: "incident.resolved",
			Incident: incidents.Incident{ID: "Q2C5T3M8S1ABCD", Number: 123, Title: "A little bump in the road", Status: "resolved",
				URL: "https://acme.pagerduty.com/incidents/Q2C5T3M8S1ABCD"}}},
		{name: "note: the incident by reference", body: `{"event":{"id":"E1","event_type":"incident.annotated","resource_type":"incident",
			"data":{"incident":{"id":"PGR0VU2","summary":"A bump","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","type":"incident_reference"},
			"id":"P2LA89X","content":"note","type":"incident_note"}}}`,
			want: incidents.Event{ID: "E1", Type: "incident.annotated",
				Incident: incidents.Incident{ID: "PGR0VU2", Title: "A bump", URL: "https://acme.pagerduty.com/incidents/PGR0VU2"}}},
		{name: "an event type yet to come", body: `{"event":{"id":"E2","event_type":"incident.teleported","resource_type":"incident","data":{"id":"Q1","type":"incident","status":"triggered"}}}`,
			want: incidents.Event{ID: "E2", Type: "incident.teleported", Incident: incidents.Incident{ID: "Q1", Status: "triggered"}}},
		{name: "another resource", body: `{"event":{"id":"E3","event_type":"service.updated","resource_type":"service","data":{"id":"PF9KMXH","type":"service"}}}`,
			want: incidents.Event{ID: "E3", Type: "service.updated"}},
		{name: "another resource with no data", body: `{"event":{"event_type":"pagey.ping","resource_type":"pagey"}}`,
			want: incidents.Event{Type: "pagey.ping"}},
		{name: "not JSON", body: `event=incident.resolved`, wantErr: "not a JSON payload"},
		{name: "not an object", body: `[1,2]`, wantErr: "not a JSON payload"},
		{name: "empty", body: ``, wantErr: "not a JSON payload"},
		{name: "v2 payload", body: `{"messages":[{"event":"incident.resolve"}]}`, wantErr: `no "event" object`},
		{name: "no event type", body: `{"event":{"id":"E4","resource_type":"incident","data":{"id":"Q1","type":"incident"}}}`, wantErr: "no event_type"},
		{name: "incident without data", body: `{"event":{"id":"E5","event_type":"incident.resolved","resource_type":"incident"}}`, wantErr: "incident.resolved event E5"},
		{name: "incident without ID", body: `{"event":{"id":"E6","event_type":"incident.resolved","resource_type":"incident","data":{"type":"incident","status":"resolved"}}}`, wantErr: "names no incident"},
		{name: "data not an object", body: `{"event":{"id":"E7","event_type":"incident.resolved","resource_type":"incident","data":"Q1"}}`, wantErr: "data:"},
		{name: "number not a number", body: `{"event":{"id":"E8","event_type":"incident.resolved","resource_type":"incident","data":{"id":"Q1","type":"incident","number":"12"}}}`, wantErr: "data:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := incidents.ParseEvent([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEvent = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseEvent = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// recorder collects what onEvent was called with.
type recorder struct {
	mu     sync.Mutex
	events []incidents.Event
}

func (r *recorder) onEvent(_ context.Context, ev incidents.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) got() []incidents.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]incidents.Event(nil), r.events...)
}

func TestWebhookHandler(t *testing.T) {
	body := []byte(resolved)
	big := append([]byte(`{"event":{"event_type":"x","pad":"`), bytes.Repeat([]byte("a"), incidents.MaxWebhookBody)...)
	big = append(big, `"}}`...)
	tests := []struct {
		name       string
		method     string
		body       []byte
		sigs       []string // X-PagerDuty-Signature values
		wantStatus int
		wantEvent  bool
		wantLog    string // a line logged at this level and with this text
	}{
		{name: "GET", method: "GET", wantStatus: 405},
		{name: "PUT signed", method: "PUT", body: body, sigs: []string{pagerdutyfake.Sign(secret, body)}, wantStatus: 405},
		{name: "no signature", body: body, wantStatus: 401, wantLog: "level=WARN msg=\"pagerduty webhook refused: signature does not match\""},
		{name: "wrong secret", body: body, sigs: []string{pagerdutyfake.Sign("guess", body)}, wantStatus: 401, wantLog: "signature_sent=true"},
		{name: "tampered body", body: []byte(strings.Replace(resolved, "resolved", "triggered", 2)), sigs: []string{pagerdutyfake.Sign(secret, body)}, wantStatus: 401},
		{name: "too large", body: big, sigs: []string{pagerdutyfake.Sign(secret, big)}, wantStatus: 413, wantLog: "level=WARN"},
		{name: "signed, not JSON", body: []byte("nope"), sigs: []string{pagerdutyfake.Sign(secret, []byte("nope"))}, wantStatus: 400, wantLog: "bad payload"},
		{name: "signed, good", body: body, sigs: []string{pagerdutyfake.Sign(secret, body)}, wantStatus: 202, wantEvent: true, wantLog: "level=INFO"},
		{name: "signatures in two header lines", body: body, sigs: []string{pagerdutyfake.Sign("old", body), pagerdutyfake.Sign(secret, body)}, wantStatus: 202, wantEvent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var rec recorder
			h := incidents.WebhookHandler(secret, rec.onEvent, slog.New(slog.NewTextHandler(&logs, nil)))
			req := httptest.NewRequest(cmp.Or(tt.method, "POST"), "/pagerduty/webhook", bytes.NewReader(tt.body))
			for _, s := range tt.sigs {
				req.Header.Add("X-PagerDuty-Signature", s)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)

			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", w.Header().Get("Allow"))
			}
			got := rec.got()
			switch {
			case tt.wantEvent && (len(got) != 1 || got[0].Type != "incident.resolved" || got[0].Incident.ID != "Q2C5T3M8S1ABCD" || got[0].Incident.Open()):
				t.Errorf("onEvent got %+v, want the resolved event once", got)
			case !tt.wantEvent && len(got) != 0:
				t.Errorf("onEvent called with %+v on a refused delivery", got)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log = %q, want %q in it", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestWebhookHandlerEmptySecretRefusesAll(t *testing.T) {
	var logs bytes.Buffer
	var rec recorder
	h := incidents.WebhookHandler("", rec.onEvent, slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("no error logged for an empty secret: %q", logs.String())
	}
	req := httptest.NewRequest("POST", "/", strings.NewReader(resolved))
	req.Header.Set("X-PagerDuty-Signature", pagerdutyfake.Sign("", []byte(resolved)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized || len(rec.got()) != 0 {
		t.Errorf("status %d, events %+v; want 401 and none", w.Code, rec.got())
	}
}

// TestWebhookFromTheFake: the fake's delivery on Resolve passes the real
// handler, and the incident then reads as not open; a fake that signs with
// another secret is refused and Resolve says so.
func TestWebhookFromTheFake(t *testing.T) {
	f := pagerdutyfake.Start(t)
	id := f.AddIncident(42, "Database on fire")
	var rec recorder
	srv := httptest.NewServer(incidents.WebhookHandler(secret, rec.onEvent, nil))
	defer srv.Close()
	p := incidents.NewPagerDuty(f.URL(), f.Token(), nil)

	f.SetWebhook(srv.URL, "not-"+secret)
	if err := f.Acknowledge("42"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Acknowledge with the wrong secret: err = %v, want the 401 reported", err)
	}
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("a delivery signed with the wrong secret reached onEvent: %+v", got)
	}

	f.SetWebhook(srv.URL, secret)
	if err := f.Resolve(id); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	got := rec.got()
	want := incidents.Incident{ID: id, Number: 42, Title: "Database on fire", Status: "resolved", URL: "https://fake.pagerduty.com/incidents/" + id}
	if len(got) != 1 || got[0].Type != "incident.resolved" || got[0].Incident != want || got[0].ID == "" {
		t.Fatalf("onEvent got %+v, want incident.resolved of %+v", got, want)
	}
	if in, err := p.Incident(t.Context(), got[0].Incident.ID); err != nil || in.Open() {
		t.Errorf("after the webhook, Incident = %+v, %v; want resolved", in, err)
	}
}
