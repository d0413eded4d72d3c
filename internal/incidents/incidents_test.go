package incidents_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/incidents"
	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
	"github.com/jitbot/jitbot/internal/pdrest"
)

func TestIncident(t *testing.T) {
	f := pagerdutyfake.Start(t)
	id := f.AddIncident(1234, "The server is on fire")
	resolvedID := f.AddIncident(77, "Yesterday's outage")
	if err := f.Resolve("77"); err != nil {
		t.Fatal(err)
	}
	fire := incidents.Incident{ID: id, Number: 1234, Title: "The server is on fire", Status: "triggered",
		URL: "https://fake.pagerduty.com/incidents/" + id}
	tests := []struct {
		name, ref string
		want      incidents.Incident
		wantOpen  bool
	}{
		{name: "by ID", ref: id, want: fire, wantOpen: true},
		{name: "by number", ref: "1234", want: fire, wantOpen: true},
		{name: "by #number", ref: "#1234", want: fire, wantOpen: true},
		{name: "spaces around", ref: "  #1234 ", want: fire, wantOpen: true},
		{name: "leading zeros", ref: "01234", want: fire, wantOpen: true},
		{name: "resolved", ref: resolvedID, wantOpen: false, want: incidents.Incident{ID: resolvedID, Number: 77,
			Title: "Yesterday's outage", Status: "resolved", URL: "https://fake.pagerduty.com/incidents/" + resolvedID}},
	}
	p := incidents.NewPagerDuty(f.URL(), f.Token(), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Incident(t.Context(), tt.ref)
			if err != nil {
				t.Fatalf("Incident(%q): %v", tt.ref, err)
			}
			if got != tt.want || got.Open() != tt.wantOpen {
				t.Errorf("Incident(%q) = %+v (open %v), want %+v (open %v)", tt.ref, got, got.Open(), tt.want, tt.wantOpen)
			}
		})
	}
}

func TestIncidentAcknowledgedIsOpen(t *testing.T) {
	f := pagerdutyfake.Start(t)
	id := f.AddIncident(5, "Slow")
	if err := f.Acknowledge(id); err != nil {
		t.Fatal(err)
	}
	got, err := incidents.NewPagerDuty(f.URL(), f.Token(), nil).Incident(t.Context(), "#5")
	if err != nil || got.Status != incidents.StatusAcknowledged || !got.Open() {
		t.Errorf("Incident = %+v, %v; want acknowledged and open", got, err)
	}
}

func TestIncidentFailures(t *testing.T) {
	tests := []struct {
		name         string
		ref, token   string // token "" = the fake's
		down         bool
		wantNotFound bool
		wantStatus   int    // pdrest.StatusOf the error
		wantErr      string // the error contains it
	}{
		{name: "unknown ID", ref: "QXXXXXXXXXXXXX", wantNotFound: true, wantStatus: 404, wantErr: "Incident Not Found (code 2100)"},
		{name: "unknown number", ref: "#404", wantNotFound: true, wantStatus: 404, wantErr: "incident not found: 404"},
		{name: "wrong token", ref: "1", token: "revoked", wantStatus: 401, wantErr: "status 401: Authentication failed (code 2006)"},
		{name: "PagerDuty down", ref: "1", down: true, wantStatus: 503, wantErr: "pagerduty GET /incidents/1: status 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := pagerdutyfake.Start(t)
			f.AddIncident(1, "One")
			f.Down(tt.down)
			token := tt.token
			if token == "" {
				token = f.Token()
			}
			got, err := incidents.NewPagerDuty(f.URL(), token, nil).Incident(t.Context(), tt.ref)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Incident(%q) = %+v, %v; want an error containing %q", tt.ref, got, err, tt.wantErr)
			}
			if errors.Is(err, incidents.ErrNotFound) != tt.wantNotFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, !tt.wantNotFound, tt.wantNotFound)
			}
			if s := pdrest.StatusOf(err); s != tt.wantStatus {
				t.Errorf("status of %v = %d, want %d", err, s, tt.wantStatus)
			}
			if got != (incidents.Incident{}) {
				t.Errorf("Incident = %+v with an error, want zero", got)
			}
		})
	}
}

// TestIncidentBadRefMakesNoRequest: a ref that is not an ID or number
// never reaches PagerDuty, so it cannot walk the path or add a query.
func TestIncidentBadRefMakesNoRequest(t *testing.T) {
	f := pagerdutyfake.Start(t)
	p := incidents.NewPagerDuty(f.URL(), f.Token(), nil)
	for _, ref := range []string{
		"", "  ", "#", "##1", "#Q123", "0", "#0", "-5", "+5", "1.5", "Q1/../../users", "..", "Q1?query=x", "Q1#frag",
		"Q%2F1", "Q 1", "Q\n1", "Qü1", "Q\x001", strings.Repeat("Q", 33), strings.Repeat("9", 33), "99999999999999999999",
	} {
		_, err := p.Incident(t.Context(), ref)
		if !errors.Is(err, incidents.ErrBadRef) {
			t.Errorf("Incident(%q) err = %v, want ErrBadRef", ref, err)
		}
	}
	if c := f.Calls(); c != 0 {
		t.Errorf("fake saw %d requests for bad refs, want 0", c)
	}
	long := strings.Repeat("x", 10000)
	if _, err := p.Incident(t.Context(), long+"/"); len(err.Error()) > 200 {
		t.Errorf("error for a long ref is %d bytes long; it should not repeat the whole ref", len(err.Error()))
	}
}

// TestIncidentOddAnswers: an answer that is not the incident asked about,
// or not an incident at all, is an error, never a guess.
func TestIncidentOddAnswers(t *testing.T) {
	tests := []struct {
		name, ref, answer, wantErr string
	}{
		{name: "another incident by number", ref: "12", answer: `{"incident":{"id":"QOTHER","incident_number":13,"status":"triggered"}}`, wantErr: "the answer is incident QOTHER (#13)"},
		{name: "another incident by ID", ref: "QASKED", answer: `{"incident":{"id":"QOTHER","incident_number":13,"status":"triggered"}}`, wantErr: "the answer is incident QOTHER"},
		{name: "no incident", ref: "12", answer: `{"incidents":[]}`, wantErr: "the answer holds no incident"},
		{name: "not JSON", ref: "12", answer: `<html>`, wantErr: "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tt.answer)
			}))
			defer srv.Close()
			_, err := incidents.NewPagerDuty(srv.URL, "t", srv.Client()).Incident(t.Context(), tt.ref)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIncidentIDCaseFromPagerDuty(t *testing.T) {
	// PagerDuty may answer a lower-case ID with the canonical one.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"incident":{"id":"QABC","incident_number":3,"status":"resolved"}}`)
	}))
	defer srv.Close()
	got, err := incidents.NewPagerDuty(srv.URL, "t", srv.Client()).Incident(t.Context(), "qabc")
	if err != nil || got.ID != "QABC" || got.Open() {
		t.Errorf("Incident(qabc) = %+v, %v; want QABC, resolved", got, err)
	}
}

func TestOpen(t *testing.T) {
	for status, want := range map[string]bool{
		"triggered": true, "acknowledged": true, "resolved": false, "": false, "Triggered": false, "snoozed": false,
	} {
		if got := (incidents.Incident{Status: status}).Open(); got != want {
			t.Errorf("Open() with status %q = %v, want %v", status, got, want)
		}
	}
}
