package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Proxy is a recording fault proxy in front of an AWS endpoint (moto). It
// records every call it receives, so tests can assert what the bot sent
// (moto ignores SourceIdentity, session tags and session-policy conditions),
// it can fail or stall calls to imitate an AWS outage, and it can hold
// chosen calls, answer them with a chosen AWS error and rewrite chosen
// answers (proxyrewrite.go).
type Proxy struct {
	srv       *httptest.Server
	rp        *httputil.ReverseProxy
	transport *http.Transport
	done      chan struct{} // closed at cleanup; releases stalled calls
	closeOnce sync.Once

	mu       sync.Mutex
	calls    []Call
	fail     bool
	failN    int // calls failed while fail is on; picks the failure kind
	failNext map[string]int
	refusals []refusal
	stall    time.Duration
	rewrite  map[string]func(body map[string]any)
	hold     map[string]chan struct{} // closed on release
	held     map[string]int
	errNext  map[string]injected
	throttle map[string]*rate.Limiter // by SigV4 service name (proxythrottle.go)
}

// refusal is a call that the proxy answers with AccessDenied itself.
type refusal struct {
	action string
	match  func(url.Values) bool
}

// Call is one recorded AWS call.
type Call struct {
	// Action is the query-protocol Action (iam, sts), or the operation of
	// an X-Amz-Target (JSON protocols).
	Action string
	// Params are the decoded form parameters, e.g. Tags.member.1.Key, or
	// a JSON call's top-level strings, e.g. PrincipalId.
	Params url.Values
	// Status is the HTTP status the caller got; 0 when the proxy closed
	// the connection instead of answering.
	Status int
	// Throttled says the proxy answered the call itself, as AWS answers a
	// throttled one (Throttle), with Status 400.
	Throttled bool
	// Start is when the proxy received the call, End when it had answered
	// (or dropped) it, so End-Start is the call's time at the upstream plus
	// the proxy's own.
	Start, End time.Time
}

// StartProxy starts a proxy on a loopback port that forwards to upstream
// and closes it when the test ends.
func StartProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p, err := NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewProxy starts a proxy on a loopback port that forwards to upstream;
// Close stops it.
func NewProxy(upstream string) (*Proxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy upstream %q: %v", upstream, err)
	}
	// As many idle connections to upstream as calls the bot makes at once:
	// Go's default of 2 made the proxy open a new connection to moto for
	// most concurrent calls, slowing moto down, which the bot's own client
	// would not do.
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	p := &Proxy{
		rp:        httputil.NewSingleHostReverseProxy(target),
		transport: transport,
		done:      make(chan struct{}),
		failNext:  map[string]int{},
		rewrite:   map[string]func(map[string]any){},
		hold:      map[string]chan struct{}{},
		held:      map[string]int{},
		errNext:   map[string]injected{},
		throttle:  map[string]*rate.Limiter{},
	}
	p.rp.Transport = p.transport
	p.rp.ModifyResponse = p.modify
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p, nil
}

// Close stops the proxy: stalled calls are released, open connections
// closed. It may be called more than once.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.done)
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
}

// URL is the proxy's base URL, to be used as the AWS endpoint.
func (p *Proxy) URL() string { return p.srv.URL }

// Count returns how many calls of action were received, failed ones included.
func (p *Proxy) Count(action string) int {
	return len(p.Calls(action))
}

// Calls returns the recorded calls of action in the order they finished;
// an empty action returns every call.
func (p *Proxy) Calls(action string) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Call
	for _, c := range p.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// CallsAfter returns the calls recorded after the first n (of every
// action), in the order they finished. A caller that follows a long run
// keeps the count it has read, so each look copies only what is new.
func (p *Proxy) CallsAfter(n int) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n >= len(p.calls) {
		return nil
	}
	return slices.Clone(p.calls[n:])
}

// LastEnd is when the last recorded call ended, or zero.
func (p *Proxy) LastEnd() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		return time.Time{}
	}
	return p.calls[len(p.calls)-1].End
}

// Reset forgets the recorded calls. Faults stay as set.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// Fail makes every call fail while on. Failures alternate between a 503
// ServiceUnavailable answer and a connection closed without an answer, so
// the SDK's handling of both is exercised.
func (p *Proxy) Fail(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = on
}

