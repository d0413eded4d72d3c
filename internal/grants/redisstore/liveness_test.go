package redisstore_test

import (
	"maps"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestLiveness: a liveness key lives for its time unless renewed; the
// leases follow what each write says; a dead process's queued records
// can be made due at once.
func TestLiveness(t *testing.T) {
	srv := testenv.StartRedis(t)
	s := open(t, srv.URL(), redisstore.Options{Prefix: newPrefix()})
	ctx := t.Context()
	if err := s.Beat(ctx, "p-a", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Beat(ctx, "p-b", time.Minute); err != nil {
		t.Fatal(err)
	}
	alive := func(want map[string]bool) {
		t.Helper()
		got, err := s.Alive(ctx, []string{"p-a", "p-b", "p-never"})
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("Alive = %v, %v; want %v", got, err, want)
		}
	}
	alive(map[string]bool{"p-a": true, "p-b": true, "p-never": false})
	time.Sleep(400 * time.Millisecond) // the key's own TTL, in redis-server
	alive(map[string]bool{"p-a": false, "p-b": true, "p-never": false})

	now := time.Now().Truncate(time.Millisecond)
	leased := activeRequest("JIT-LEASE1", now.Add(time.Hour))
	leased.State, leased.LeaseUntil, leased.LeaseOwner = grants.Revoking, now.Add(30*time.Second), "p-a"
	leased.NextAttempt = now
	free := activeRequest("JIT-LEASE2", now.Add(time.Hour))
	for _, r := range []*grants.Request{leased, free} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Leased(ctx)
	if err != nil || !maps.Equal(got, map[grants.RequestID]string{"JIT-LEASE1": "p-a"}) {
		t.Fatalf("Leased = %v, %v", got, err)
	}
	if due, err := s.Claim(ctx, now, time.Second, 10); err != nil || len(due) != 0 {
		t.Fatalf("due before MakeDue: %v, %v", due, err)
	}
	if err := s.MakeDue(ctx, []grants.RequestID{"JIT-LEASE1", "JIT-GONE01"}, now); err != nil {
		t.Fatal(err)
	}
	// Every live process makes a dead one's records due at each look; a
	// later look must not move them back behind what came due meanwhile.
	if err := s.MakeDue(ctx, []grants.RequestID{"JIT-LEASE1"}, now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if due, err := s.Claim(ctx, now, time.Second, 10); err != nil || len(due) != 1 || due[0] != "JIT-LEASE1" {
		t.Fatalf("due after MakeDue: %v, %v; want the leased record only, still due at the first look", due, err)
	}
	if _, err := s.Update(ctx, "JIT-LEASE1", func(r *grants.Request) error {
		r.State, r.LeaseUntil, r.LeaseOwner = grants.Revoked, time.Time{}, ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Leased(ctx); err != nil || len(got) != 0 {
		t.Errorf("Leased after the lease ended = %v, %v; want none", got, err)
	}
}
