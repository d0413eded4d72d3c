package awsgrant_test

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestTwoHundredConcurrentRevocationsOfOneRole is the attack of an
// insider (or a bad day) that revokes hundreds of grants of one role early,
// all at once, through two jitbot replicas sharing one Redis: every
// revocation must succeed and stay in the role's one deny policy, which
// must stay well inside IAM's 10,240 characters, and the clean-ups must
// take the policy away again.
func TestTwoHundredConcurrentRevocationsOfOneRole(t *testing.T) {
	const n = 200
	e := newEnv(t)
	redis := testenv.StartRedis(t)
	replicas := make([]*awsgrant.STS, 2)
	for i := range replicas {
		store, err := redisstore.Open(t.Context(), redis.URL(), redisstore.Options{Prefix: "revoke200"})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { store.Close() })
		replicas[i] = awsgrant.NewSTS(e.cfg, warnLogger(t), awsgrant.WithLocker(store))
	}
	arn := e.createRole(t, "jit-busy", maxSession)
	gs := issue(t, awsgrant.NewSTS(e.cfg, slog.New(slog.DiscardHandler)), arn, n)

	e.proxy.Reset()
	start := time.Now()
	errs := each(gs, func(i int, g grants.Grant) error {
		_, err := replicas[i%2].Revoke(t.Context(), g)
		return err
	})
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Errorf("Revoke of %s: %v", gs[i].RequestID, err)
		}
	}
	ids, size, ok := e.revokeDeny(t, "jit-busy")
	if !ok {
		t.Fatalf("no jit-revoked policy on the role after %d revocations", n)
	}
	for _, g := range gs {
		if _, ok := ids[string(g.RequestID)]; !ok {
			t.Errorf("the deny lost %s", g.RequestID)
		}
	}
	if len(ids) != n {
		t.Errorf("the deny names %d requests, want %d", len(ids), n)
	}
	if size > 10240 {
		t.Errorf("the deny is %d characters, over IAM's quota of 10,240", size)
	}
	t.Logf("%d concurrent revocations through 2 replicas: %v, %d PutRolePolicy and %d GetRolePolicy calls; the policy is %d characters (%.1f a request) of IAM's 10,240",
		n, took.Round(time.Millisecond), e.proxy.Count("PutRolePolicy"), e.proxy.Count("GetRolePolicy"), size, float64(size)/n)

	e.proxy.Reset()
	start = time.Now()
	errs = each(gs, func(i int, g grants.Grant) error { return replicas[i%2].Cleanup(t.Context(), g) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("Cleanup of %s: %v", gs[i].RequestID, err)
		}
	}
	if ids, _, ok := e.revokeDeny(t, "jit-busy"); ok {
		t.Errorf("after every clean-up the deny still names %d requests", len(ids))
	}
	t.Logf("%d concurrent clean-ups: %v, %d PutRolePolicy calls", n, time.Since(start).Round(time.Millisecond), e.proxy.Count("PutRolePolicy"))
}

// issue grants role arn n times, as recorded after Grant.
func issue(t *testing.T, b *awsgrant.STS, arn string, n int) []grants.Grant {
	t.Helper()
	gs := make([]grants.Grant, n)
	for i := range gs {
		gs[i] = stsGrant(arn)
	}
	errs := each(gs, func(i int, g grants.Grant) error {
		issued, err := b.Grant(t.Context(), g)
		gs[i].CredsExpire = issued.CredsExpire
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Grant: %v", err)
		}
	}
	return gs
}

// each calls f for every grant at once, each in its own goroutine.
func each(gs []grants.Grant, f func(int, grants.Grant) error) []error {
	errs := make([]error, len(gs))
	var wg sync.WaitGroup
	for i, g := range gs {
		wg.Go(func() { errs[i] = f(i, g) })
	}
	wg.Wait()
	return errs
}

// warnLogger logs only warnings and errors, not a line per grant.
func warnLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
