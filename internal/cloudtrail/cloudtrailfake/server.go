// Package cloudtrailfake is a CloudTrail LookupEvents endpoint for tests,
// which moto does not emulate. It speaks the AWS JSON 1.1 protocol the SDK
// uses (POST /, X-Amz-Target CloudTrail_20131101.LookupEvents), filters by
// the one lookup attribute and the time range, and pages with NextToken.
package cloudtrailfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PageSize is small so that clients must follow NextToken.
const PageSize = 3

// Event is one recorded API call.
type Event struct {
	Name, Source, AccessKeyID, Username string
	Time                                time.Time
	ErrorCode                           string   // e.g. AccessDenied; empty for a success
	Resources                           []string // what the event names, ARNs or names
}

// Server is the fake.
type Server struct {
	srv *httptest.Server

	mu     sync.Mutex
	events []Event
	calls  int
}

// Start runs the fake on a loopback port until the test ends.
func Start(t testing.TB) *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint, as AWS_ENDPOINT_URL_CLOUDTRAIL takes it.
func (s *Server) URL() string { return s.srv.URL }

// Add records events.
func (s *Server) Add(events ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, events...)
}

// Calls counts LookupEvents requests.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type lookupInput struct {
	LookupAttributes []struct{ AttributeKey, AttributeValue string }
	StartTime        *float64
	EndTime          *float64
	NextToken        string
	MaxResults       int
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".LookupEvents") {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", "only LookupEvents is emulated")
		return
	}
	var in lookupInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if len(in.LookupAttributes) > 1 {
		awsError(w, http.StatusBadRequest, "InvalidLookupAttributesException", "only one lookup attribute is allowed")
		return
	}
	s.mu.Lock()
	s.calls++
	var match []Event
	for _, e := range s.events {
		if !matches(e, in) {
			continue
		}
		match = append(match, e)
	}
	s.mu.Unlock()
	start := 0
	if in.NextToken != "" {
		start, _ = strconv.Atoi(in.NextToken)
	}
	end := min(start+PageSize, len(match))
	out := map[string]any{"Events": []any{}}
	var page []any
	for _, e := range match[start:end] {
		detail := map[string]any{"eventName": e.Name, "eventSource": e.Source}
		if e.ErrorCode != "" {
			detail["errorCode"] = e.ErrorCode
		}
		raw, _ := json.Marshal(detail)
		page = append(page, map[string]any{
			"EventId": fmt.Sprintf("ev-%d", e.Time.UnixNano()), "EventName": e.Name, "EventSource": e.Source,
			"EventTime": float64(e.Time.UnixMilli()) / 1000, "AccessKeyId": e.AccessKeyID, "Username": e.Username,
			"CloudTrailEvent": string(raw), "Resources": resources(e),
		})
	}
	if page != nil {
		out["Events"] = page
	}
	if end < len(match) {
		out["NextToken"] = strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// resources is the Resources list of an event; CloudTrail leaves the type
// out too when it cannot tell.
func resources(e Event) []any {
	out := []any{}
	for _, r := range e.Resources {
		out = append(out, map[string]string{"ResourceName": r})
	}
	return out
}

func matches(e Event, in lookupInput) bool {
	if in.StartTime != nil && e.Time.Before(time.UnixMilli(int64(*in.StartTime*1000))) {
		return false
	}
	if in.EndTime != nil && e.Time.After(time.UnixMilli(int64(*in.EndTime*1000))) {
		return false
	}
	for _, a := range in.LookupAttributes {
		switch a.AttributeKey {
		case "AccessKeyId":
			if e.AccessKeyID != a.AttributeValue {
				return false
			}
		case "Username":
			if e.Username != a.AttributeValue {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func awsError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
