package testenv

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// spread sends one action's calls to several upstreams in turn.
type spread struct {
	to   []*httputil.ReverseProxy
	next int
}

// Spread sends the calls of action to the proxy's upstream and to each of
// upstreams in turn, as AWS spreads one API's calls over many hosts. It is
// for a load that one moto process cannot answer: moto is one Python
// interpreter, answering about 170 IAM calls a second on a 2-core machine,
// so a bench at that rate would measure moto's queue, not the bot. Each
// upstream must answer the action alike (the same fixtures); the calls are
// recorded as any other. No upstreams turns it off.
func (p *Proxy) Spread(action string, upstreams ...string) error {
	s := &spread{to: []*httputil.ReverseProxy{p.rp}}
	for _, u := range upstreams {
		target, err := url.Parse(u)
		if err != nil || target.Host == "" {
			return fmt.Errorf("spread %s to %q: not an upstream URL", action, u)
		}
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.Transport = p.transport
		rp.ModifyResponse = p.modify
		s.to = append(s.to, rp)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(upstreams) == 0 {
		delete(p.spread, action)
		return nil
	}
	p.spread[action] = s
	return nil
}

// upstreamFor returns the reverse proxy that answers the next call of
// action.
func (p *Proxy) upstreamFor(action string) http.Handler {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.spread[action]
	if s == nil {
		return p.rp
	}
	rp := s.to[s.next%len(s.to)]
	s.next++
	return rp
}
