package awsgrant

import "time"

// SetClock replaces the clock an STS backend uses to tell an early revoke
// from one after expiry.
func SetClock(s *STS, now func() time.Time) { s.now = now }
