package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

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
