package oncall

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
	"github.com/jitbot/jitbot/internal/pdrest"
)

// TestPagerDutyOnCall runs the client against the fake, whose page size is
// pagerdutyfake.PageSize (2), so calls counts the pages the client had to
// walk: one GET /users page and the GET /oncalls pages.
func TestPagerDutyOnCall(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *pagerdutyfake.Server)
		email     string
		token     string // "" = the fake's token
		want      bool
		wantNames []string
		wantCalls int
		wantErr   int // HTTP status of the error; 0 = no error
	}{
		{
			name:      "on call for two schedules, names sorted",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PALICE", "Primary", "Database") },
			email:     "alice@example.com",
			want:      true,
			wantNames: []string{"Database", "Primary"},
			wantCalls: 2,
		},
		{
			name:      "same schedule twice is named once",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PALICE", "Primary", "Primary") },
			email:     "alice@example.com",
			want:      true,
			wantNames: []string{"Primary"},
			wantCalls: 2,
		},
		{
			name:      "on call through an escalation policy only",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PALICE") },
			email:     "alice@example.com",
			want:      true,
			wantCalls: 2,
		},
		{
			name:      "not on call while others are",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PBOB", "Primary") },
			email:     "alice@example.com",
			want:      false,
			wantCalls: 2,
		},
		{
			name:      "email matched without regard to case",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PALICE", "Primary") },
			email:     "Alice@Example.COM",
			want:      true,
			wantNames: []string{"Primary"},
			wantCalls: 2,
		},
		{
			// query matches by substring: "bob@example.com" also finds
			// jimbob, who is on call; bob is not.
			name:      "a substring match is not the person",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PJIMBOB", "Primary") },
			email:     "bob@example.com",
			want:      false,
			wantCalls: 2,
		},
		{
			name:      "unknown email",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PALICE", "Primary") },
			email:     "nobody@example.com",
			want:      false,
			wantCalls: 1, // no user, so no on-call lookup
		},
		{
			name: "on-call entries across three pages",
			setup: func(f *pagerdutyfake.Server) {
				f.SetOnCall("PBOB", "Primary") // left out by user_ids[]
				f.SetOnCall("PALICE", "E", "D", "C", "B", "A")
			},
			email:     "alice@example.com",
			want:      true,
			wantNames: []string{"A", "B", "C", "D", "E"},
			wantCalls: 4, // users + 3 pages of 2
		},
		{
			// ann@example.com is a substring of the three emails added
			// before her, so she is on the second page of users.
			name: "user found on a later page",
			setup: func(f *pagerdutyfake.Server) {
				f.AddUser("PJOANN", "Joann", "joann@example.com")
				f.AddUser("PLEEANN", "Leeann", "leeann@example.com")
				f.AddUser("PSUZANN", "Suzann", "suzann@example.com")
				f.AddUser("PANN", "Ann", "ann@example.com")
				f.SetOnCall("PANN", "Primary")
			},
			email:     "ann@example.com",
			want:      true,
			wantNames: []string{"Primary"},
			wantCalls: 3,
		},
		{
			name:      "wrong token",
			setup:     func(f *pagerdutyfake.Server) { f.SetOnCall("PALICE", "Primary") },
			email:     "alice@example.com",
			token:     "not-the-token",
			wantErr:   http.StatusUnauthorized,
			wantCalls: 1,
		},
		{
			name: "pagerduty down",
			setup: func(f *pagerdutyfake.Server) {
				f.SetOnCall("PALICE", "Primary")
				f.Down(true)
			},
			email:     "alice@example.com",
			wantErr:   http.StatusServiceUnavailable,
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := pagerdutyfake.Start(t)
			f.AddUser("PALICE", "Alice", "alice@example.com")
			f.AddUser("PBOB", "Bob", "bob@example.com")
			f.AddUser("PJIMBOB", "Jim Bob", "jimbob@example.com")
			tt.setup(f)
			token := tt.token
			if token == "" {
				token = f.Token()
			}
			p := NewPagerDuty(f.URL(), token, nil, nil)

			got, names, err := p.OnCall(t.Context(), tt.email)

			if tt.wantErr != 0 {
				var ae *pdrest.Error
				if !errors.As(err, &ae) || ae.Status != tt.wantErr {
					t.Fatalf("OnCall(%s) err = %v, want an API error with status %d", tt.email, err, tt.wantErr)
				}
				if got || names != nil {
					t.Errorf("OnCall(%s) = %v, %q with an error; want false, nil", tt.email, got, names)
				}
			} else if err != nil {
				t.Fatalf("OnCall(%s): %v", tt.email, err)
			}
			if got != tt.want || !slices.Equal(names, tt.wantNames) {
				t.Errorf("OnCall(%s) = %v, %q; want %v, %q", tt.email, got, names, tt.want, tt.wantNames)
			}
			if c := f.Calls(); c != tt.wantCalls {
				t.Errorf("fake saw %d calls, want %d", c, tt.wantCalls)
			}
		})
	}
}

