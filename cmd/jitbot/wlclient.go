package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Timeouts of the workload API client. callTimeout bounds one call and is
// above the 60 s a GET ?wait=60s may be held by the server.
const (
	dialTimeout = 10 * time.Second
	callTimeout = 90 * time.Second
	pollWait    = "60s"
)

// apiClient calls jitbot's workload API (internal/workloadapi) with a
// workload's token.
type apiClient struct {
	base *url.URL
	// token is read again for each call: a Kubernetes projected token
	// file is renewed by the kubelet, and a wait may outlast one token.
	token func() (string, error)
	http  *http.Client
}

// apiRequest is the part of the API's answers the client reads: POST's
// and DELETE's are subsets of GET's.
type apiRequest struct {
	ID           string          `json:"id"`
	State        string          `json:"state"`
	Approvers    []string        `json:"approvers"`
	DenyReason   string          `json:"deny_reason"`
	RevokeReason string          `json:"revoke_reason"`
	Failure      string          `json:"failure"`
	Notice       string          `json:"notice"`
	Credentials  json.RawMessage `json:"credentials"`
	raw          []byte          // the answer as the server sent it, for --format json
}

// apiError is an error answer of the API: its status and its message.
type apiError struct {
	status     int
	msg        string
	retryAfter time.Duration // from a 429's Retry-After
}

func (e *apiError) Error() string {
	if e.status == http.StatusUnauthorized {
		// The server says "invalid token" whatever the check that failed.
		return "the server refused the token (401 invalid token): check it is this job's current ID token, for jitbot's audience"
	}
	return fmt.Sprintf("the server answered %d: %s", e.status, e.msg)
}

// serverURL checks --server. A token sent over plain HTTP to another host
// could be read and replayed on the way, so http:// is only for loopback
// (a local proxy, tests).
func serverURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("--server %q is not an https:// URL", s)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("--server %q is plain http:// to a host that is not this machine: the token would travel in the clear and could be stolen; use https://", s)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newAPIClient(base *url.URL, token func() (string, error)) *apiClient {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
		ForceAttemptHTTP2:   true,
	}
	return &apiClient{base: base, token: token, http: &http.Client{
		Transport: tr,
		Timeout:   callTimeout,
		// A redirect could take the token elsewhere; the API sends none.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do makes one call and decodes its answer; an error answer is an
// *apiError. Errors never hold the token: it is only in a header.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (*apiRequest, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base.JoinPath(strings.Split(path, "?")[0])
	if _, q, ok := strings.Cut(path, "?"); ok {
		u.RawQuery = q
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL is in the message below already
		}
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode >= 300 {
		return nil, answerError(resp, raw)
	}
	out := &apiRequest{raw: raw}
	if err := json.Unmarshal(raw, out); err != nil || out.ID == "" {
		return nil, fmt.Errorf("%s %s: the answer (%d) is not a request of jitbot's workload API; is --server jitbot's API?", method, u.Redacted(), resp.StatusCode)
	}
	return out, nil
}

func answerError(resp *http.Response, raw []byte) *apiError {
	e := &apiError{status: resp.StatusCode}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.msg = body.Error
	} else {
		e.msg = http.StatusText(resp.StatusCode) + " (not an answer of jitbot's workload API)"
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.retryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// retrying makes the call again after a 429's Retry-After (5 s when it
// says none), for as long as ctx lasts: being told to slow down is not a
// reason to give up a request already made.
func retrying(ctx context.Context, call func() (*apiRequest, error)) (*apiRequest, error) {
	for {
		r, err := call()
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusTooManyRequests {
			return r, err
		}
		wait := ae.retryAfter
		if wait <= 0 {
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *apiClient) create(ctx context.Context, role, duration, reason, account string) (*apiRequest, error) {
	body := map[string]string{"role": role, "duration": duration, "reason": reason, "account": account}
	return c.do(ctx, http.MethodPost, "/v1/requests", body)
}

func (c *apiClient) get(ctx context.Context, id string) (*apiRequest, error) {
	return retrying(ctx, func() (*apiRequest, error) {
		return c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"?wait="+pollWait, nil)
	})
}

func (c *apiClient) release(ctx context.Context, id string) (*apiRequest, error) {
	return retrying(ctx, func() (*apiRequest, error) {
		return c.do(ctx, http.MethodDelete, "/v1/requests/"+url.PathEscape(id), nil)
	})
}
