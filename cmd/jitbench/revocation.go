package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

// seedLead is how long before the first seeded expiry the records are
// written. Seeded records do not wake the scheduler as a grant made by
// the bot does, so the lead must exceed its longest sleep (MaxIdle, 10 s).
const seedLead = 12 * time.Second

// seedPerSecond is the slowest seeding seen: 100,000 records in about 30 s
// on a busy machine. Each phase's first expiry is also far enough away
// for its records to be written by then at this rate: in a 13:24 run the
// seeding of revocation_lag_100k ended 18 s after the first expiry, the
// bot revoked while the bench still wrote, and the grants of those
// seconds were late for the bench's sake (p99 609 ms, where the run
// before, seeded in time, had 26 ms).
const seedPerSecond = 2500

// revocationLag is docs/design.md §6's first figure: grants expiring evenly over a
// window, with the bot killed (SIGKILL) and restarted once during it. The
// lag of a grant is the end of its RemoveUserFromGroup at the proxy minus
// its expiry.
func (b *bench) revocationLag(ctx context.Context) error {
	n, window := b.cfg.grants, b.cfg.window
	t0, grantsSeeded, err := b.seedExpiring(ctx, "revocation lag", b.iamGrants(), n, spread(n, window))
	if err != nil {
		return err
	}

	// The known suspect: the overlap check of every aws_iam_group
	// revocation reads every open record (Store.Open). Time one read of
	// what the bot now finds open.
	var opens []float64
	for range 10 {
		start := time.Now()
		open, err := b.st.store.Open(ctx)
		if err != nil {
			return err
		}
		opens = append(opens, ms(time.Since(start)))
		if len(open) < n {
			return fmt.Errorf("Store.Open returned %d records, fewer than the %d seeded", len(open), n)
		}
	}
	b.add(figure{Name: "store_open", Unit: unitMS, Sum: summarize(opens),
		What: fmt.Sprintf("one redisstore Store.Open with %d open records, from the bench, before the expiries start; the bot runs one per aws_iam_group revocation (Service.overlapping)", n)})

	mem, cpu := b.sampleMemory(), b.sampleCPU()
	b.profileGoroutines("revocation-mid", time.Until(t0.Add(window/2)))
	var restart time.Duration
	var restartErr error
	var restarted sync.WaitGroup
	if b.cfg.restart {
		restarted.Go(func() {
			time.Sleep(time.Until(t0.Add(b.restartOffset())))
			b.logf("revocation lag: SIGKILL and restart of jitbot at %s", time.Now().Format("15:04:05.000"))
			b.st.bot.kill()
			start := time.Now()
			restartErr = b.st.bot.start()
			restart = time.Since(start)
			b.profileCPU("revocation", time.Until(t0.Add(window))+5*time.Second)
		})
	} else {
		b.profileCPU("revocation", time.Until(t0.Add(window))+5*time.Second)
	}
	done := b.waitRevoked(ctx, b.iamGrants(), grantsSeeded)
	restarted.Wait()
	rss, shares := mem.stop(), cpu.stop()
	b.keepTimeline(cpu, "revocation")
	if restartErr != nil {
		return fmt.Errorf("restart during the run: %w", restartErr)
	}
	b.profileHeap("revocation-end")
	b.logf("revocation lag: CPU %s", shares)

	lags, missing := lagsOf(grantsSeeded, done)
	f := figure{Name: "revocation_lag", Unit: unitMS, Sum: summarize(lags), Target: 250, Emulator: b.motoRTT,
		What: fmt.Sprintf("expiry → RemoveUserFromGroup done at the proxy; %d active grants expiring over %v", n, window)}
	if b.cfg.restart {
		f.What += fmt.Sprintf(", jitbot SIGKILLed and restarted %v after the first expiry", b.restartOffset())
		f.Extra = map[string]float64{"restart_to_connected_ms": ms(restart)}
	}
	if missing > 0 {
		f.Note = fmt.Sprintf("%d grants not revoked when the bench gave up waiting; counted as revoked then", missing)
	}
	b.addPace(&f, t0, lags, done)
	shares.addTo(&f)
	b.add(f)
	b.add(figure{Name: "rss_10k_grants", Unit: unitMiB, Sum: summarize(rss), Target: 100, TargetOnMax: true,
		What: fmt.Sprintf("VmRSS of jitbot sampled every 250 ms while %d grants were active and expiring (max = peak seen)", n)})
	return nil
}

// restartOffset is when, from the first expiry, the bot is killed and
// restarted.
func (b *bench) restartOffset() time.Duration {
	return time.Duration(b.cfg.restartAt * float64(b.cfg.window)).Round(time.Millisecond)
}

