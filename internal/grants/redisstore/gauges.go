package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

// The gauges (/metrics) are read from sets the write script keeps, not by
// reading every open record: a scrape took 196 ms at 10,000 records. Each
// write makes the record's membership of every gauge set exactly what its
// state says (it is removed from the others), so a set that went wrong,
// say during an upgrade, is right again at the record's next write.

// gaugeStates are the states counted, each in a set {p}:gauge:<state>, and
// gaugeRetrying the revocations whose last attempt failed.
var gaugeStates = []grants.State{grants.Pending, grants.Scheduled, grants.Granting, grants.Active, grants.Revoking}

const gaugeRetrying = "retrying"

func (s *Store) gaugeKey(name string) string      { return s.tag + ":gauge:" + name }
func (s *Store) activeRoleKey(role string) string { return s.tag + ":gauge:active-role:" + role }
func (s *Store) gaugeRoles() string               { return s.tag + ":gauge:roles" }
func (s *Store) gaugeExpiring() string            { return s.tag + ":gauge:expiring" }
func (s *Store) gaugeStarting() string            { return s.tag + ":gauge:starting" }

// gaugeKeys are the keys of the gauge sets, in the order write.lua takes
// them after its first eight: the state sets, the retrying set, r's
// role's active set, the set of roles, and the two time-ordered sets.
func (s *Store) gaugeKeys(r *grants.Request) []string {
	keys := make([]string, 0, len(gaugeStates)+5)
	for _, st := range gaugeStates {
		keys = append(keys, s.gaugeKey(string(st)))
	}
	return append(keys, s.gaugeKey(gaugeRetrying), s.activeRoleKey(r.Role), s.gaugeRoles(), s.gaugeExpiring(), s.gaugeStarting())
}

// gaugeArgs says, in the order of gaugeKeys, which sets r belongs in ("1"
// or "0"; for the role set, whether to name its role), then its score in
// the expiring and starting sets ("" for none), when it is open.
func gaugeArgs(r *grants.Request, open bool) []any {
	args := make([]any, 0, len(gaugeStates)+5)
	for _, st := range gaugeStates {
		args = append(args, flag(open && r.State == st))
	}
	args = append(args, flag(open && r.State == grants.Revoking && r.Attempts > 0), flag(open && r.State == grants.Active), flag(open))
	expiring, starting := "", ""
	if open && (r.State == grants.Active || r.State == grants.Revoking) && !r.ExpiresAt.IsZero() {
		expiring = strconv.FormatInt(r.ExpiresAt.UnixMilli(), 10)
	}
	if open && r.State == grants.Scheduled && !r.Start.IsZero() {
		starting = strconv.FormatInt(r.Start.UnixMilli(), 10)
	}
	return append(args, expiring, starting)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Gauges reads the gauge sets: two round trips, whatever the number of
// open records.
func (s *Store) Gauges(ctx context.Context) (grants.Gauges, error) {
	roles, err := s.client.SMembers(ctx, s.gaugeRoles()).Result()
	if err != nil {
		return grants.Gauges{}, fmt.Errorf("read the gauge roles: %w", err)
	}
	pipe := s.client.Pipeline()
	states := make([]*redis.IntCmd, len(gaugeStates))
	for i, st := range gaugeStates {
		states[i] = pipe.SCard(ctx, s.gaugeKey(string(st)))
	}
	retrying := pipe.SCard(ctx, s.gaugeKey(gaugeRetrying))
	active := make([]*redis.IntCmd, len(roles))
	for i, role := range roles {
		active[i] = pipe.SCard(ctx, s.activeRoleKey(role))
	}
	expiring := pipe.ZRangeWithScores(ctx, s.gaugeExpiring(), 0, 0)
	starting := pipe.ZRangeWithScores(ctx, s.gaugeStarting(), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return grants.Gauges{}, fmt.Errorf("read the gauges: %w", err)
	}
	g := grants.Gauges{ByState: map[grants.State]int{}, ActiveByRole: map[string]int{}, Retrying: int(retrying.Val())}
	for i, st := range gaugeStates {
		g.ByState[st] = int(states[i].Val())
	}
	for i, role := range roles {
		g.ActiveByRole[role] = int(active[i].Val())
	}
	g.EarliestExpiry = earliest(expiring.Val())
	g.EarliestStart = earliest(starting.Val())
	return g, nil
}

func earliest(zs []redis.Z) time.Time {
	if len(zs) == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(zs[0].Score))
}

// reindexGauges queues on pipe what write.lua does to the gauge sets for
// the open record r, for Reindex.
func (s *Store) reindexGauges(ctx context.Context, pipe redis.Pipeliner, r *grants.Request) {
	keys, args := s.gaugeKeys(r), gaugeArgs(r, true)
	for i := range len(gaugeStates) + 2 {
		if args[i] == "1" {
			pipe.SAdd(ctx, keys[i], string(r.ID))
		} else {
			pipe.SRem(ctx, keys[i], string(r.ID))
		}
	}
	pipe.SAdd(ctx, s.gaugeRoles(), r.Role)
	for i, key := range keys[len(keys)-2:] {
		if score := args[len(args)-2+i].(string); score != "" {
			ms, _ := strconv.ParseInt(score, 10, 64)
			pipe.ZAdd(ctx, key, redis.Z{Score: float64(ms), Member: string(r.ID)})
		} else {
			pipe.ZRem(ctx, key, string(r.ID))
		}
	}
}
