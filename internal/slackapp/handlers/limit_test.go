package handlers

import (
	"strings"
	"testing"
	"time"
)

// TestLimiterPerUser: a user gets a burst, then one read per interval;
// another user's bucket is their own; the wait told is the time to the
// next token.
func TestLimiterPerUser(t *testing.T) {
	l := newLimiter(3, 3*time.Second)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.allow("UALICE", now); !ok {
			t.Fatalf("read %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("UALICE", now)
	if ok || wait != 3*time.Second {
		t.Errorf("4th read at once = %v, wait %v; want refused, 3s", ok, wait)
	}
	if ok, _ := l.allow("UBOB", now); !ok {
		t.Errorf("bob refused because of alice")
	}
	if ok, wait := l.allow("UALICE", now.Add(2*time.Second)); ok || wait != time.Second {
		t.Errorf("after 2s = %v, wait %v; want refused, 1s", ok, wait)
	}
	if ok, _ := l.allow("UALICE", now.Add(3*time.Second)); !ok {
		t.Errorf("after 3s: refused; want a token back")
	}
	if got := slowDown(1500 * time.Millisecond); !strings.Contains(got, "Try again in 2s") {
		t.Errorf("slowDown(1.5s) = %q", got)
	}
}

// TestLimiterForgetsIdleUsers: the map does not keep every user who ever
// read once their bucket is full again.
func TestLimiterForgetsIdleUsers(t *testing.T) {
	l := newLimiter(2, time.Second)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10001 {
		l.allow(string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	l.allow("late", now.Add(time.Minute))
	if n := len(l.buckets); n > 1 {
		t.Errorf("%d buckets kept a minute later, want 1", n)
	}
}
