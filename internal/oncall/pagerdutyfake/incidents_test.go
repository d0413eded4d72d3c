package pagerdutyfake_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
)

func TestIncidentShapes(t *testing.T) {
	f := pagerdutyfake.Start(t)
	id := f.AddIncident(1234, "The server is on fire")
	if !regexp.MustCompile(`^Q[A-Z0-9]{13}$`).MatchString(id) {
		t.Fatalf("AddIncident ID = %q, want PagerDuty's shape Q + 13 capitals and digits", id)
	}
	if other := f.AddIncident(1235, "Another"); other == id {
		t.Fatalf("two incidents share the ID %s", id)
	}
	incident := `{"incident":{"id":"` + id + `","type":"incident","summary":"[#1234] The server is on fire",
		"self":"` + f.URL() + `/incidents/` + id + `","html_url":"https://fake.pagerduty.com/incidents/` + id + `",
		"incident_number":1234,"title":"The server is on fire","created_at":"*","updated_at":"*","last_status_change_at":"*",
		"resolved_at":null,"status":"triggered","incident_key":"` + id + `","urgency":"high",
		"service":{"id":"PSVCFAKE","type":"service_reference","summary":"Fake Service","self":"` + f.URL() + `/services/PSVCFAKE","html_url":"https://fake.pagerduty.com/service-directory/PSVCFAKE"},
		"assignments":[],"assigned_via":"escalation_policy",
		"escalation_policy":{"id":"PPOLFAKE","type":"escalation_policy_reference","summary":"Default","self":"` + f.URL() + `/escalation_policies/PPOLFAKE","html_url":"https://fake.pagerduty.com/escalation_policies/PPOLFAKE"}}}`
	tests := []struct {
		name, path, token string // token "" = the fake's
		wantStatus        int
		want              string
	}{
		{name: "by ID", path: "/incidents/" + id, wantStatus: 200, want: incident},
		{name: "by number", path: "/incidents/1234", wantStatus: 200, want: incident},
		{name: "unknown ID", path: "/incidents/QNOPE", wantStatus: 404, want: `{"error":{"message":"Incident Not Found","code":2100}}`},
		{name: "unknown number", path: "/incidents/99", wantStatus: 404, want: `{"error":{"message":"Incident Not Found","code":2100}}`},
		{name: "ID in lower case is another ID", path: "/incidents/" + strings.ToLower(id), wantStatus: 404, want: `{"error":{"message":"Incident Not Found","code":2100}}`},
		{name: "wrong token", path: "/incidents/" + id, token: "nope", wantStatus: 401, want: `{"error":{"message":"Authentication failed","code":2006}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "" {
				token = f.Token()
			}
			status, body := get(t, f, tt.path, token)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if !sameJSON(t, body, tt.want) {
				t.Errorf("body =\n%s\nwant\n%s", body, tt.want)
			}
		})
	}
}

// delivery is one webhook the receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver records deliveries and answers status.
func receiver(t *testing.T, status int) (*httptest.Server, func() []delivery) {
	var mu sync.Mutex
	var got []delivery
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []delivery { mu.Lock(); defer mu.Unlock(); return append([]delivery(nil), got...) }
}

func TestResolveDeliversSignedWebhook(t *testing.T) {
	f := pagerdutyfake.Start(t)
	id := f.AddIncident(7, "Disk full")
	rcv, deliveries := receiver(t, http.StatusAccepted)
	f.SetWebhook(rcv.URL, "whsec")

	if err := f.Acknowledge("7"); err != nil {
		t.Fatalf("Acknowledge: %v", err)
	}
	if err := f.Resolve(id); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if err := f.Resolve(id); err != nil {
		t.Fatalf("Resolve again: %v", err)
	}
	got := deliveries()
	if len(got) != 2 {
		t.Fatalf("receiver got %d deliveries, want 2 (acknowledged, resolved; none for resolving again)", len(got))
	}
	for i, want := range []struct{ typ, status string }{{"incident.acknowledged", "acknowledged"}, {"incident.resolved", "resolved"}} {
		d := got[i]
		mac := hmac.New(sha256.New, []byte("whsec"))
		mac.Write(d.body)
		if sig := d.header.Get("X-PagerDuty-Signature"); sig != "v1="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("delivery %d signature = %q, not the HMAC of its body under the secret", i, sig)
		}
		if ua := d.header.Get("User-Agent"); ua != "PagerDuty-Webhook/V3.0" {
			t.Errorf("delivery %d User-Agent = %q", i, ua)
		}
		var p struct {
			Event struct {
				EventType    string `json:"event_type"`
				ResourceType string `json:"resource_type"`
				Data         struct {
					ID     string `json:"id"`
					Type   string `json:"type"`
					Number int    `json:"number"`
					Status string `json:"status"`
					Title  string `json:"title"`
				} `json:"data"`
			} `json:"event"`
		}
		if err := json.Unmarshal(d.body, &p); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		e := p.Event
		if e.EventType != want.typ || e.ResourceType != "incident" || e.Data.ID != id || e.Data.Type != "incident" ||
			e.Data.Number != 7 || e.Data.Status != want.status || e.Data.Title != "Disk full" {
			t.Errorf("delivery %d = %s, want %s of incident %s #7 with status %s", i, d.body, want.typ, id, want.status)
		}
	}
	if _, body := get(t, f, "/incidents/7", f.Token()); !strings.Contains(body, `"status":"resolved"`) || strings.Contains(body, `"resolved_at":null`) {
		t.Errorf("after Resolve GET says %s", body)
	}
}

func TestResolveReportsDeliveryFailure(t *testing.T) {
	f := pagerdutyfake.Start(t)
	f.AddIncident(1, "A")
	f.AddIncident(2, "B")
	rcv, _ := receiver(t, http.StatusUnauthorized)
	f.SetWebhook(rcv.URL, "wrong")
	if err := f.Resolve("1"); err == nil || !strings.Contains(err.Error(), "answered 401") {
		t.Errorf("Resolve with the receiver refusing: err = %v, want one saying 401", err)
	}
	if _, body := get(t, f, "/incidents/1", f.Token()); !strings.Contains(body, `"status":"resolved"`) {
		t.Errorf("a refused delivery undid the resolve: %s", body)
	}
	rcv.Close()
	if err := f.Acknowledge("2"); err == nil {
		t.Error("Acknowledge with nothing listening: no error")
	}
	f.SetWebhook("", "")
	if err := f.Acknowledge("1"); err == nil || !strings.Contains(err.Error(), "resolved") {
		t.Errorf("Acknowledge of a resolved incident: err = %v, want a refusal", err)
	}
	if err := f.Resolve("404"); err == nil {
		t.Error("Resolve of an unknown incident: no error")
	}
}

func TestSendWebhookUnsigned(t *testing.T) {
	f := pagerdutyfake.Start(t)
	id := f.AddIncident(3, "C")
	body, err := f.EventBody("incident.resolved", id)
	if err != nil {
		t.Fatal(err)
	}
	rcv, deliveries := receiver(t, http.StatusUnauthorized)
	status, err := pagerdutyfake.SendWebhook(t.Context(), rcv.URL, "", body)
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("SendWebhook = %d, %v; want 401, nil", status, err)
	}
	got := deliveries()
	if len(got) != 1 || got[0].header.Values("X-PagerDuty-Signature") != nil || string(got[0].body) != string(body) {
		t.Errorf("delivery = %+v, want the body with no signature header", got)
	}
	if _, err := f.EventBody("incident.resolved", "QNOPE"); err == nil {
		t.Error("EventBody of an unknown incident: no error")
	}
}
