package workloadapi

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiterRefillsAndForgets(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(60, 2, func() time.Time { return now })
	for i := range 2 {
		if _, ok := l.take("a"); !ok {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	if wait, ok := l.take("a"); ok || wait != time.Second {
		t.Fatalf("take past the burst: %v %v, want refused for 1s", wait, ok)
	}
	if _, blocked := l.blocked("b"); blocked {
		t.Error("an unknown key is blocked")
	}
	now = now.Add(time.Second)
	if _, ok := l.take("a"); !ok {
		t.Error("no token a second later at 60 a minute")
	}
	// A full table drops the buckets that have refilled, not the empty one.
	for i := range maxBuckets {
		l.spend("k" + strconv.Itoa(i))
	}
	now = now.Add(time.Hour)
	l.take("a")
	l.take("a")
	l.take("new")
	if _, ok := l.buckets["k1"]; ok {
		t.Error("a refilled bucket was kept past maxBuckets")
	}
	if _, blocked := l.blocked("a"); !blocked {
		t.Error("an empty bucket was forgotten")
	}
}