// FailNext makes the next n calls of action fail with a 503.
func (p *Proxy) FailNext(action string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext[action] = n
}

// Refuse answers every later call of action whose parameters match with
// AWS's 403 AccessDenied, as AWS does when a policy (a trust policy, say)
// does not allow it; moto allows everything. The call is recorded, and
// not forwarded.
func (p *Proxy) Refuse(action string, match func(url.Values) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusals = append(p.refusals, refusal{action: action, match: match})
}

// Stall delays every call by d before it is forwarded; zero turns it off.
// A stalled call ends early when its caller gives up (context cancelled)
// or the proxy is closed.
func (p *Proxy) Stall(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = d
}

type fault int

const (
	noFault fault = iota
	fault503
	faultDrop
	faultDenied
	faultThrottled
)

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	action, params := parseCall(r, body)
	start := time.Now()

	p.mu.Lock()
	stall := p.stall
	f := noFault
	switch {
	case p.failNext[action] > 0:
		p.failNext[action]--
		f = fault503
	case p.refused(action, params):
		f = faultDenied
	case p.fail:
		p.failN++
		f = fault503
		if p.failN%2 == 0 {
			f = faultDrop
		}
	case p.throttled(r, start):
		f = faultThrottled
	}
	p.mu.Unlock()

	if stall > 0 {
		timer := time.NewTimer(stall)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			p.record(start, Call{Action: action, Params: params, Status: 0})
			return
		case <-p.done:
			timer.Stop()
			p.record(start, Call{Action: action, Params: params, Status: 0})
			return
		}
	}

	if !p.wait(r, action) {
		p.record(start, Call{Action: action, Params: params, Status: 0})
		return
	}
	if status, ok := p.answerError(w, r, action); ok {
		p.record(start, Call{Action: action, Params: params, Status: status})
		return
	}

	switch f {
	case fault503:
		awsError(w, http.StatusServiceUnavailable, "Receiver", "ServiceUnavailable", "injected by testenv.Proxy", "proxy-fault")
		p.record(start, Call{Action: action, Params: params, Status: http.StatusServiceUnavailable})
		return
	case faultThrottled:
		throttlingError(w, r)
		p.record(start, Call{Action: action, Params: params, Status: http.StatusBadRequest, Throttled: true})
		return
	case faultDenied:
		awsError(w, http.StatusForbidden, "Sender", "AccessDenied", "refused by testenv.Proxy", "proxy-refusal")
		p.record(start, Call{Action: action, Params: params, Status: http.StatusForbidden})
		return
	case faultDrop:
		p.record(start, Call{Action: action, Params: params, Status: 0})
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}

	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	p.rp.ServeHTTP(rec, r)
	p.record(start, Call{Action: action, Params: params, Status: rec.status})
}

// awsError answers as a query-protocol AWS service answers an error.
func awsError(w http.ResponseWriter, status int, typ, code, msg, requestID string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		typ, code, msg, requestID)
}

// refused reports whether a Refuse matches the call; p.mu is held.
func (p *Proxy) refused(action string, params url.Values) bool {
	for _, r := range p.refusals {
		if r.action == action && r.match(params) {
			return true
		}
	}
	return false
}

func (p *Proxy) record(start time.Time, c Call) {
	c.Start, c.End = start, time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
}

// parseCall names the AWS operation of a request and its parameters.
// Query-protocol services (iam, sts) send the operation as the form field
// Action; JSON protocols send it in the X-Amz-Target header as
// Service.Operation, and their parameters as a JSON object, of which the
// top-level strings are kept.
func parseCall(r *http.Request, body []byte) (string, url.Values) {
	params := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil {
			params = v
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		// The top-level strings of a JSON call name what it is about
		// (an account assignment's TargetId and PrincipalId, say).
		var fields map[string]any
		if json.Unmarshal(body, &fields) == nil {
			for k, v := range fields {
				if s, ok := v.(string); ok {
					params.Set(k, s)
				}
			}
		}
	}
	for k, vs := range r.URL.Query() {
		params[k] = append(params[k], vs...)
	}
	action := params.Get("Action")
	if target := r.Header.Get("X-Amz-Target"); action == "" && target != "" {
		action = target[strings.LastIndex(target, ".")+1:]
	}
	return action, params
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets the reverse proxy flush through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
