package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

// Benchmarks of the store's state transitions, on a real redis-server and
// on the embedded miniredis. Each reports roundtrips/op, counted by a
// go-redis hook: a pipeline is one round trip, and so is each command.

// roundTrips counts what the client sends to Redis.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// loop times op and reports its round trips.
func loop(b *testing.B, rt *roundTrips, op func(i int)) {
	b.Helper()
	b.ReportAllocs()
	before := rt.n.Load()
	i := 0
	for b.Loop() {
		op(i)
		i++
	}
	b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "roundtrips/op")
}

// benchT0 is the benchmarks' clock: scores are absolute times, so a fixed
// past start makes every queue entry due when a benchmark says so.
var benchT0 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

func pendingRequest(id grants.RequestID, now time.Time) *grants.Request {
	return &grants.Request{
		ID:                id,
		State:             grants.Pending,
		Requester:         rules.User{ID: "U0ALICE1", Name: "alice", Email: "alice@example.com", Groups: []string{"sre", "oncall"}},
		Role:              "prod-readonly",
		Backend:           grants.BackendSTS,
		Target:            "arn:aws:iam::111111111111:role/jit-prod-readonly",
		Duration:          time.Hour,
		Reason:            "fixing INC-42 replica lag on the orders database",
		Incident:          "INC-42",
		Rule:              `user.email.endsWith("@example.com")`,
		ApprovalsRequired: 1,
		CreatedAt:         now,
		Deadline:          now.Add(30 * time.Minute),
	}
}

// The transitions of docs/design.md §3, as the service makes them.
func approve(now time.Time) func(*grants.Request) error {
	return func(r *grants.Request) error {
		if r.State != grants.Pending {
			return fmt.Errorf("approve %s: state %s", r.ID, r.State)
		}
		r.Approvals = append(r.Approvals, grants.Approval{Approver: "U0LEAD001", At: now})
		r.State, r.DecidedAt, r.LeaseUntil = grants.Granting, now, now.Add(30*time.Second)
		return nil
	}
}

func granted(now time.Time) func(*grants.Request) error {
	return func(r *grants.Request) error {
		if r.State != grants.Granting {
			return fmt.Errorf("grant %s: state %s", r.ID, r.State)
		}
		r.State, r.GrantedAt, r.ExpiresAt, r.LeaseUntil = grants.Active, now, now.Add(time.Hour), time.Time{}
		r.SessionName, r.AccessKeyID, r.CredsExpire = "jit-alice-"+string(r.ID), "ASIAEXAMPLEKEY000001", now.Add(time.Hour)
		return nil
	}
}

func revoking(now time.Time) func(*grants.Request) error {
	return func(r *grants.Request) error {
		if r.State != grants.Active {
			return fmt.Errorf("revoke %s: state %s", r.ID, r.State)
		}
		r.State, r.RevokeReason, r.NextAttempt, r.LeaseUntil = grants.Revoking, grants.ReasonExpired, now, now.Add(30*time.Second)
		return nil
	}
}

func revoked(now time.Time) func(*grants.Request) error {
	return func(r *grants.Request) error {
		if r.State != grants.Revoking {
			return fmt.Errorf("finish revoking %s: state %s", r.ID, r.State)
		}
		r.State, r.RevokedAt, r.NextAttempt, r.LeaseUntil = grants.Revoked, now, time.Time{}, time.Time{}
		return nil
	}
}

