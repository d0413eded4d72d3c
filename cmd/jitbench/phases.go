package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// seedLead is how long before the first seeded expiry the records are
// written. Seeded records do not wake the scheduler as a grant made by
// the bot does, so the lead must exceed its longest sleep (MaxIdle, 10 s).
const seedLead = 12 * time.Second

// emulatorRTTs measures the round trip of each emulator on the path the
// bot uses (moto through the recording proxy, the Slack fake through the
// timing proxy, Redis directly), so figures can be stated relative to it.
func (b *bench) emulatorRTTs(ctx context.Context) error {
	n := b.cfg.rttSamples
	viaProxy := iam.NewFromConfig(testenv.StaticAWSConfig(b.st.aws.URL()))
	in := &iam.AddUserToGroupInput{GroupName: aws.String(groupName(0)), UserName: aws.String(iamUser(0))}
	out := &iam.RemoveUserFromGroupInput{GroupName: in.GroupName, UserName: in.UserName}
	var add, remove []float64
	for range n {
		t := time.Now()
		if _, err := viaProxy.AddUserToGroup(ctx, in); err != nil {
			return fmt.Errorf("moto round trip: %w", err)
		}
		add = append(add, ms(time.Since(t)))
		t = time.Now()
		if _, err := viaProxy.RemoveUserFromGroup(ctx, out); err != nil {
			return fmt.Errorf("moto round trip: %w", err)
		}
		remove = append(remove, ms(time.Since(t)))
	}
	b.st.aws.Reset()
	api := slackClient(b.st.web.URL()+"/api/", b.st.slack.BotToken())
	var web []float64
	for range n {
		t := time.Now()
		if _, err := api.GetUserInfoContext(ctx, userID(0)); err != nil {
			return fmt.Errorf("Slack fake round trip: %w", err)
		}
		web = append(web, ms(time.Since(t)))
	}
	b.st.web.Reset()
	var ping []float64
	for range n {
		t := time.Now()
		if err := b.st.store.Ping(ctx); err != nil {
			return fmt.Errorf("redis round trip: %w", err)
		}
		ping = append(ping, ms(time.Since(t)))
	}
	b.motoRTT = summarize(remove)
	b.slackRTT = summarize(web)
	b.add(figure{Name: "moto_rtt", What: "moto RemoveUserFromGroup round trip through the recording proxy, idle (the AWS emulator's floor)", Unit: unitMS, Sum: b.motoRTT})
	b.add(figure{Name: "moto_add_rtt", What: "moto AddUserToGroup round trip through the recording proxy, idle", Unit: unitMS, Sum: summarize(add)})
	b.add(figure{Name: "slack_rtt", What: "Slack fake users.info round trip through the timing proxy, idle", Unit: unitMS, Sum: b.slackRTT})
	b.add(figure{Name: "redis_rtt", What: "redis-server PING round trip, idle", Unit: unitMS, Sum: summarize(ping)})
	return nil
}

