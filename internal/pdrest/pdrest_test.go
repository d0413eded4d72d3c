package pdrest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestNewDefaults(t *testing.T) {
	c := New("", "t", nil)
	if c.baseURL != DefaultURL {
		t.Errorf("baseURL = %q, want %q", c.baseURL, DefaultURL)
	}
	if c.hc == nil || c.hc.Timeout != DefaultTimeout {
		t.Errorf("default client timeout = %v, want %v", c.hc.Timeout, DefaultTimeout)
	}
	if c := New("https://pd.example/", "t", nil); c.baseURL != "https://pd.example" {
		t.Errorf("baseURL = %q, want the trailing slash dropped", c.baseURL)
	}
}

// TestGetRequest checks what goes over the wire: PagerDuty's v2 Accept
// header, the token scheme, and no stray "?" when there is no query.
func TestGetRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(r.Context())
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()

	body, err := New(srv.URL, "s3cret", srv.Client()).Get(t.Context(), "/incidents/PX", nil)
	if err != nil || string(body) != `{"ok":true}` {
		t.Fatalf("Get = %q, %v", body, err)
	}
	if a := got.Header.Get("Accept"); a != "application/vnd.pagerduty+json;version=2" {
		t.Errorf("Accept = %q", a)
	}
	if a := got.Header.Get("Authorization"); a != "Token token=s3cret" {
		t.Errorf("Authorization = %q", a)
	}
	if got.URL.RequestURI() != "/incidents/PX" {
		t.Errorf("request URI = %q, want /incidents/PX", got.URL.RequestURI())
	}
}

func TestGetErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantErr    string
		wantStatus int // StatusOf the error
	}{
		{name: "PagerDuty's error body", status: 404, body: `{"error":{"message":"Incident Not Found","code":2100}}`,
			wantErr: "pagerduty GET /x: status 404: Incident Not Found (code 2100)", wantStatus: 404},
		{name: "details", status: 400, body: `{"error":{"message":"Invalid Input Provided","code":2001,"errors":["a","b"]}}`,
			wantErr: "status 400: Invalid Input Provided (code 2001): a; b", wantStatus: 400},
		{name: "a proxy's page", status: 502, body: `<html>bad gateway</html>`, wantErr: "pagerduty GET /x: status 502", wantStatus: 502},
		{name: "body over the limit", status: 200, body: strings.Repeat("x", MaxBody+1), wantErr: "response body over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			_, err := New(srv.URL, "t", srv.Client()).Get(t.Context(), "/x", nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if got := StatusOf(err); got != tt.wantStatus {
				t.Errorf("StatusOf = %d, want %d", got, tt.wantStatus)
			}
		})
	}
}

// TestGetBodyAtTheLimit: a body of exactly MaxBody is whole, not cut.
func TestGetBodyAtTheLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", MaxBody))
	}))
	defer srv.Close()
	body, err := New(srv.URL, "t", srv.Client()).Get(t.Context(), "/x", nil)
	if err != nil || len(body) != MaxBody {
		t.Fatalf("Get = %d bytes, %v; want %d, nil", len(body), err, MaxBody)
	}
}

// TestGetUnreachableHidesQuery: the query may hold an email; a network
// error names the path only.
func TestGetUnreachableHidesQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there now
	_, err := New(u, "t", nil).Get(t.Context(), "/users", url.Values{"query": {"x@example.com"}})
	if err == nil {
		t.Fatal("Get against a closed port succeeded")
	}
	if strings.Contains(err.Error(), "x@example.com") {
		t.Errorf("err = %q repeats the query", err)
	}
	if StatusOf(err) != 0 {
		t.Errorf("StatusOf(%v) = %d, want 0 for a network error", err, StatusOf(err))
	}
}