func BenchmarkStore(b *testing.B) {
	srv := testenv.StartRedis(b)
	stores := []struct {
		name string
		open func(b *testing.B) *redisstore.Store
	}{
		{"redis-server", func(b *testing.B) *redisstore.Store {
			s, err := redisstore.Open(b.Context(), srv.URL(), redisstore.Options{Prefix: newPrefix()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"miniredis", func(b *testing.B) *redisstore.Store {
			s, closeAll, err := redisstore.NewEmbedded(redisstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { closeAll() })
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			b.Run("ping", func(b *testing.B) { benchPing(b, st.open(b)) })
			b.Run("create", func(b *testing.B) { benchCreate(b, st.open(b)) })
			b.Run("update", func(b *testing.B) { benchUpdate(b, st.open(b)) })
			b.Run("approve-grant", func(b *testing.B) { benchApproveGrant(b, st.open(b)) })
			b.Run("claim256of1000", func(b *testing.B) { benchClaim(b, st.open(b)) })
			b.Run("lifecycle", func(b *testing.B) { benchLifecycle(b, st.open(b)) })
		})
	}
}

func counted(s *redisstore.Store) *roundTrips {
	rt := &roundTrips{}
	s.Client().AddHook(rt)
	return rt
}

func benchID(i int) grants.RequestID { return grants.RequestID(fmt.Sprintf("JIT-B%07d", i)) }

// benchPing is the floor: one round trip that does no work.
func benchPing(b *testing.B, s *redisstore.Store) {
	ctx := b.Context()
	if err := s.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	loop(b, counted(s), func(int) {
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

// benchCreate stores new pending requests (Store.Create: write.lua).
func benchCreate(b *testing.B, s *redisstore.Store) {
	ctx := b.Context()
	first := pendingRequest("JIT-FIRST1", benchT0)
	if err := s.Create(ctx, first); err != nil {
		b.Fatal(err)
	}
	if got, err := s.Get(ctx, first.ID); err != nil || got.Reason != first.Reason || got.State != grants.Pending {
		b.Fatalf("Get after Create = %+v, %v", got, err)
	}
	rt := counted(s)
	loop(b, rt, func(i int) {
		if err := s.Create(ctx, pendingRequest(benchID(i), benchT0)); err != nil {
			b.Fatal(err)
		}
	})
}

// benchUpdate is one compare-and-swap write of an active grant, as a
// worker renewing its lease makes it.
func benchUpdate(b *testing.B, s *redisstore.Store) {
	ctx := b.Context()
	r := activeRequest("JIT-UPDAT1", benchT0.Add(time.Hour))
	if err := s.Create(ctx, r); err != nil {
		b.Fatal(err)
	}
	lease := func(i int) func(*grants.Request) error {
		return func(r *grants.Request) error {
			r.LeaseUntil = benchT0.Add(time.Duration(i) * time.Millisecond)
			return nil
		}
	}
	if got, err := s.Update(ctx, r.ID, lease(-1)); err != nil || !got.LeaseUntil.Equal(benchT0.Add(-time.Millisecond)) {
		b.Fatalf("Update = %+v, %v", got, err)
	}
	rt := counted(s)
	loop(b, rt, func(i int) {
		if _, err := s.Update(ctx, r.ID, lease(i)); err != nil {
			b.Fatal(err)
		}
	})
}

// benchApproveGrant takes a new request to an active grant: Create, then
// pending → granting (the intent, before AWS) → active.
func benchApproveGrant(b *testing.B, s *redisstore.Store) {
	ctx := b.Context()
	grant := func(id grants.RequestID) (*grants.Request, error) {
		if err := s.Create(ctx, pendingRequest(id, benchT0)); err != nil {
			return nil, err
		}
		if _, err := s.Update(ctx, id, approve(benchT0)); err != nil {
			return nil, err
		}
		return s.Update(ctx, id, granted(benchT0))
	}
	if r, err := grant("JIT-FIRST1"); err != nil || r.State != grants.Active || len(r.Approvals) != 1 {
		b.Fatalf("approve and grant = %+v, %v", r, err)
	}
	rt := counted(s)
	loop(b, rt, func(i int) {
		if _, err := grant(benchID(i)); err != nil {
			b.Fatal(err)
		}
	})
}

// benchClaim claims the scheduler's batch of 256 from 1,000 due grants.
// Each claim moves what it took a lease ahead; the clock then moves past
// the lease, so every round finds all 1,000 due again.
func benchClaim(b *testing.B, s *redisstore.Store) {
	ctx := b.Context()
	const due, batch, lease = 1000, 256, 30 * time.Second
	for i := range due {
		if err := s.Create(ctx, activeRequest(benchID(i), benchT0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			b.Fatal(err)
		}
	}
	now := benchT0.Add(time.Hour)
	ids, err := s.Claim(ctx, now, lease, batch)
	if err != nil || len(ids) != batch || ids[0] != benchID(0) {
		b.Fatalf("Claim = %d IDs starting %v, %v; want %d from %s", len(ids), ids[:min(len(ids), 1)], err, batch, benchID(0))
	}
	rt := counted(s)
	loop(b, rt, func(int) {
		now = now.Add(lease + time.Millisecond)
		if ids, err := s.Claim(ctx, now, lease, batch); err != nil || len(ids) != batch {
			b.Fatalf("Claim = %d IDs, %v", len(ids), err)
		}
	})
}

// benchLifecycle is one request from Create to revoked at expiry, through
// the store alone: the fewest round trips a request can cost. The service
// adds its own reads (Get before a decision, Directory look-ups).
func benchLifecycle(b *testing.B, s *redisstore.Store) {
	ctx := b.Context()
	life := func(id grants.RequestID, now time.Time) error {
		if err := s.Create(ctx, pendingRequest(id, now)); err != nil {
			return err
		}
		if _, err := s.Update(ctx, id, approve(now)); err != nil {
			return err
		}
		r, err := s.Update(ctx, id, granted(now))
		if err != nil {
			return err
		}
		ids, err := s.Claim(ctx, r.ExpiresAt, 30*time.Second, 256)
		if err != nil || len(ids) != 1 || ids[0] != id {
			return fmt.Errorf("claim at expiry = %v, %v; want [%s]", ids, err, id)
		}
		if _, err := s.Update(ctx, id, revoking(r.ExpiresAt)); err != nil {
			return err
		}
		_, err = s.Update(ctx, id, revoked(r.ExpiresAt))
		return err
	}
	if err := life("JIT-FIRST1", benchT0); err != nil {
		b.Fatal(err)
	}
	if open, err := s.Open(ctx); err != nil || len(open) != 0 {
		b.Fatalf("open after a full lifecycle = %d records, %v; want none", len(open), err)
	}
	rt := counted(s)
	loop(b, rt, func(i int) {
		// Each request starts after the last one ended, as the queue
		// must hold only this request when its expiry is claimed.
		if err := life(benchID(i), benchT0.Add(time.Duration(i+1)*2*time.Hour)); err != nil {
			b.Fatal(err)
		}
	})
}
