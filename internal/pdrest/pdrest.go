// Package pdrest is the PagerDuty REST API v2 plumbing that jitbot's
// PagerDuty clients share: token authentication, PagerDuty's versioned
// Accept header, a bounded response body, and PagerDuty's error body read
// into an *Error. What to ask and how to read the answer stays with each
// client (on-call status in internal/oncall, incidents in
// internal/incidents).
package pdrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is PagerDuty's REST API.
const DefaultURL = "https://api.pagerduty.com"

const (
	// DefaultTimeout bounds one HTTP request when the caller gives no
	// client, so a hung PagerDuty cannot hold a request forever.
	DefaultTimeout = 10 * time.Second
	// MaxBody bounds what is read from one response. PagerDuty's pages of
	// 100 items are far below it.
	MaxBody = 4 << 20
)

// Client does authenticated GETs against one PagerDuty REST API.
type Client struct {
	baseURL string
	token   string
	hc      *http.Client
}

// New returns a Client that authenticates with an API token (read-only is
// enough for GETs). baseURL "" means DefaultURL; a nil hc means one with
// DefaultTimeout.
func New(baseURL, token string, hc *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// Get does one authenticated GET of path (already escaped) with the query
// q, which may be nil, and returns the body of a 2xx answer. A non-2xx
// answer is an *Error, wrapped. Errors name the path but never the query,
// which may hold an email, nor the token.
func (c *Client) Get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("pagerduty GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	req.Header.Set("Authorization", "Token token="+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the URL, query and all; the path is enough.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("pagerduty GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	// One byte past the limit tells a body that is too long from one that
	// is exactly MaxBody, so a cut body is never decoded as if whole.
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("pagerduty GET %s: read body: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("pagerduty GET %s: %w", path, newError(resp.StatusCode, body))
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("pagerduty GET %s: response body over %d bytes", path, MaxBody)
	}
	return body, nil
}

// Error is a non-2xx answer. PagerDuty's body is
// {"error":{"message","code","errors"}}; a proxy in front of it may send
// anything, so the fields stay zero when the body is not that.
type Error struct {
	Status  int      // HTTP status
	Code    int      // PagerDuty's error code, e.g. 2006 authentication failed, 2100 not found
	Message string   // PagerDuty's message
	Errors  []string // PagerDuty's details, if any
}

func newError(status int, body []byte) *Error {
	e := &Error{Status: status}
	var doc struct {
		Error struct {
			Code    int      `json:"code"`
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil {
		e.Code, e.Message, e.Errors = doc.Error.Code, doc.Error.Message, doc.Error.Errors
	}
	return e
}

func (e *Error) Error() string {
	s := fmt.Sprintf("status %d", e.Status)
	if e.Message != "" {
		s += fmt.Sprintf(": %s (code %d)", e.Message, e.Code)
	}
	if len(e.Errors) > 0 {
		s += ": " + strings.Join(e.Errors, "; ")
	}
	return s
}

// StatusOf returns the HTTP status of the *Error in err's chain, or 0 when
// there is none (a network error, a timeout, a bad body).
func StatusOf(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return 0
}
