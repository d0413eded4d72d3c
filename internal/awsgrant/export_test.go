package awsgrant

import "time"

// SetClock replaces the clock an STS backend uses to tell an early revoke
// from one after expiry.
func SetClock(s *STS, now func() time.Time) { s.now = now }

// SetSSOPolling replaces how long and how often an SSO backend follows
// an assignment request.
func SetSSOPolling(s *SSO, timeout, first, max time.Duration) {
	s.statusTimeout, s.firstPoll, s.maxPoll = timeout, first, max
}
