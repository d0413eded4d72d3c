// Package pace keeps the bot's Slack Web API calls to Slack's pace once
// Slack has said they are too many. Slack limits most methods per
// workspace, not per caller: when a hundred approval DMs are to be updated
// at once, each write retrying on its own after Slack's Retry-After sends
// them all again together, and nearly all are refused again, round after
// round, while the audit channel's own updates wait behind the same limit.
// The Transport makes the calls of a method (of chat.postMessage, of a
// channel) wait out a 429's Retry-After together, and then, for a minute,
// take turns at the method's published rate, first come first served.
// Until Slack answers 429 it changes nothing: calls go at once. A caller
// with better to do than wait its turn says so with NoWait.
package pace

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/jitbot/jitbot/internal/wait"
)

// Window is how long calls of a method take turns after Slack last
// answered it 429.
const Window = time.Minute

// Transport is an http.RoundTripper for the Slack Web API that paces the
// calls of a method once Slack has answered it 429. The 429 itself is
// still given to the caller, which retries; the retry then waits its turn.
type Transport struct {
	Base http.RoundTripper // the transport that calls Slack; http.DefaultTransport when nil

	mu   sync.Mutex
	keys map[string]*paced
}

// paced is a method (or a channel's chat.postMessage) Slack has limited.
type paced struct {
	gate  time.Time     // Retry-After: no call before this
	until time.Time     // calls take turns until this
	turns *rate.Limiter // at the method's rate; nil for a method of unknown limit
}

// New returns a Transport over base.
func New(base http.RoundTripper) *Transport { return &Transport{Base: base} }

// noWaitKey marks a context whose calls do not queue for their turn.
type noWaitKey struct{}

// NoWait returns ctx marked so that a call made with it never queues for
// its turn: while its method is paced and the call cannot go at once, the
// Transport answers it 429 itself, with the time until a turn as
// Retry-After, as Slack would, and Slack is not called. It is for a writer
// that has more to do than that one call: the audit channel's parent
// updates share chat.update's turns with every approval DM's update, and
// waiting behind a thousand of them would hold back the thread replies
// that show the same events.
func NoWait(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWaitKey{}, true)
}

// held is a call NoWait kept from queueing, and how long until its turn.
type held struct{ retry time.Duration }

func (h held) Error() string { return "paced: not this call's turn for " + h.retry.String() }

// RoundTrip waits for the call's turn, when its method is being paced, and
// makes it.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := path.Base(req.URL.Path)
	key := keyOf(req, method)
	if err := t.wait(req.Context(), key); err != nil {
		if h, ok := err.(held); ok {
			if req.Body != nil {
				req.Body.Close() // a RoundTripper closes the body, even unsent
			}
			return tooManyRequests(req, h.retry), nil
		}
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.limited(key, method, retryAfter(resp.Header.Get("Retry-After")))
	}
	return resp, err
}

// Holding reports whether Slack has answered method 429 within the last
// Window, for any channel of it: its calls are taking turns.
func (t *Transport) Holding(method string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for key, p := range t.keys {
		if (key == method || strings.HasPrefix(key, method+" ")) && now.Before(p.until) {
			return true
		}
	}
	return false
}

// wait returns when a call under key may go: at once unless key is paced.
func (t *Transport) wait(ctx context.Context, key string) error {
	for {
		t.mu.Lock()
		p := t.keys[key]
		now := time.Now()
		if p == nil || now.After(p.until) {
			if p != nil {
				delete(t.keys, key)
			}
			t.mu.Unlock()
			return nil
		}
		noWait, _ := ctx.Value(noWaitKey{}).(bool)
		if now.Before(p.gate) {
			d := p.gate.Sub(now)
			t.mu.Unlock()
			if noWait {
				return held{d}
			}
			if err := wait.Sleep(ctx, d); err != nil {
				return err
			}
			continue // a 429 meanwhile may have moved the gate
		}
		turns := p.turns
		t.mu.Unlock()
		if turns == nil {
			return nil
		}
		if noWait {
			// A turn now, or none: the queued calls keep theirs.
			r := turns.Reserve()
			if d := r.Delay(); d > 0 {
				r.Cancel()
				return held{d}
			}
			return nil
		}
		return turns.Wait(ctx)
	}
}

// tooManyRequests is the answer Slack gives a call over its limit, made
// by the Transport for a call it held back.
func tooManyRequests(req *http.Request, retry time.Duration) *http.Response {
	secs := max(1, int((retry+time.Second-1)/time.Second))
	return &http.Response{
		Status: "429 Too Many Requests", StatusCode: http.StatusTooManyRequests,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Retry-After": {strconv.Itoa(secs)}, "Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"ok":false,"error":"ratelimited"}`)),
		Request: req,
	}
}

// limited paces key from now: no call for retry, then calls at the
// method's rate for Window.
func (t *Transport) limited(key, method string, retry time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string]*paced{}
	}
	now := time.Now()
	p := t.keys[key]
	if p == nil {
		p = &paced{}
		if l, ok := Of(method); ok {
			// One call at a time: the burst is what Slack just refused.
			p.turns = rate.NewLimiter(rate.Limit(l.PerMinute/60), 1)
		}
		t.keys[key] = p
	}
	p.gate = maxTime(p.gate, now.Add(retry))
	p.until = now.Add(Window)
}

// keyOf is what Slack limits the call by: its method, or for
// chat.postMessage its method and channel.
func keyOf(req *http.Request, method string) string {
	if method != PerChannelMethod {
		return method
	}
	if ch := formValue(req, "channel"); ch != "" {
		return method + " " + ch
	}
	return method
}

// formValue reads name from a form-encoded request body without taking the
// body from the request (GetBody gives a copy).
func formValue(req *http.Request, name string) string {
	if ch := req.URL.Query().Get(name); ch != "" {
		return ch
	}
	if req.GetBody == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return ""
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return ""
	}
	return v.Get(name)
}

// retryAfter is Slack's Retry-After header in seconds; a second when it is
// missing or not a number.
func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return time.Second
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
