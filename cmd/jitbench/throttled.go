package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// The throttled burst: IAM throttles an account that calls it too fast,
// so jitbot limits itself (JIT_AWS_RATE_LIMITS) and retries a throttle.
// For this phase only, the bot runs with its IAM limit at throttledRate
// and the proxy throttles IAM above throttledCeiling, as IAM does; the
// other phases run with jitbot's limits off, so that they measure jitbot
// against moto. The burst's grants expire in the same second.
const (
	throttledRate    = 100 // jitbot's own IAM limit, calls per second
	throttledCeiling = 120 // where the proxy starts answering Throttling
)

// aws limits off for the other phases: they measure jitbot's own work.
const unlimitedAWS = "JIT_AWS_RATE_LIMITS=iam=off,sts=off,sso-admin=off,identitystore=off,organizations=off"

func (b *bench) iamThrottledBurst(ctx context.Context) error {
	n := b.cfg.throttledBurst
	if err := b.restartWithEnv(fmt.Sprintf("JIT_AWS_RATE_LIMITS=iam=%d", throttledRate)); err != nil {
		return err
	}
	defer b.restartWithEnv(unlimitedAWS)
	b.st.aws.Throttle("iam", throttledCeiling, throttledCeiling/10)
	defer b.st.aws.Throttle("iam", 0, 0)
	failedBefore, err := b.scrapeSum(ctx, "jitbot_revoke_failures_total")
	if err != nil {
		return err
	}
	at, seeded, err := b.seedExpiring(ctx, "throttled burst", b.iamGrants(), n, func(t0 time.Time, _ int) time.Time { return t0 })
	if err != nil {
		return err
	}
	b.logf("throttled burst: %d grants expire at %s; jitbot allows itself %d IAM calls a second, the proxy throttles above %d", n, at.Format(time.TimeOnly), throttledRate, throttledCeiling)
	done := b.waitRevoked(ctx, b.iamGrants(), seeded)
	lags, missing := lagsOf(seeded, done)
	failedAfter, err := b.scrapeSum(ctx, "jitbot_revoke_failures_total")
	if err != nil {
		return err
	}
	failed, told := int(failedAfter-failedBefore), 0
	for _, g := range seeded {
		if r, err := b.st.store.Get(ctx, g.id); err != nil || r.State != grants.Revoked {
			failed++
		}
	}
	for _, u := range b.requesters {
		for _, m := range b.st.slack.DMs(u.ID) {
			text := strings.ToLower(m.Text + string(m.Blocks))
			if strings.Contains(text, "throttl") || strings.Contains(text, "rate exceeded") {
				told++
			}
		}
	}
	s := summarize(lags)
	ideal := float64(n) / throttledRate * 1000
	f := figure{Name: "iam_throttled_burst", Unit: unitMS, Sum: s, Target: ideal * 1.2, TargetOnMax: true, Emulator: b.motoRTT,
		What: fmt.Sprintf("%d grants expiring in the same second, jitbot's IAM limit %d/s, the proxy throttling IAM above %d/s: expiry → RemoveUserFromGroup done (max = drain; target: the limit's own drain, %.0f ms, +20%%)", n, throttledRate, throttledCeiling, ideal)}
	f.Extra = map[string]float64{
		"revocations_per_second": float64(n) / (s.Max / 1000),
		"throttled_at_the_proxy": float64(b.st.aws.Throttled("")),
		"failed_revocations":     float64(failed),
		"dms_naming_throttling":  float64(told),
	}
	if missing > 0 || failed > 0 || told > 0 {
		f.Note = fmt.Sprintf("%d not revoked when the bench gave up, %d revocation attempts failed, %d DMs told someone of throttling", missing, failed, told)
		b.findings = append(b.findings, "iam_throttled_burst: "+f.Note)
	}
	b.add(f)
	return nil
}

// restartWithEnv restarts the bot with env added to (or replacing the same
// variables of) its environment.
func (b *bench) restartWithEnv(env ...string) error {
	bot := b.st.bot
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		bot.env = slices.DeleteFunc(bot.env, func(v string) bool { return strings.HasPrefix(v, name+"=") })
		bot.env = append(bot.env, e)
	}
	bot.stop()
	return bot.start()
}

// scrapeSum adds up the samples of the metric name on the bot's /metrics.
func (b *bench) scrapeSum(ctx context.Context, name string) (float64, error) {
	body, err := b.scrape(ctx)
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			sum += v
		}
	}
	return sum, nil
}
