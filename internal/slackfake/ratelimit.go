package slackfake

import (
	"math"
	"time"

	"github.com/jitbot/jitbot/internal/slackapp/pace"
)

// The fake enforces Slack's published limits when asked to
// (EnforceRateLimits, WithRateLimits), the same table the bot paces itself
// by (pace.Of): Web API methods per method and workspace, chat.postMessage
// per channel, every DM a channel of its own.

// bucket is a token bucket: it holds up to burst calls and refills at
// the tier's rate.
type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// EnforceRateLimits turns the enforcement of Slack's published limits on
// or off. Off, the default, only RateLimit makes the fake answer 429.
// Turning it on starts every method and channel with a full burst.
func (s *Server) EnforceRateLimits(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enforce = on
	s.buckets = map[string]*bucket{}
}

// Unlimit exempts methods from the enforced limits, for a test that
// drives other parts of the bot at a pace Slack would not allow them.
func (s *Server) Unlimit(methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unlimited == nil {
		s.unlimited = map[string]bool{}
	}
	for _, m := range methods {
		s.unlimited[m] = true
	}
}

// WithRateLimits starts the server enforcing Slack's published limits.
func WithRateLimits() Option { return func(s *Server) { s.enforce = true } }

// overLimit spends one call of req's budget, or, when it is spent,
// returns the whole seconds until it has one again. A call turned away
// spends nothing. It runs with s.mu held.
func (s *Server) overLimit(req *request, now time.Time) (retryAfter int, limited bool) {
	if !s.enforce || s.unlimited[req.Method] {
		return 0, false
	}
	key := req.Method
	t, ok := pace.Of(req.Method)
	if !ok {
		return 0, false
	}
	if req.Method == pace.PerChannelMethod {
		ch := req.param("channel")
		if d, ok := s.dms[ch]; ok { // a DM counts the same by user or by D… ID
			ch = d
		}
		key = req.Method + " " + ch
	}
	if s.buckets == nil {
		s.buckets = map[string]*bucket{}
	}
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{tokens: t.Burst, at: now}
		s.buckets[key] = b
	}
	rate := t.PerMinute / 60 // per second
	b.tokens = min(t.Burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, false
	}
	return max(1, int(math.Ceil((1-b.tokens)/rate))), true
}
