package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// revocationLag100k is the revocation lag at ten times revocation_lag's
// scale: -grants-100k aws_iam_group grants expiring evenly over
// -window-100k (100,000 over 10 minutes by default, 167 a second), two
// replicas sharing the store, one of them SIGKILLed and restarted at
// -restart-at of the window.
//
// The memberships are not created in moto: 100,000 AddUserToGroup calls
// would take moto eleven minutes before the run starts. Each revocation's
// RemoveUserFromGroup still goes to moto, which answers NoSuchEntity for a
// user who is not in the group; jitbot counts that as done, as it must
// for a member someone removed by hand, after the same one round trip. So
// the figure is jitbot's path and moto's round trip, as revocation_lag's.
func (b *bench) revocationLag100k(ctx context.Context) error {
	n, window := b.cfg.grants100k, b.cfg.window100k
	second, err := b.startReplica("replica-100k")
	if err != nil {
		return err
	}
	defer second.kill()
	kind := b.iamGrants()
	kind.access = "nothing (the memberships are left out; see revocationLag100k)"
	kind.add = func(_ context.Context, n int) ([]string, error) {
		ids := make([]string, n)
		for k := range ids {
			ids[k] = fmt.Sprintf("bench-unseeded-%d", k)
		}
		return ids, nil
	}
	spec := kind.spec
	kind.spec = func(k int) grantSpec {
		s := spec(k)
		s.requester = k % scaleEngineers
		return s
	}
	// The grants are the scale model's: 5,000 engineers, each told in a
	// DM when their access ends, and Slack's published limits enforced
	// as Slack would. Unlimited, the fake took two audit-channel posts
	// per revocation, 333 a second to one channel, which Slack refuses:
	// jitbot then folds the channel's events into fewer posts.
	t0, seeded, err := b.seedExpiringFor(ctx, "revocation lag at 100,000", kind, b.engineers(scaleEngineers), n, spread(n, window))
	if err != nil {
		return err
	}
	b.st.slack.EnforceRateLimits(true)
	defer b.st.slack.EnforceRateLimits(false)
	// Seeding may still outlast its lead on a slow machine: grants written after
	// their expiry are late before jitbot can see them. Say by how much.
	seededLate := max(0, time.Since(t0))
	mem, cpu := b.sampleMemory(), b.sampleCPU(second)
	var restartErr error
	var restarted sync.WaitGroup
	restarted.Go(func() {
		time.Sleep(time.Until(t0.Add(time.Duration(b.cfg.restartAt * float64(window)))))
		b.logf("revocation lag at 100,000: SIGKILL and restart of one replica at %s", time.Now().Format("15:04:05.000"))
		b.st.bot.kill()
		restartErr = b.st.bot.start()
		// What the restarted replica reads as it starts is what the
		// first runs' memory peak was suspected of: look then.
		time.Sleep(5 * time.Second)
		b.profileHeap("revocation-100k-restarted")
	})
	b.profileCPU("revocation-100k", min(window, time.Minute))
	// Its memory grew far past rss_100k's in the first run: look at the
	// heap late in the window, when it is largest.
	heap := time.AfterFunc(time.Until(t0.Add(window*8/10)), func() { b.profileHeap("revocation-100k") })
	defer heap.Stop()
	// The Slack fake records every call and message of the audit trail of
	// 100,000 revocations, blocks and all: over a gigabyte of the bench's
	// heap by the end, which its collector marks on the CPU this figure
	// measures. Nothing here reads them, so they are forgotten as they
	// come (the bot can still update a forgotten message, as in Slack).
	stopForgetting := b.forgetSlackEvery(10 * time.Second)
	done := b.waitRevoked(ctx, kind, seeded)
	stopForgetting()
	// What the replica holds once every grant is revoked is what
	// rss_100k starts from.
	b.profileHeap("revocation-100k-end")
	b.profileGoroutines("revocation-100k-end", 0)
	restarted.Wait()
	rss, shares := mem.stop(), cpu.stop()
	b.keepTimeline(cpu, "revocation-100k")
	if restartErr != nil {
		return fmt.Errorf("restart during the run: %w", restartErr)
	}
	b.logf("revocation lag at 100,000: CPU %s", shares)
	lags, missing := lagsOf(seeded, done)
	b.keepLagTimeline("revocation-100k", seeded, lags, 250)
	f := figure{Name: "revocation_lag_100k", Unit: unitMS, Sum: summarize(lags), Target: 250, Emulator: b.motoRTT,
		What: fmt.Sprintf("expiry → RemoveUserFromGroup done at the proxy; %d active grants expiring over %v, two replicas, one SIGKILLed and restarted %v after the first expiry, %d engineers, Slack's limits enforced (memberships left out of moto; see cmd/jitbench)", n, window, time.Duration(b.cfg.restartAt*float64(window)).Round(time.Second), scaleEngineers)}
	if missing > 0 {
		f.Note = fmt.Sprintf("%d grants not revoked when the bench gave up waiting; counted as revoked then", missing)
	}
	b.addPace(&f, t0, lags, done)
	f.addExtra("required_revocations_per_second", float64(n)/window.Seconds())
	f.addExtra("rss_max_mib", summarize(rss).Max)
	f.addExtra("seeding_done_after_first_expiry_s", seededLate.Seconds())
	shares.addTo(&f)
	b.add(f)
	return nil
}

// forgetSlack makes the Slack fake and its timing proxy forget what they
// recorded.
func (b *bench) forgetSlack() {
	b.st.slack.Forget()
	b.st.web.Reset()
}

// forgetSlackEvery calls forgetSlack every d until stop is called.
func (b *bench) forgetSlackEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var forgetting sync.WaitGroup
	forgetting.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				b.forgetSlack()
			}
		}
	})
	return func() { close(done); forgetting.Wait() }
}

// startReplica starts a second jitbot on the same store, Slack and AWS,
// with its logs under name in the bot's directory.
func (b *bench) startReplica(name string) (*bot, error) {
	port, err := testenv.LoopbackPort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.st.bot.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	second := &bot{bin: b.st.bot.bin, dir: dir, slack: b.st.slack, env: b.st.botEnv(b.catalogPath, b.st.redis.URL(), port, b.extraEnv...)}
	if err := second.start(); err != nil {
		return nil, fmt.Errorf("start a second replica: %w", err)
	}
	return second, nil
}
