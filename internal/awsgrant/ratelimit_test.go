package awsgrant_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/awslimit"
	"github.com/jitbot/jitbot/internal/grants"
)

// throttledBurst grants and then revokes n group memberships through the
// aws_iam_group backend, 16 at a time as the scheduler's workers do, with
// the proxy throttling IAM above 100 calls a second after a burst of 20,
// and jitbot's AWS configuration limited to limits. It fails the test on
// any failed grant or revocation, and returns how many calls the proxy
// throttled and how many it received.
func throttledBurst(t *testing.T, n int, limits awslimit.Limits) (throttled, calls int) {
	e := newEnv(t)
	e.createGroup(t, "jit-burst")
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("burst%03d", i)
		e.createUser(t, users[i])
	}
	cfg := e.cfg.Copy()
	awslimit.New(limits, nil).Apply(&cfg)
	b := awsgrant.NewGroup(cfg, testLogger(t))
	e.proxy.Throttle("iam", 100, 20)

	each := func(what string, do func(grants.Grant) error) {
		work := make(chan string)
		var wg sync.WaitGroup
		for range grants.DefaultWorkers {
			wg.Go(func() {
				for u := range work {
					if err := do(groupGrant(u, "jit-burst")); err != nil {
						t.Errorf("%s %s: %v", what, u, err)
					}
				}
			})
		}
		for _, u := range users {
			work <- u
		}
		close(work)
		wg.Wait()
	}
	each("grant", func(g grants.Grant) error { _, err := b.Grant(t.Context(), g); return err })
	if got := e.members(t, "jit-burst"); len(got) != n {
		t.Fatalf("%d members after %d grants", len(got), n)
	}
	each("revoke", func(g grants.Grant) error { _, err := b.Revoke(t.Context(), g); return err })
	if got := e.members(t, "jit-burst"); len(got) != 0 {
		t.Fatalf("members after every revocation: %v", got)
	}
	for _, c := range e.proxy.Calls("") {
		if c.Status != 200 && !c.Throttled {
			t.Errorf("%s answered %d; want only successes and throttles", c.Action, c.Status)
		}
	}
	return e.proxy.Throttled(""), e.proxy.Count("")
}

// TestGroupBurstUnderIAMRateLimit: 100 grants and 100 revocations at
// once, IAM throttling above 100/s. With jitbot's limit under IAM's
// (50/s, burst 10) every one succeeds and next to no call is throttled.
func TestGroupBurstUnderIAMRateLimit(t *testing.T) {
	throttled, calls := throttledBurst(t, 100, awslimit.Limits{"iam": {Rate: 50, Burst: 10}})
	t.Logf("limited to 50/s: %d of %d calls throttled", throttled, calls)
	// Only the network's jitter can bunch calls the limiter spaced.
	if throttled > calls/20 {
		t.Errorf("%d of %d calls throttled under a limit half IAM's", throttled, calls)
	}
}

// TestGroupBurstWithoutLimitIsRetried: the same burst with jitbot's limit
// off is throttled, and every throttled call is retried to success.
func TestGroupBurstWithoutLimitIsRetried(t *testing.T) {
	throttled, calls := throttledBurst(t, 100, awslimit.Limits{"iam": {}})
	t.Logf("unlimited: %d of %d calls throttled", throttled, calls)
	if throttled == 0 {
		t.Error("no call was throttled; the test shows nothing")
	}
}
