// Package pagerdutyfake is a PagerDuty REST API v2 server for tests. It
// runs in-process on a loopback port and answers the endpoints jitbot
// reads, GET /users and GET /oncalls (on-call status, internal/oncall) and
// GET /incidents/{id or number} (internal/incidents), in the shapes
// PagerDuty documents, so the real clients reach it exactly as they reach
// PagerDuty: the bot is started with JIT_PAGERDUTY_API_URL=URL() and
// JIT_PAGERDUTY_TOKEN=Token(). It also sends Webhooks v3 deliveries, signed
// as PagerDuty signs them, when a test resolves or acknowledges an
// incident (incidents.go).
//
// What it enforces, because these are what a client gets wrong:
//   - the Authorization header must be "Token token=<Token()>"; anything
//     else is 401 with PagerDuty's error body
//     {"error":{"message":"Authentication failed","code":2006}};
//   - classic offset pagination: limit/offset/more, with at most PageSize
//     items per page (PagerDuty caps limit at 100; the fake caps it at 2 so
//     that every test crosses a page boundary);
//   - an unknown incident is 404 {"error":{"message":"Incident Not
//     Found","code":2100}};
//   - Down(true) answers 503 with a non-JSON body to everything, as a load
//     balancer in front of an unhealthy PagerDuty would.
//
// It never panics or blocks on what it receives over the wire.
package pagerdutyfake

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PageSize is the most items the fake returns in one page, whatever limit
// the client asks for.
const PageSize = 2

// defaultLimit is PagerDuty's page size when the request sets no limit.
const defaultLimit = 25

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv   *httptest.Server
	token string

	mu        sync.Mutex
	calls     int
	down      bool
	users     []user            // in the order added, as PagerDuty lists by creation
	oncalls   map[string]oncall // by user ID
	order     []string          // user IDs in the order SetOnCall first saw them
	schedules map[string]string // schedule name → ID, stable for the fake's life

	incidents     []*incident // in the order added
	webhookURL    string      // "" = no webhook subscription
	webhookSecret string
}

type user struct{ id, name, email string }

type oncall struct {
	schedules []string // names; empty = on call through an escalation policy directly
	since     time.Time
}

// Start starts a fake on a loopback port and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		// A random token per fake, so a test passes only if the token
		// really travels from configuration to the header.
		token:     "pd-fake-" + rand.Text(),
		oncalls:   map[string]oncall{},
		schedules: map[string]string{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to use in place of https://api.pagerduty.com.
func (s *Server) URL() string { return s.srv.URL }

// Token is the only API token the fake accepts.
func (s *Server) Token() string { return s.token }

// AddUser adds a PagerDuty user (or replaces the one with this ID).
func (s *Server) AddUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := user{id: id, name: name, email: email}
	if i := slices.IndexFunc(s.users, func(u user) bool { return u.id == id }); i >= 0 {
		s.users[i] = u
		return
	}
	s.users = append(s.users, u)
}

// SetOnCall puts the user on call now, once for each named schedule. With
// no schedules the user is on call through an escalation policy that names
// them directly, which PagerDuty reports with "schedule": null. It replaces
// what an earlier SetOnCall said for this user.
func (s *Server) SetOnCall(userID string, schedules ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range schedules {
		if _, ok := s.schedules[name]; !ok {
			s.schedules[name] = fmt.Sprintf("PSCH%03d", len(s.schedules)+1)
		}
	}
	if _, ok := s.oncalls[userID]; !ok {
		s.order = append(s.order, userID)
	}
	s.oncalls[userID] = oncall{schedules: slices.Clone(schedules), since: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
}

// ClearOnCall takes the user off call.
func (s *Server) ClearOnCall(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.oncalls, userID)
	s.order = slices.DeleteFunc(s.order, func(id string) bool { return id == userID })
}

