package pagerdutyfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
)

// get does a raw GET, so these tests see the wire shapes, not a client's
// reading of them.
func get(t *testing.T, f *pagerdutyfake.Server, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	if token != "" {
		req.Header.Set("Authorization", "Token token="+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestShapes(t *testing.T) {
	f := pagerdutyfake.Start(t)
	f.AddUser("PALICE", "Alice", "alice@example.com")
	f.AddUser("PBOB", "Bob", "bob@example.com")
	f.SetOnCall("PALICE", "Primary", "Database", "Network")
	f.SetOnCall("PBOB")

	tests := []struct {
		name       string
		path       string
		token      string // "-" = none; "" = the fake's
		wantStatus int
		want       string // JSON the body must equal, after decoding both
	}{
		{
			name: "no token", path: "/users", token: "-", wantStatus: 401,
			want: `{"error":{"message":"Authentication failed","code":2006}}`,
		},
		{
			name: "wrong token", path: "/oncalls", token: "nope", wantStatus: 401,
			want: `{"error":{"message":"Authentication failed","code":2006}}`,
		},
		{
			name: "unknown path", path: "/incidents", wantStatus: 404,
			want: `{"error":{"message":"Not Found","code":2100}}`,
		},
		{
			name: "bad offset", path: "/oncalls?offset=-1", wantStatus: 400,
			want: `{"error":{"message":"Invalid Input Provided","code":2001,"errors":["offset must be a non-negative integer"]}}`,
		},
		{
			name: "users by email substring", path: "/users?query=BOB%40", wantStatus: 200,
			want: `{"users":[{"id":"PBOB","type":"user","summary":"Bob","name":"Bob","email":"bob@example.com",
				"time_zone":"Etc/UTC","role":"user","self":"` + f.URL() + `/users/PBOB","html_url":"https://fake.pagerduty.com/users/PBOB"}],
				"limit":2,"offset":0,"more":false,"total":null}`,
		},
		{
			name: "limit capped at the page size, more set", path: "/oncalls?user_ids%5B%5D=PALICE&limit=100", wantStatus: 200,
			want: `{"oncalls":[` + entry(f, "PALICE", "Alice", "PSCH001", "Primary") + `,` + entry(f, "PALICE", "Alice", "PSCH002", "Database") + `],
				"limit":2,"offset":0,"more":true,"total":null}`,
		},
		{
			name: "last page", path: "/oncalls?user_ids%5B%5D=PALICE&offset=2", wantStatus: 200,
			want: `{"oncalls":[` + entry(f, "PALICE", "Alice", "PSCH003", "Network") + `],"limit":2,"offset":2,"more":false,"total":null}`,
		},
		{
			name: "escalation policy only: schedule null", path: "/oncalls?user_ids%5B%5D=PBOB", wantStatus: 200,
			want: `{"oncalls":[{"user":{"id":"PBOB","type":"user_reference","summary":"Bob","self":"` + f.URL() + `/users/PBOB","html_url":"https://fake.pagerduty.com/users/PBOB"},
				"schedule":null,
				"escalation_policy":{"id":"PPOLPBOB","type":"escalation_policy_reference","summary":"Direct: Bob","self":"` + f.URL() + `/escalation_policies/PPOLPBOB","html_url":"https://fake.pagerduty.com/escalation_policies/PPOLPBOB"},
				"escalation_level":1,"start":null,"end":null}],"limit":2,"offset":0,"more":false,"total":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			switch token {
			case "":
				token = f.Token()
			case "-":
				token = ""
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

// entry is a scheduled on-call entry as the fake writes it, with start and
// end taken from whatever the fake answers (they depend on the time).
func entry(f *pagerdutyfake.Server, userID, userName, schedID, schedName string) string {
	return `{"user":{"id":"` + userID + `","type":"user_reference","summary":"` + userName + `","self":"` + f.URL() + `/users/` + userID + `","html_url":"https://fake.pagerduty.com/users/` + userID + `"},
		"schedule":{"id":"` + schedID + `","type":"schedule_reference","summary":"` + schedName + `","self":"` + f.URL() + `/schedules/` + schedID + `","html_url":"https://fake.pagerduty.com/schedules/` + schedID + `"},
		"escalation_policy":{"id":"PPOL` + schedID + `","type":"escalation_policy_reference","summary":"` + schedName + ` policy","self":"` + f.URL() + `/escalation_policies/PPOL` + schedID + `","html_url":"https://fake.pagerduty.com/escalation_policies/PPOL` + schedID + `"},
		"escalation_level":1,"start":"*","end":"*"}`
}

// sameJSON compares two JSON documents; "*" in want matches any string.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("body is not JSON: %v", err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	return match(g, w)
}

func match(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !match(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !match(g[i], w[i]) {
				return false
			}
		}
		return true
	case string:
		g, ok := got.(string)
		return ok && (w == "*" || g == w)
	default:
		return got == want
	}
}

func TestDownAndCalls(t *testing.T) {
	f := pagerdutyfake.Start(t)
	f.AddUser("PALICE", "Alice", "alice@example.com")
	f.Down(true)
	if status, body := get(t, f, "/users?query=alice", f.Token()); status != 503 || strings.Contains(body, "alice") {
		t.Errorf("down: %d %q, want 503 without data", status, body)
	}
	f.Down(false)
	if status, body := get(t, f, "/users?query=alice", f.Token()); status != 200 || !strings.Contains(body, "PALICE") {
		t.Errorf("up again: %d %q, want 200 with alice", status, body)
	}
	get(t, f, "/users", "wrong")
	if c := f.Calls(); c != 3 {
		t.Errorf("Calls() = %d, want 3 (down, up and refused all count)", c)
	}
}

func TestClearOnCall(t *testing.T) {
	f := pagerdutyfake.Start(t)
	f.AddUser("PALICE", "Alice", "alice@example.com")
	f.SetOnCall("PALICE", "Primary")
	f.ClearOnCall("PALICE")
	if _, body := get(t, f, "/oncalls", f.Token()); !sameJSON(t, body, `{"oncalls":[],"limit":2,"offset":0,"more":false,"total":null}`) {
		t.Errorf("after ClearOnCall: %s", body)
	}
}