// burst is 1,000 grants expiring in the same second: how long the bot
// takes to drain them, and how many AWS calls it has in flight at once.
func (b *bench) burst(ctx context.Context) error {
	n := b.cfg.burst
	at, grantsSeeded, err := b.seedExpiring(ctx, "burst", b.iamGrants(), n, func(t0 time.Time, _ int) time.Time { return t0 })
	if err != nil {
		return err
	}
	b.logf("burst: %d grants expire at %s", n, at.Format(time.TimeOnly))
	b.profileCPU("burst", time.Until(at)+10*time.Second)
	done := b.waitRevoked(ctx, b.iamGrants(), grantsSeeded)
	lags, missing := lagsOf(grantsSeeded, done)
	var removes, all []interval
	for _, c := range b.st.aws.Calls("") {
		iv := interval{c.Start, c.End}
		all = append(all, iv)
		if c.Action == "RemoveUserFromGroup" {
			removes = append(removes, iv)
		}
	}
	s := summarize(lags)
	f := figure{Name: "burst_revocation_lag", Unit: unitMS, Sum: s, Emulator: b.motoRTT,
		What: fmt.Sprintf("%d grants expiring in the same second: expiry → RemoveUserFromGroup done (max = drain time)", n)}
	f.Extra = map[string]float64{
		"drain_ms":                  s.Max,
		"max_in_flight_aws":         float64(maxInFlight(all)),
		"max_in_flight_remove":      float64(maxInFlight(removes)),
		"revocations_per_second":    float64(n) / (s.Max / 1000),
		"emulator_serial_drain_ms":  float64(n) * b.motoRTT.P50,
		"remove_calls_at_the_proxy": float64(len(removes)),
		"aws_busy_fraction":         b.awsBusy(at, at.Add(time.Duration(s.Max*float64(time.Millisecond)))),
	}
	if missing > 0 {
		f.Note = fmt.Sprintf("%d grants not revoked when the bench gave up waiting; counted as revoked then", missing)
	}
	b.add(f)
	return nil
}

// awsBusy is the fraction of [from, to] in which at least one AWS call
// was in flight at the proxy. Near 1, the emulator is the bottleneck:
// moto answers one call at a time.
func (b *bench) awsBusy(from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	var ivs []interval
	for _, c := range b.st.aws.Calls("") {
		ivs = append(ivs, interval{c.Start, c.End})
	}
	return float64(covered(ivs, from, to)) / float64(to.Sub(from))
}

// addPace adds to f how many grants were revoked more than a second
// late and, from the first expiry at t0 to the last revocation in done,
// how fast revocations went and how busy AWS was.
func (b *bench) addPace(f *figure, t0 time.Time, lags []float64, done map[string]time.Time) {
	late := 0
	for _, l := range lags {
		if l > 1000 {
			late++
		}
	}
	f.addExtra("grants_later_than_1s", float64(late))
	var last time.Time
	for _, end := range done {
		if end.After(last) {
			last = end
		}
	}
	if !last.IsZero() {
		f.addExtra("revocations_per_second", float64(len(done))/last.Sub(t0).Seconds())
		f.addExtra("aws_busy_fraction", b.awsBusy(t0, last))
	}
}

// spread has n grants expire evenly over window from t0.
func spread(n int, window time.Duration) func(t0 time.Time, k int) time.Time {
	return func(t0 time.Time, k int) time.Time {
		return t0.Add(time.Duration(int64(window) * int64(k) / int64(n))).Truncate(time.Millisecond)
	}
}

// grantKind is the grants of a phase: one backend's template record, how
// their access is given in moto, and how their revocation shows at the
// proxy.
type grantKind struct {
	access string // what add gives, for the log
	tmpl   *grants.Request
	// add gives pairs [0, n) their access, straight in moto, and returns
	// the AWS request ID of each.
	add  func(ctx context.Context, n int) ([]string, error)
	spec func(k int) grantSpec
	// revocation is the call that takes the access away; revoked is the
	// key of the grant a recorded call of it revoked, and whether it did.
	revocation string
	revoked    func(c testenv.Call) (key string, ok bool)
}