// revocationLag is docs/design.md §6's first figure: grants expiring evenly over a
// window, with the bot killed (SIGKILL) and restarted once during it. The
// lag of a grant is the end of its RemoveUserFromGroup at the proxy minus
// its expiry.
func (b *bench) revocationLag(ctx context.Context) error {
	n, window := b.cfg.grants, b.cfg.window
	t0, grantsSeeded, err := b.seedExpiring(ctx, "revocation lag", n, func(t0 time.Time, k int) time.Time {
		return t0.Add(time.Duration(int64(window) * int64(k) / int64(n))).Truncate(time.Millisecond)
	})
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

	mem := b.sampleMemory()
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
	done := b.waitRevoked(ctx, grantsSeeded)
	restarted.Wait()
	rss := mem.stop()
	if restartErr != nil {
		return fmt.Errorf("restart during the run: %w", restartErr)
	}
	b.profileHeap("revocation-end")

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
	late := 0
	var last time.Time
	for _, g := range grantsSeeded {
		if end, ok := done[g.group+"/"+g.user]; ok && end.After(last) {
			last = end
		}
	}
	for _, l := range lags {
		if l > 1000 {
			late++
		}
	}
	f.addExtra("grants_later_than_1s", float64(late))
	if !last.IsZero() {
		f.addExtra("revocations_per_second", float64(len(done))/last.Sub(t0).Seconds())
		f.addExtra("aws_busy_fraction", b.awsBusy(t0, last))
	}
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
	at, grantsSeeded, err := b.seedExpiring(ctx, "burst", n, func(t0 time.Time, _ int) time.Time { return t0 })
	if err != nil {
		return err
	}
	b.logf("burst: %d grants expire at %s", n, at.Format(time.TimeOnly))
	b.profileCPU("burst", time.Until(at)+10*time.Second)
	done := b.waitRevoked(ctx, grantsSeeded)
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

// seedExpiring puts the users of n pairs into their groups in moto and
// seeds their grants, pair k expiring at expiry(t0, k), where t0 is the
// whole second seedLead from now. The AWS proxy's record starts afresh.
func (b *bench) seedExpiring(ctx context.Context, phase string, n int, expiry func(t0 time.Time, k int) time.Time) (time.Time, []seeded, error) {
	b.logf("%s: adding %d IAM memberships in moto", phase, n)
	awsIDs, err := b.st.addMembers(ctx, n)
	if err != nil {
		return time.Time{}, nil, err
	}
	t0 := time.Now().Add(seedLead).Truncate(time.Second)
	expires := make([]time.Time, n)
	for k := range n {
		expires[k] = expiry(t0, k)
	}
	b.st.aws.Reset()
	b.logf("%s: seeding %d grants expiring from %s to %s", phase, n, expires[0].Format(time.TimeOnly), expires[n-1].Format(time.TimeOnly))
	gs, err := b.st.seed(ctx, b.template, b.cat, b.requesters, expires, awsIDs)
	return t0, gs, err
}

// waitRevoked waits until every grant has a successful RemoveUserFromGroup
// at the proxy, and returns the end of the first successful call per
// grant. A 404 (NoSuchEntity: the user is no longer a member) is success
// too, as it is to the bot: a call cut off by the SIGKILL may have removed
// the member in moto while the proxy recorded it as failed, and the bot's
// retry after the restart then confirms the removal. It gives up when no
// grant has been revoked for stallAfter, or after maxWait.
func (b *bench) waitRevoked(ctx context.Context, gs []seeded) map[string]time.Time {
	const stallAfter, maxWait = 2 * time.Minute, 30 * time.Minute
	want := make(map[string]bool, len(gs))
	for _, g := range gs {
		want[g.group+"/"+g.user] = true
	}
	done := map[string]time.Time{}
	seen := 0
	start, progress := time.Now(), time.Now()
	for ctx.Err() == nil && len(done) < len(want) {
		calls := b.st.aws.Calls("RemoveUserFromGroup")
		for _, c := range calls[seen:] {
			key := c.Params.Get("GroupName") + "/" + c.Params.Get("UserName")
			if (c.Status == http.StatusOK || c.Status == http.StatusNotFound) && want[key] {
				if _, ok := done[key]; !ok {
					done[key] = c.End
					progress = time.Now()
				}
			}
		}
		seen = len(calls)
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
		end, ok := done[g.group+"/"+g.user]
		if !ok {
			missing++
			end = now
		}
		lags = append(lags, ms(end.Sub(g.expires)))
	}
	return lags, missing
}

// waitFor is slackfake.Wait that also gives up when ctx is done.
func waitFor(ctx context.Context, what string, timeout time.Duration, cond func() bool) error {
	err := slackfake.Wait(what, timeout, func() bool { return ctx.Err() != nil || cond() })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
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

// rolesCommand is /jit roles over the generated catalog, one at a time:
// the time from the envelope sent to its ack, and to the answer posted to
// the response URL.
func (b *bench) rolesCommand(ctx context.Context) error {
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.st.slack.Forget()
	b.st.web.Reset()
	b.profileCPU("roles", 10*time.Second)
	var acks, answers []float64
	slackCalls := 0
	for i := range b.cfg.rolesRuns {
		if err := ctx.Err(); err != nil {
			return err
		}
		env, err := b.st.slack.SendSlashCommand(userID(i%b.st.lay.users), benchChannel, "roles")
		if err != nil {
			return err
		}
		at, err := b.answer(ctx, env, 10*time.Second)
		if err != nil {
			return fmt.Errorf("/jit roles: %w", err)
		}
		if err := b.rolesListed(userID(i % b.st.lay.users)); err != nil {
			return err
		}
		acks = append(acks, ms(env.AckDelay()))
		answers = append(answers, ms(at.Sub(env.SentAt())))
		for _, c := range b.st.web.Calls() {
			if !c.start.Before(env.SentAt()) && c.start.Before(at) {
				slackCalls++
			}
		}
		b.st.web.Reset()
	}
	b.add(figure{Name: "roles_answer", Unit: unitMS, Sum: summarize(answers), Target: 5, Emulator: b.slackRTT,
		What: fmt.Sprintf("/jit roles over a %d-role catalog: envelope sent → answer posted to the response URL (%d Slack API calls in %d runs)", b.st.lay.roles, slackCalls, b.cfg.rolesRuns)})
	b.add(figure{Name: "roles_ack", Unit: unitMS, Sum: summarize(acks), Target: 5,
		What: fmt.Sprintf("/jit roles over a %d-role catalog: envelope sent → ack received", b.st.lay.roles)})
	return nil
}

// answer waits for the bot's post to the response URL of env and returns
// when the fake received it.
// rolesListed checks that the last answer to user is the list of roles,
// so that the bench never times an error message.
func (b *bench) rolesListed(user string) error {
	e := b.st.slack.Ephemerals(user)
	if len(e) == 0 {
		return fmt.Errorf("/jit roles: no answer to %s", user)
	}
	if last := e[len(e)-1]; !strings.Contains(string(last.Blocks), "*Roles you can request* (") {
		return fmt.Errorf("/jit roles: %s was answered %.300q, not with the roles", user, last.Text+string(last.Blocks))
	}
	return nil
}

func (b *bench) answer(ctx context.Context, env slackfake.Envelope, timeout time.Duration) (time.Time, error) {
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal(env.Payload, &p); err != nil || p.ResponseURL == "" {
		return time.Time{}, fmt.Errorf("envelope %s has no response_url", env.ID)
	}
	var at time.Time
	err := waitFor(ctx, "an answer to envelope "+env.ID, timeout, func() bool {
		for _, c := range b.st.slack.Calls("response_url") {
			if c.Params.Get("response_url") == p.ResponseURL {
				at = c.At
				return true
			}
		}
		return false
	})
	return at, err
}

// approveToCredentials is Approve click → credentials DM for aws_sts
// grants, one request at a time so that every AWS and Slack call in the
// window belongs to it. The bot's own share is the window minus the time
// covered by AWS calls (at the recording proxy) and Slack Web API calls
// (at the timing proxy).
func (b *bench) approveToCredentials(ctx context.Context) error {
	b.st.slack.Forget()
	b.profileCPU("approvals", 20*time.Second)
	var totals, own, external []float64
	calls := map[string]int{} // "slack chat.update", "aws AssumeRole", …: calls on the path to the DM
	for i := range b.cfg.approvals {
		if err := ctx.Err(); err != nil {
			return err
		}
		requester := userID(i % b.st.lay.users)
		id, dm, err := b.fileRequest(ctx, requester, fmt.Sprintf("request %s 15m bench approval %d: rotating the replica password", stsRole, i))
		if err != nil {
			return err
		}
		if err := b.quiet(ctx, 5*time.Second); err != nil {
			return err
		}
		b.st.web.Reset()
		b.st.aws.Reset()
		env, err := b.st.slack.SendClick(approverID, dm.Channel, dm.TS, "jit_approve", id)
		if err != nil {
			return fmt.Errorf("click Approve on %s: %w", id, err)
		}
		var dmAt time.Time
		err = waitFor(ctx, "the credentials DM of "+id, 15*time.Second, func() bool {
			for _, c := range b.st.web.Calls() {
				if c.creds == id {
					dmAt = c.start
					return true
				}
			}
			return false
		})
		if err != nil {
			return err
		}
		click := env.SentAt()
		var ivs []interval
		for _, c := range b.st.aws.Calls("") {
			if c.Start.Before(dmAt) {
				ivs = append(ivs, interval{c.Start, c.End})
				calls["aws "+c.Action]++
			}
		}
		for _, c := range b.st.web.Calls() {
			if c.start.Before(dmAt) {
				ivs = append(ivs, interval{c.start, c.end})
				calls["slack "+c.method]++
			}
		}
		total := dmAt.Sub(click)
		ext := covered(ivs, click, dmAt)
		totals = append(totals, ms(total))
		external = append(external, ms(ext))
		own = append(own, ms(total-ext))
	}
	n := b.cfg.approvals
	ownSum, totSum, extSum := summarize(own), summarize(totals), summarize(external)
	b.add(figure{Name: "approve_to_credentials_own", Unit: unitMS, Sum: ownSum, Target: 20,
		What: "Approve click → credentials DM sent, minus the time covered by the AWS and Slack calls in between (measured at the two proxies)"})
	tot := figure{Name: "approve_to_credentials_total", Unit: unitMS, Sum: totSum,
		What: "Approve click → credentials DM sent (the chat.postMessage reaching the Slack proxy), all included; calls_* are the calls made before the DM, per approval"}
	for k, v := range calls {
		tot.addExtra("calls_"+strings.ReplaceAll(k, " ", "_"), float64(v)/float64(n))
	}
	tot.addExtra("external_calls_p50_ms", extSum.P50)
	if extSum.P50 > 0 {
		tot.addExtra("total_to_external_ratio_p50", totSum.P50/extSum.P50)
	}
	b.add(tot)
	return nil
}

// fileRequest sends a /jit request as requester and waits for the
// approval DM it causes; it returns the request ID and that DM.
func (b *bench) fileRequest(ctx context.Context, requester, text string) (string, slackfake.Message, error) {
	seen := map[string]bool{}
	for _, m := range b.st.slack.DMs(approverID) {
		seen[m.TS] = true
	}
	if _, err := b.st.slack.SendSlashCommand(requester, benchChannel, text); err != nil {
		return "", slackfake.Message{}, err
	}
	var dm slackfake.Message
	var id string
	err := waitFor(ctx, "the approval DM of /jit "+text, 15*time.Second, func() bool {
		for _, m := range b.st.slack.DMs(approverID) {
			if seen[m.TS] || !strings.Contains(string(m.Blocks), "jit_approve") {
				continue
			}
			if id = requestIDPattern.FindString(string(m.Blocks)); id != "" {
				dm = m
				return true
			}
		}
		return false
	})
	return id, dm, err
}

// quiet waits until neither Slack nor AWS has seen a call for 150 ms, so
// that the next measurement window holds only its own calls.
func (b *bench) quiet(ctx context.Context, timeout time.Duration) error {
	awsQuiet := func() bool {
		calls := b.st.aws.Calls("")
		return len(calls) == 0 || time.Since(calls[len(calls)-1].End) >= 150*time.Millisecond
	}
	return waitFor(ctx, "Slack and AWS to go quiet", timeout, func() bool {
		return b.st.web.quietFor(150*time.Millisecond) && awsQuiet()
	})
}

// lifecycles counts Redis round trips of whole request lifecycles
// (request → approve → grant → expiry → revoke), one at a time, with the
// bot restarted to reach Redis through the round-trip counter.
func (b *bench) lifecycles(ctx context.Context) error {
	counter, err := newTripCounter(b.st.redis.Addr())
	if err != nil {
		return err
	}
	defer counter.Close()
	if err := b.restartWith("redis://" + counter.Addr() + "/0"); err != nil {
		return err
	}
	b.st.slack.Forget()
	statsBefore, err := commandStats(ctx, b.st.store.Client())
	if err != nil {
		return err
	}
	var trips []float64
	for i := range b.cfg.lifecycles {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.quiet(ctx, 10*time.Second); err != nil {
			return err
		}
		before := counter.Trips()
		id, dm, err := b.fileRequest(ctx, userID(0), fmt.Sprintf("request %s 2s bench lifecycle %d: restarting a stuck worker", groupRole(0), i))
		if err != nil {
			return err
		}
		b.st.aws.Reset()
		if _, err := b.st.slack.SendClick(approverID, dm.Channel, dm.TS, "jit_approve", id); err != nil {
			return err
		}
		// Watched at the AWS proxy and in Slack, not in Redis, so that
		// the bench adds no commands of its own to the count.
		err = waitFor(ctx, id+" to be revoked", 30*time.Second, func() bool {
			for _, c := range b.st.aws.Calls("RemoveUserFromGroup") {
				if c.Status == 200 {
					return true
				}
			}
			return false
		})
		if err != nil {
			return err
		}
		if err := b.quiet(ctx, 10*time.Second); err != nil {
			return err
		}
		trips = append(trips, float64(counter.Trips()-before))
	}
	statsAfter, err := commandStats(ctx, b.st.store.Client())
	if err != nil {
		return err
	}
	f := figure{Name: "redis_round_trips_per_lifecycle", Unit: unitCount, Sum: summarize(trips),
		What: "Redis round trips (client writes answered by the server, a pipeline counts once) of one request → approve → grant → expiry → revoke of an aws_iam_group role, Slack writes included, counted at a TCP proxy"}
	f.Extra = map[string]float64{}
	n := float64(b.cfg.lifecycles)
	for cmd, calls := range statsAfter {
		if d := calls - statsBefore[cmd]; d > 0 && cmd != "info" {
			f.Extra["commands_"+cmd] = float64(d) / n
		}
	}
	f.Note = "commands_* are INFO commandstats per lifecycle, which also count the commands that Lua scripts run"
	b.add(f)
	return b.restartWith(b.st.redis.URL())
}

// restartWith stops the bot and starts it again with REDIS_URL=redisURL.
func (b *bench) restartWith(redisURL string) error {
	b.st.bot.stop()
	b.st.bot.env = b.st.botEnv(b.catalogPath, redisURL, b.httpPort, b.extraEnv...)
	return b.st.bot.start()
}

// commandStats reads INFO commandstats: calls per command.
func commandStats(ctx context.Context, rdb redis.UniversalClient) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	out := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls int64
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				fmt.Sscan(v, &calls)
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = calls
	}
	return out, nil
}

