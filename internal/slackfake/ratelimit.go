package slackfake

import (
	"math"
	"time"
)

// Slack's published rate limits, which the fake enforces when asked to
// (EnforceRateLimits, WithRateLimits). Web API methods are limited per
// method and workspace in tiers of calls a minute; chat.postMessage is
// limited per channel instead, about one message a second, and every DM
// is a channel of its own. Slack tolerates short bursts above these
// rates; the bursts here are a guess at "short", as Slack publishes none.
// https://api.slack.com/apis/rate-limits
type tier struct {
	perMinute float64
	burst     float64
}

var (
	tier1 = tier{perMinute: 1, burst: 2}
	tier2 = tier{perMinute: 20, burst: 5}
	tier3 = tier{perMinute: 50, burst: 10}
	tier4 = tier{perMinute: 100, burst: 20}
	// perChannel is chat.postMessage's special limit, per channel.
	perChannel = tier{perMinute: 60, burst: 3}
)

// tiers are the tiers of the methods the fake speaks, from each method's
// page on api.slack.com. auth.test is "special" (far above what a bot
// calls); it is put in Tier 4.
var tiers = map[string]tier{
	"auth.test":             tier4,
	"apps.connections.open": tier1,
	"chat.postEphemeral":    tier4,
	"chat.update":           tier3,
	"chat.delete":           tier3,
	"conversations.open":    tier3,
	"conversations.history": tier3,
	"users.info":            tier4,
	"users.list":            tier2,
	"users.lookupByEmail":   tier3,
	"usergroups.list":       tier2,
	"usergroups.users.list": tier2,
	"views.open":            tier4,
	"views.push":            tier4,
	"views.update":          tier4,
	"views.publish":         tier4,
}

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
	key, t := req.Method, tiers[req.Method]
	if req.Method == "chat.postMessage" {
		ch := req.param("channel")
		if d, ok := s.dms[ch]; ok { // a DM counts the same by user or by D… ID
			ch = d
		}
		key, t = req.Method+" "+ch, perChannel
	}
	if t.perMinute == 0 {
		return 0, false
	}
	if s.buckets == nil {
		s.buckets = map[string]*bucket{}
	}
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{tokens: t.burst, at: now}
		s.buckets[key] = b
	}
	rate := t.perMinute / 60 // per second
	b.tokens = min(t.burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, false
	}
	return max(1, int(math.Ceil((1-b.tokens)/rate))), true
}