// iamGrants are aws_iam_group grants, one per (group, user) pair. A 404
// (NoSuchEntity: the user is no longer a member) is a revocation too, as
// it is to the bot: a call cut off by the SIGKILL may have removed the
// member in moto while the proxy recorded it as failed, and the bot's
// retry after the restart then confirms the removal.
func (b *bench) iamGrants() grantKind {
	return grantKind{
		access: "IAM memberships", tmpl: b.template, add: b.st.addMembers,
		spec: func(k int) grantSpec {
			gi, ui := b.st.lay.pair(k)
			return grantSpec{role: groupRole(gi), requester: ui, principal: iamUser(ui), target: groupName(gi), key: groupName(gi) + "/" + iamUser(ui)}
		},
		revocation: "RemoveUserFromGroup",
		revoked: func(c testenv.Call) (string, bool) {
			return c.Params.Get("GroupName") + "/" + c.Params.Get("UserName"), c.Status == http.StatusOK || c.Status == http.StatusNotFound
		},
	}
}

// seedExpiring gives n pairs of kind their access in moto and seeds their
// grants, pair k expiring at expiry(t0, k), where t0 is the whole second
// seedLead from now plus the time n records take to seed (seedPerSecond).
// The AWS proxy's record starts afresh.
func (b *bench) seedExpiring(ctx context.Context, phase string, kind grantKind, n int, expiry func(t0 time.Time, k int) time.Time) (time.Time, []seeded, error) {
	return b.seedExpiringFor(ctx, phase, kind, b.requesters, n, expiry)
}

// seedExpiringFor is seedExpiring with the grants of requesters.
func (b *bench) seedExpiringFor(ctx context.Context, phase string, kind grantKind, requesters []rules.User, n int, expiry func(t0 time.Time, k int) time.Time) (time.Time, []seeded, error) {
	b.logf("%s: adding %d %s in moto", phase, n, kind.access)
	awsIDs, err := kind.add(ctx, n)
	if err != nil {
		return time.Time{}, nil, err
	}
	lead := seedLead + time.Duration(n)*time.Second/seedPerSecond
	t0 := time.Now().Add(lead).Truncate(time.Second)
	expires := make([]time.Time, n)
	for k := range n {
		expires[k] = expiry(t0, k)
	}
	b.st.aws.Reset()
	b.logf("%s: seeding %d grants expiring from %s to %s", phase, n, expires[0].Format(time.TimeOnly), expires[n-1].Format(time.TimeOnly))
	gs, err := b.st.seed(ctx, kind, b.cat, requesters, expires, awsIDs)
	return t0, gs, err
}

// waitRevoked waits until every grant has a successful revocation call of
// its kind at the proxy, and returns the end of the first one per grant.
// It gives up when no grant has been revoked for stallAfter, or after
// maxWait.
func (b *bench) waitRevoked(ctx context.Context, kind grantKind, gs []seeded) map[string]time.Time {
	const stallAfter, maxWait = 2 * time.Minute, 30 * time.Minute
	want := make(map[string]bool, len(gs))
	for _, g := range gs {
		want[g.key] = true
	}
	done := map[string]time.Time{}
	seen := 0
	start, progress := time.Now(), time.Now()
	for ctx.Err() == nil && len(done) < len(want) {
		// Only the calls since the last look: copying the whole record
		// five times a second, 100,000 calls long by the end of
		// revocation_lag_100k, took the CPU the figure measures.
		calls := b.st.aws.CallsAfter(seen)
		seen += len(calls)
		for _, c := range calls {
			if c.Action != kind.revocation {
				continue
			}
			if key, ok := kind.revoked(c); ok && want[key] {
				if _, ok := done[key]; !ok {
					done[key] = c.End
					progress = time.Now()
				}
			}
		}
		if time.Since(progress) > stallAfter || time.Since(start) > maxWait {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return done
}

// lagsOf is each grant's lag in ms; a grant not revoked counts as
// revoked now.
func lagsOf(gs []seeded, done map[string]time.Time) (lags []float64, missing int) {
	now := time.Now()
	for _, g := range gs {
		end, ok := done[g.key]
		if !ok {
			missing++
			end = now
		}
		lags = append(lags, ms(end.Sub(g.expires)))
	}
	return lags, missing
}

// memorySampler reads the bot's VmRSS every 250 ms, whichever process is
// the bot at the time.
type memorySampler struct {
	stopc   chan struct{}
	done    chan struct{}
	samples []float64 // MiB
}

func (b *bench) sampleMemory() *memorySampler {
	m := &memorySampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if pid := b.st.bot.pid(); pid != 0 {
				if rss, _, err := memory(pid); err == nil {
					m.samples = append(m.samples, float64(rss)/1024)
				}
			}
			select {
			case <-m.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memorySampler) stop() []float64 {
	close(m.stopc)
	<-m.done
	return m.samples
}
