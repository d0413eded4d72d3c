package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestLock checks the lock that serialises the writers of a role's revoke
// deny across replicas, on a real redis-server: two Stores stand for two
// jitbot processes.
func TestLock(t *testing.T) {
	srv := testenv.StartRedis(t)

	t.Run("one holder at a time across processes", func(t *testing.T) {
		prefix := newPrefix()
		a := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
		b := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
		var (
			holders, most atomic.Int32
			counter       atomic.Int32 // read, then written: two holders at once lose an increment
			wg            sync.WaitGroup
		)
		const workers = 40
		for i := range workers {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				unlock, err := s.Lock(t.Context(), "revoke-deny:prod-admin")
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				defer unlock()
				n := holders.Add(1)
				defer holders.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				c := counter.Load()
				time.Sleep(time.Millisecond)
				counter.Store(c + 1)
			})
		}
		wg.Wait()
		if most.Load() != 1 || counter.Load() != workers {
			t.Errorf("at most %d holders at once and %d of %d increments kept; want 1 and all", most.Load(), counter.Load(), workers)
		}
	})

	t.Run("other keys are not blocked", func(t *testing.T) {
		s := open(t, srv.URL(), redisstore.Options{Prefix: newPrefix()})
		unlock, err := s.Lock(t.Context(), "revoke-deny:one")
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		defer unlock()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		other, err := s.Lock(ctx, "revoke-deny:two")
		if err != nil {
			t.Fatalf("Lock of another key while one is held: %v", err)
		}
		other()
	})

	t.Run("a dead holder's lock expires", func(t *testing.T) {
		const ttl = 300 * time.Millisecond
		prefix := newPrefix()
		dead := open(t, srv.URL(), redisstore.Options{Prefix: prefix, LockTTL: ttl})
		live := open(t, srv.URL(), redisstore.Options{Prefix: prefix, LockTTL: ttl})
		if _, err := dead.Lock(t.Context(), "k"); err != nil { // never released
			t.Fatalf("Lock: %v", err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		unlock, err := live.Lock(ctx, "k")
		if err != nil {
			t.Fatalf("Lock after the holder died: %v", err)
		}
		defer unlock()
		if waited := time.Since(start); waited < ttl/2 {
			t.Errorf("took a held lock after %v, before its TTL of %v", waited, ttl)
		} else {
			t.Logf("took the dead holder's lock after %v (TTL %v)", waited, ttl)
		}
	})

	t.Run("only the holder releases", func(t *testing.T) {
		const ttl = 200 * time.Millisecond
		prefix := newPrefix()
		late := open(t, srv.URL(), redisstore.Options{Prefix: prefix, LockTTL: ttl})
		next := open(t, srv.URL(), redisstore.Options{Prefix: prefix, LockTTL: time.Minute})
		lateUnlock, err := late.Lock(t.Context(), "k")
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		nextUnlock, err := next.Lock(t.Context(), "k") // after late's TTL
		if err != nil {
			t.Fatalf("Lock after expiry: %v", err)
		}
		lateUnlock() // late's lock expired: this must not free next's
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if _, err := late.Lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock while another holds it = %v, want context.DeadlineExceeded", err)
		}
		nextUnlock()
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		again, err := late.Lock(ctx, "k")
		if err != nil {
			t.Fatalf("Lock after the holder released it: %v", err)
		}
		again()
	})
}
