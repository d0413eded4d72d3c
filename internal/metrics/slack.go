package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"time"
)

// slackBodyPeek is the largest response body read to tell {"ok":false}
// from success. Slack's answers to writes are a few hundred bytes; the big
// ones (users.list pages) are successes jitbot does not need to inspect.
const slackBodyPeek = 64 << 10

// slackMethod matches a Web API method name (chat.postMessage,
// usergroups.users.list); anything else is counted as "other", so a
// strange URL cannot grow the label set.
var slackMethod = regexp.MustCompile(`^[a-z]+(\.[a-zA-Z]+){1,3}$`)

// SlackTransport wraps base (http.DefaultTransport when nil) to count and
// time every Slack Web API call: give it to slack-go as
// slack.OptionHTTPClient(&http.Client{Transport: m.SlackTransport(nil)}).
// The response body is given back to the caller unchanged.
func (m *Metrics) SlackTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &slackTransport{m: m, base: base}
}

type slackTransport struct {
	m    *Metrics
	base http.RoundTripper
}

func (t *slackTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := path.Base(req.URL.Path)
	if !slackMethod.MatchString(method) {
		method = "other"
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	var result string
	switch {
	case errors.Is(err, context.Canceled):
		result = "cancelled"
	case err != nil:
		result = "network_error"
	case resp.StatusCode == http.StatusTooManyRequests:
		result = "ratelimited"
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		result = "http_" + strconv.Itoa(resp.StatusCode)
	case slackRefused(resp):
		result = "slack_error"
	default:
		result = "ok"
	}
	t.m.slackDuration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	t.m.slackCalls.WithLabelValues(method, result).Inc()
	if method == socketOpenMethod {
		t.m.socketOpenOK.WithLabelValues().Set(b2f(result == "ok"))
	}
	return resp, err
}

// socketOpenMethod is the call by which Socket Mode asks Slack for a
// websocket URL, at start and at every reconnection.
const socketOpenMethod = "apps.connections.open"

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// slackRefused reports whether a small JSON answer says "ok":false. It
// reads at most slackBodyPeek bytes and puts them back in front of the
// rest, so the caller reads the body as the server sent it. An answer too
// large to peek at, or not JSON, counts as accepted.
func slackRefused(resp *http.Response) bool {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" || resp.Body == nil {
		return false
	}
	if resp.ContentLength > slackBodyPeek {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, slackBodyPeek+1))
	resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(head), errReader{err}, resp.Body), Closer: resp.Body}
	if err != nil || len(head) > slackBodyPeek {
		return false
	}
	var answer struct {
		OK *bool `json:"ok"`
	}
	return json.Unmarshal(head, &answer) == nil && answer.OK != nil && !*answer.OK
}

// replayBody is a response body whose first bytes were already read.
type replayBody struct {
	io.Reader
	io.Closer
}

// errReader returns err once the bytes before it are read, so a body that
// failed while being peeked at fails the caller too; nil reads as EOF.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}