// slashBurst sends /jit request commands evenly over a window, as people
// do when an incident starts, and measures each one's ack (from the
// fake's side) and answer.
func (b *bench) slashBurst(ctx context.Context) error {
	n, window := b.cfg.requests, b.cfg.requestWindow
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.st.slack.Forget()
	b.profileCPU("slash-burst", window+5*time.Second)
	envs := make([]slackfake.Envelope, 0, n)
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Until(start.Add(time.Duration(int64(window) * int64(i) / int64(n)))))
		text := fmt.Sprintf("request %s 1h --incident INC-%d bench burst request %d: the database is on fire", stsRole, 4000+i%7, i)
		env, err := b.st.slack.SendSlashCommand(userID(i%b.st.lay.users), benchChannel, text)
		if err != nil {
			return err
		}
		envs = append(envs, env)
	}
	sent := time.Since(start)
	var acks, answers []float64
	unacked := 0
	for _, env := range envs {
		d := env.AckDelay()
		if d <= 0 {
			unacked++
			d = slackfake.AckDeadline
		}
		acks = append(acks, ms(d))
	}
	unanswered := 0
	for _, env := range envs {
		at, err := b.answer(ctx, env, 60*time.Second)
		if err != nil {
			unanswered++
			continue
		}
		answers = append(answers, ms(at.Sub(env.SentAt())))
	}
	ack := figure{Name: "slash_ack", Unit: unitMS, Sum: summarize(acks), Target: 50,
		What: fmt.Sprintf("/jit request acknowledged (envelope sent → ack received, at the Slack fake), %d requests sent over %v", n, sent.Round(time.Millisecond))}
	if unacked > 0 {
		ack.Note = fmt.Sprintf("%d not acknowledged within Slack's 3 s; counted at 3 s", unacked)
	}
	b.add(ack)
	ans := figure{Name: "slash_answer", Unit: unitMS, Sum: summarize(answers),
		What: "the same requests: envelope sent → the requester's answer (request ID, who was asked) posted to the response URL"}
	if unanswered > 0 {
		ans.Note = fmt.Sprintf("%d not answered within 60 s", unanswered)
	}
	b.add(ans)
	return nil
}