// Down makes the fake answer 503 to every request (true) or serve again
// (false).
func (s *Server) Down(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Calls is the number of requests received so far, answered or refused.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// apiError is PagerDuty's error body: {"error":{"message","code","errors"}}.
// Codes are PagerDuty's: 2001 invalid input, 2006 authentication failed,
// 2100 not found.
type apiError struct {
	Error struct {
		Message string   `json:"message"`
		Code    int      `json:"code"`
		Errors  []string `json:"errors,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status, code int, msg string, details ...string) {
	var body apiError
	body.Error.Message, body.Error.Code, body.Error.Errors = msg, code, details
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that hung up is not the fake's problem
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
		return
	}
	if r.Header.Get("Authorization") != "Token token="+s.token {
		writeError(w, http.StatusUnauthorized, 2006, "Authentication failed")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	q := r.URL.Query()
	offset, limit, err := page(q.Get("offset"), q.Get("limit"))
	if err != nil {
		writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", err.Error())
		return
	}
	switch path := r.URL.Path; {
	case path == "/users":
		s.listUsers(w, q.Get("query"), offset, limit)
	case strings.HasPrefix(path, "/incidents/"):
		s.getIncident(w, strings.TrimPrefix(path, "/incidents/"))
	case path == "/oncalls":
		// since/until default to now, which is all the fake knows; earliest
		// collapses entries per (user, escalation policy, level), and every
		// entry the fake makes is its own combination, so it changes nothing.
		s.listOnCalls(w, q["user_ids[]"], offset, limit)
	default:
		writeError(w, http.StatusNotFound, 2100, "Not Found")
	}
}

// page reads PagerDuty's classic pagination parameters and caps the limit
// at PageSize.
func page(offsetStr, limitStr string) (offset, limit int, err error) {
	limit = defaultLimit
	if limitStr != "" {
		if limit, err = strconv.Atoi(limitStr); err != nil || limit < 1 {
			return 0, 0, fmt.Errorf("limit must be a positive integer")
		}
	}
	if offsetStr != "" {
		if offset, err = strconv.Atoi(offsetStr); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset must be a non-negative integer")
		}
	}
	return offset, min(limit, PageSize), nil
}

// window returns items[offset:offset+limit] and whether more follow.
func window[T any](items []T, offset, limit int) ([]T, bool) {
	if offset >= len(items) {
		return []T{}, false
	}
	end := min(offset+limit, len(items))
	return items[offset:end], end < len(items)
}

type reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	Self    string `json:"self"`
	HTMLURL string `json:"html_url"`
}

type userBody struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Summary  string `json:"summary"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	TimeZone string `json:"time_zone"`
	Role     string `json:"role"`
	Self     string `json:"self"`
	HTMLURL  string `json:"html_url"`
}

// listUsers filters the way PagerDuty documents for query: users whose
// name or email contains it, ignoring case. So "bob@example.com" also finds
// "jimbob@example.com", and the client has to pick the exact email.
func (s *Server) listUsers(w http.ResponseWriter, query string, offset, limit int) {
	query = strings.ToLower(query)
	var found []userBody
	for _, u := range s.users {
		if query != "" && !strings.Contains(strings.ToLower(u.name), query) && !strings.Contains(strings.ToLower(u.email), query) {
			continue
		}
		found = append(found, userBody{
			ID: u.id, Type: "user", Summary: u.name, Name: u.name, Email: u.email,
			TimeZone: "Etc/UTC", Role: "user",
			Self: s.srv.URL + "/users/" + u.id, HTMLURL: "https://fake.pagerduty.com/users/" + u.id,
		})
	}
	items, more := window(found, offset, limit)
	writeJSON(w, http.StatusOK, map[string]any{
		"users": items, "limit": limit, "offset": offset, "more": more, "total": nil,
	})
}

type oncallBody struct {
	User             reference  `json:"user"`
	Schedule         *reference `json:"schedule"` // null when the policy names the user directly
	EscalationPolicy reference  `json:"escalation_policy"`
	EscalationLevel  int        `json:"escalation_level"`
	Start            *string    `json:"start"` // null for a permanent direct assignment
	End              *string    `json:"end"`
}

func (s *Server) listOnCalls(w http.ResponseWriter, userIDs []string, offset, limit int) {
	var entries []oncallBody
	for _, id := range s.order {
		if len(userIDs) > 0 && !slices.Contains(userIDs, id) {
			continue
		}
		oc := s.oncalls[id]
		userRef := reference{ID: id, Type: "user_reference", Summary: s.userName(id),
			Self: s.srv.URL + "/users/" + id, HTMLURL: "https://fake.pagerduty.com/users/" + id}
		if len(oc.schedules) == 0 {
			entries = append(entries, oncallBody{
				User: userRef, EscalationLevel: 1,
				EscalationPolicy: s.policyRef("PPOL"+id, "Direct: "+userRef.Summary),
			})
			continue
		}
		start := oc.since.Format(time.RFC3339)
		end := oc.since.Add(24 * time.Hour).Format(time.RFC3339)
		for _, name := range oc.schedules {
			sid := s.schedules[name]
			entries = append(entries, oncallBody{
				User: userRef, EscalationLevel: 1,
				Schedule: &reference{ID: sid, Type: "schedule_reference", Summary: name,
					Self: s.srv.URL + "/schedules/" + sid, HTMLURL: "https://fake.pagerduty.com/schedules/" + sid},
				EscalationPolicy: s.policyRef("PPOL"+sid, name+" policy"),
				Start:            &start, End: &end,
			})
		}
	}
	items, more := window(entries, offset, limit)
	writeJSON(w, http.StatusOK, map[string]any{
		"oncalls": items, "limit": limit, "offset": offset, "more": more, "total": nil,
	})
}

func (s *Server) policyRef(id, name string) reference {
	return reference{ID: id, Type: "escalation_policy_reference", Summary: name,
		Self: s.srv.URL + "/escalation_policies/" + id, HTMLURL: "https://fake.pagerduty.com/escalation_policies/" + id}
}

func (s *Server) userName(id string) string {
	if i := slices.IndexFunc(s.users, func(u user) bool { return u.id == id }); i >= 0 {
		return s.users[i].name
	}
	return id
}