// TestPagerDutyWrongTokenCarriesPagerDutysMessage: the log line for a bad
// token should say what PagerDuty said, so an operator can tell a revoked
// token from an outage.
func TestPagerDutyWrongTokenCarriesPagerDutysMessage(t *testing.T) {
	f := pagerdutyfake.Start(t)
	f.AddUser("PALICE", "Alice", "alice@example.com")
	_, _, err := NewPagerDuty(f.URL(), "revoked", nil, nil).OnCall(t.Context(), "alice@example.com")
	var ae *pdrest.Error
	if !errors.As(err, &ae) || ae.Code != 2006 || ae.Message != "Authentication failed" {
		t.Fatalf("err = %#v, want PagerDuty's code 2006 'Authentication failed'", err)
	}
	if !strings.Contains(err.Error(), "GET /users") || !strings.Contains(err.Error(), "Authentication failed") {
		t.Errorf("err = %q, want the endpoint and PagerDuty's message", err)
	}
}

// TestPagerDutyRequest checks what goes over the wire: PagerDuty's v2
// Accept header, the token scheme, and the user_ids[] filter.
func TestPagerDutyRequest(t *testing.T) {
	var got []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Clone(r.Context()))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/users":
			w.Write([]byte(`{"users":[{"id":"PX","email":"x@example.com"}],"limit":100,"offset":0,"more":false}`))
		default:
			w.Write([]byte(`{"oncalls":[],"limit":100,"offset":0,"more":false}`))
		}
	}))
	defer srv.Close()

	on, _, err := NewPagerDuty(srv.URL+"/", "s3cret", srv.Client(), nil).OnCall(t.Context(), "x@example.com")
	if err != nil || on {
		t.Fatalf("OnCall = %v, %v; want false, nil", on, err)
	}
	if len(got) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(got))
	}
	for _, r := range got {
		if a := r.Header.Get("Accept"); a != "application/vnd.pagerduty+json;version=2" {
			t.Errorf("%s Accept = %q", r.URL.Path, a)
		}
		if a := r.Header.Get("Authorization"); a != "Token token=s3cret" {
			t.Errorf("%s Authorization = %q", r.URL.Path, a)
		}
	}
	if q := got[0].URL.Query(); got[0].URL.Path != "/users" || q.Get("query") != "x@example.com" {
		t.Errorf("first request = %s, want /users?query=x@example.com", got[0].URL)
	}
	if q := got[1].URL.Query(); got[1].URL.Path != "/oncalls" || !slices.Equal(q["user_ids[]"], []string{"PX"}) {
		t.Errorf("second request = %s, want /oncalls?user_ids[]=PX", got[1].URL)
	}
}

// TestPagerDutyBadAnswers: anything short of a complete, well-formed answer
// is an error, never a guess.
func TestPagerDutyBadAnswers(t *testing.T) {
	tests := []struct {
		name    string
		oncalls string // body of GET /oncalls
		status  int
		wantErr string
	}{
		{name: "not JSON", oncalls: `<html>oops</html>`, status: 200, wantErr: "decode page"},
		{name: "more forever with empty pages", oncalls: `{"oncalls":[],"limit":0,"offset":0,"more":true}`, status: 200, wantErr: "more=true after an empty page"},
		{name: "500 with PagerDuty's body", oncalls: `{"error":{"message":"Internal Server Error","code":5000}}`, status: 500, wantErr: "status 500: Internal Server Error"},
		{name: "429", oncalls: `{"error":{"message":"Rate Limit Exceeded","code":2020}}`, status: 429, wantErr: "status 429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/users" {
					w.Write([]byte(`{"users":[{"id":"PX","email":"x@example.com"}],"limit":100,"offset":0,"more":false}`))
					return
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.oncalls))
			}))
			defer srv.Close()
			on, names, err := NewPagerDuty(srv.URL, "t", srv.Client(), nil).OnCall(t.Context(), "x@example.com")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if on || names != nil {
				t.Errorf("OnCall = %v, %q with an error; want false, nil", on, names)
			}
		})
	}
}

func TestPagerDutyUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, _, err := NewPagerDuty(url, "t", nil, nil).OnCall(t.Context(), "x@example.com")
	if err == nil {
		t.Fatal("OnCall against a closed port succeeded")
	}
	if strings.Contains(err.Error(), "x@example.com") {
		t.Errorf("err = %q repeats the email from the URL", err)
	}
}

// TestPagerDutyIgnoredFilter: a server (or proxy) that drops user_ids[]
// returns everyone's entries; only the person's own count.
func TestPagerDutyIgnoredFilter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/users" {
			w.Write([]byte(`{"users":[{"id":"PX","email":"x@example.com"}],"limit":100,"offset":0,"more":false}`))
			return
		}
		w.Write([]byte(`{"oncalls":[{"user":{"id":"POTHER"},"schedule":{"id":"PS1","summary":"Primary"},"escalation_level":1}],"limit":100,"offset":0,"more":false}`))
	}))
	defer srv.Close()
	on, names, err := NewPagerDuty(srv.URL, "t", srv.Client(), nil).OnCall(t.Context(), "x@example.com")
	if err != nil || on || names != nil {
		t.Errorf("OnCall = %v, %q, %v; want false, nil, nil", on, names, err)
	}
}
