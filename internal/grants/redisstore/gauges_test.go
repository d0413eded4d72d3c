package redisstore_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/metrics"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestGaugesFollowEveryWrite: after any sequence of writes, the gauges the
// store keeps say what counting its open records says; and a store whose
// gauge sets were lost is right again once reindexed.
func TestGaugesFollowEveryWrite(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Truncate(time.Millisecond)
	states := []grants.State{grants.Pending, grants.Scheduled, grants.Granting, grants.Active, grants.Revoking, grants.Revoked, grants.Denied, grants.Failed}
	roles := []string{"prod-admin", "prod-readonly", "billing"}
	var ids []grants.RequestID
	for step := range 600 {
		if len(ids) < 40 || rng.IntN(4) == 0 {
			r := activeRequest(grants.RequestID(fmt.Sprintf("JIT-G%05d", step)), base.Add(time.Duration(rng.IntN(7200)-3600)*time.Second))
			r.Role, r.State = roles[rng.IntN(len(roles))], grants.Pending
			r.Requester.ID = "UALICE"
			if err := s.Create(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
			continue
		}
		id := ids[rng.IntN(len(ids))]
		_, err := s.Update(t.Context(), id, func(r *grants.Request) error {
			r.State = states[rng.IntN(len(states))]
			r.Attempts = rng.IntN(2)
			r.ExpiresAt = base.Add(time.Duration(rng.IntN(7200)-3600) * time.Second)
			r.Start = base.Add(time.Duration(rng.IntN(7200)-3600) * time.Second)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		got, err := s.Gauges(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		open, err := s.Open(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := metrics.GaugesOf(open)
		maps.DeleteFunc(got.ActiveByRole, func(_ string, n int) bool { return n == 0 })
		if !maps.Equal(got.ByState, want.ByState) || got.Retrying != want.Retrying || !maps.Equal(got.ActiveByRole, want.ActiveByRole) ||
			!got.EarliestExpiry.Equal(want.EarliestExpiry) || !got.EarliestStart.Equal(want.EarliestStart) {
			t.Errorf("%s: gauges %+v\nwant %+v (from %d open records)", when, got, want, len(open))
		}
	}
	check("after 600 writes")

	keys, err := s.Client().Keys(t.Context(), "{"+prefix+"}:gauge:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("gauge keys: %v, %v", keys, err)
	}
	if err := s.Client().Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Reindex(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("after the gauge sets were lost and rebuilt")
}
