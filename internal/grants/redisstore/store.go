// Package redisstore implements grants.Store on Redis through go-redis's
// UniversalClient, so standalone, Sentinel and Cluster deployments all
// work, and over an in-process miniredis when no Redis is configured.
//
// Layout, every key under one hash tag so the Lua scripts work on Cluster:
//
//	{<prefix>}:req:<id>    HASH  v = version (for compare-and-swap), d = record JSON
//	{<prefix>}:deadlines   ZSET  pending requests, score = unix ms of the deadline
//	{<prefix>}:expiries    ZSET  granted access, score = unix ms of expiry, retry or cleanup
//	{<prefix>}:open        SET   IDs of records that are not finished
//	{<prefix>}:holds:<h>   SET   IDs of records holding h (grants.HoldOf), e.g. one IAM
//	                             user's membership of one group
//	{<prefix>}:holds-indexed STRING  when the holds sets were last rebuilt from every open record
//	{<prefix>}:refs:<id>   HASH  where the request's Slack messages are (see refs.go)
//	{<prefix>}:seen:<key>  STRING  Slack envelopes already handled, for 10 minutes
//	{<prefix>}:limit:<key> ZSET  uses of a sliding-window limit (break-glass per role and user)
//
// A record is finished when its state is terminal and nothing is scheduled
// for it; it then leaves the open set and both queues and expires after
// Options.Retention.
package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

// Defaults for Options.
const (
	DefaultPrefix    = "jitbot"
	DefaultRetention = 30 * 24 * time.Hour
)

// Update gives up with grants.ErrConflict after this many lost races. Each
// retry waits a random time up to a cap that doubles, so 50 writers racing
// for one record all get through well within these tries.
const (
	updateTries      = 50
	updateBackoffMin = time.Millisecond
	updateBackoffMax = 64 * time.Millisecond
)

// openBatch is how many records Open fetches per round trip.
const openBatch = 500

var (
	//go:embed write.lua
	writeLua    string
	writeScript = redis.NewScript(writeLua)

	//go:embed claim.lua
	claimLua    string
	claimScript = redis.NewScript(claimLua)
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Prefix names the key space, so several bots (or tests) can share one
	// Redis. It must not contain '{' or '}': it becomes the hash tag.
	// Default "jitbot".
	Prefix string
	// Retention is how long a finished record is kept for `/jit list`,
	// audits and duplicate detection. Default 30 days.
	Retention time.Duration
}

// Store is a grants.Store on Redis. It is safe for concurrent use by many
// goroutines and many processes.
type Store struct {
	client    redis.UniversalClient
	retention time.Duration

	tag       string // "{prefix}"
	open      string
	deadlines string
	expiries  string

	// sentinel: the deployment promises a replica, so Sync requires one.
	// embedded: there is no replica to wait for.
	sentinel, embedded bool
}

var _ grants.Store = (*Store)(nil)

// New returns a Store that uses client. It panics if opts.Prefix contains a
// brace, which would break the hash tag that keeps all keys in one slot.
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if err := checkPrefix(opts.Prefix); err != nil {
		panic("redisstore: " + err.Error())
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	tag := KeyTag(opts.Prefix)
	return &Store{
		client:    client,
		retention: opts.Retention,
		tag:       tag,
		open:      tag + ":open",
		deadlines: tag + ":deadlines",
		expiries:  tag + ":expiries",
	}
}

// Client returns the underlying client, e.g. for the audit stream, which
// lives next to the records.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// Close closes the client.
func (s *Store) Close() error {
	return s.client.Close()
}

// checkPrefix rejects braces: Redis Cluster hashes only the part between
// the first '{' and the next '}', so a brace in the prefix could split the
// keys over several slots, where the scripts cannot reach them together.
func checkPrefix(prefix string) error {
	if strings.ContainsAny(prefix, "{}") {
		return fmt.Errorf("key prefix %q must not contain '{' or '}'", prefix)
	}
	return nil
}

func (s *Store) recordKey(id grants.RequestID) string {
	return s.tag + ":req:" + string(id)
}

// Create stores a new record; grants.ErrExists if the ID is taken.
func (s *Store) Create(ctx context.Context, r *grants.Request) error {
	if r.ID == "" {
		return errors.New("create request: empty ID")
	}
	v, err := s.write(ctx, r, 0)
	if err != nil {
		return fmt.Errorf("create %s: %w", r.ID, err)
	}
	if v == 0 {
		return fmt.Errorf("create %s: %w", r.ID, grants.ErrExists)
	}
	return nil
}

// Get returns the record; grants.ErrNotFound if unknown (or expired after
// Options.Retention).
func (s *Store) Get(ctx context.Context, id grants.RequestID) (*grants.Request, error) {
	data, err := s.client.HGet(ctx, s.recordKey(id), "d").Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("get %s: %w", id, grants.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	return decode(id, data)
}

// Update applies fn to a fresh copy of the record and writes it back only if
// the record's version is still the one read; otherwise it reads again and
// reruns fn, up to 50 times, then returns grants.ErrConflict. An error from
// fn is returned unchanged and nothing is written.
func (s *Store) Update(ctx context.Context, id grants.RequestID, fn func(*grants.Request) error) (*grants.Request, error) {
	key := s.recordKey(id)
	for try := 0; try < updateTries; try++ {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return nil, fmt.Errorf("update %s: %w", id, err)
			}
		}
		vals, err := s.client.HMGet(ctx, key, "v", "d").Result()
		if err != nil {
			return nil, fmt.Errorf("update %s: read: %w", id, err)
		}
		vs, _ := vals[0].(string)
		data, _ := vals[1].(string)
		if vs == "" || data == "" {
			return nil, fmt.Errorf("update %s: %w", id, grants.ErrNotFound)
		}
		version, err := strconv.ParseInt(vs, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("update %s: bad version %q: %w", id, vs, err)
		}
		r, err := decode(id, data)
		if err != nil {
			return nil, err
		}
		if err := fn(r); err != nil {
			return nil, err
		}
		if r.ID != id {
			// The ID names the key; writing another one here would leave
			// two records disagreeing about who they are.
			return nil, fmt.Errorf("update %s: fn changed the ID to %s", id, r.ID)
		}
		v, err := s.write(ctx, r, version)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", id, err)
		}
		if v != 0 {
			return r, nil
		}
	}
	return nil, fmt.Errorf("update %s: gave up after %d tries: %w", id, updateTries, grants.ErrConflict)
}

// write runs write.lua for r if the stored version is still expected (0:
// the record must not exist). It returns the new version, or 0 when the
// compare failed.
func (s *Store) write(ctx context.Context, r *grants.Request, expected int64) (int64, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode: %w", err)
	}
	queue, at := r.Schedule()
	var score int64
	if at.IsZero() {
		queue = ""
	} else {
		score = ceilMilli(at)
	}
	finished := "0"
	if r.State.Terminal() && at.IsZero() {
		finished = "1"
	}
	holdKey, holds := s.open, ""
	if h, live := grants.HoldOf(r); h != (grants.Hold{}) {
		holdKey, holds = s.holdKey(h), "0"
		if live {
			holds = "1"
		}
	}
	keys := []string{s.recordKey(r.ID), s.open, s.deadlines, s.expiries, holdKey}
	v, err := writeScript.Run(ctx, s.client, keys,
		expected, data, string(r.ID), string(queue), score, finished, s.retention.Milliseconds(), holds,
	).Int64()
	if err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	return v, nil
}

func (s *Store) holdKey(h grants.Hold) string {
	return s.tag + ":holds:" + h.Backend + "|" + h.Target + "|" + h.Principal
}

// Holders returns the records in h's index (see grants.Store).
func (s *Store) Holders(ctx context.Context, h grants.Hold) ([]*grants.Request, error) {
	ids, err := s.client.SMembers(ctx, s.holdKey(h)).Result()
	if err != nil {
		return nil, fmt.Errorf("list holders of %s in %s: %w", h.Principal, h.Target, err)
	}
	return s.load(ctx, ids)
}

// Reindex adds every open record to the index of what it holds. Records
// written before the index existed are in none; running it again changes
// nothing. Open runs it once per store, then marks the store indexed
// (since every write keeps the index, once is enough), because reading
// every open record at each start delayed the first revocations after a
// restart by 150 ms at 10,000 grants.
func (s *Store) Reindex(ctx context.Context) error {
	if err := s.reindex(ctx); err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.indexed(), time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return fmt.Errorf("mark the holder index complete: %w", err)
	}
	return nil
}

// reindexOnce runs Reindex unless the store is marked indexed.
func (s *Store) reindexOnce(ctx context.Context) error {
	n, err := s.client.Exists(ctx, s.indexed()).Result()
	if err != nil {
		return fmt.Errorf("read the holder index mark: %w", err)
	}
	if n == 1 {
		return nil
	}
	return s.Reindex(ctx)
}

// indexed is the key that marks the holder index complete.
func (s *Store) indexed() string { return s.tag + ":holds-indexed" }

func (s *Store) reindex(ctx context.Context) error {
	open, err := s.Open(ctx)
	if err != nil {
		return err
	}
	pipe := s.client.Pipeline()
	for _, r := range open {
		if h, live := grants.HoldOf(r); live {
			pipe.SAdd(ctx, s.holdKey(h), string(r.ID))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reindex holders: %w", err)
	}
	return nil
}

// Open returns every record that is not finished, in no particular order.
// It is not a snapshot: a record that finishes meanwhile may or may not be
// included, and one that expired is skipped.
func (s *Store) Open(ctx context.Context) ([]*grants.Request, error) {
	ids, err := s.client.SMembers(ctx, s.open).Result()
	if err != nil {
		return nil, fmt.Errorf("list open requests: %w", err)
	}
	return s.load(ctx, ids)
}

// load returns the records of ids that still exist, openBatch per round
// trip.
func (s *Store) load(ctx context.Context, ids []string) ([]*grants.Request, error) {
	out := make([]*grants.Request, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), openBatch)]
		ids = ids[len(batch):]
		cmds := make([]*redis.StringCmd, len(batch))
		pipe := s.client.Pipeline()
		for i, id := range batch {
			cmds[i] = pipe.HGet(ctx, s.recordKey(grants.RequestID(id)), "d")
		}
		// Exec reports the first failed command; redis.Nil (a record gone
		// since SMEMBERS) is not a failure here.
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("load open requests: %w", err)
		}
		for i, cmd := range cmds {
			data, err := cmd.Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", batch[i], err)
			}
			r, err := decode(grants.RequestID(batch[i]), data)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Claim returns up to max IDs due at or before now, the most overdue first
// from either queue, and moves each to now+lease in the same script.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]grants.RequestID, error) {
	if max <= 0 {
		return nil, nil
	}
	// A score is its time rounded up to the millisecond, so "now" rounds
	// down: nothing is claimed before its time.
	ids, err := claimScript.Run(ctx, s.client, []string{s.deadlines, s.expiries},
		now.UnixMilli(), ceilMilli(now.Add(lease)), max,
	).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim due requests: %w", err)
	}
	out := make([]grants.RequestID, len(ids))
	for i, id := range ids {
		out[i] = grants.RequestID(id)
	}
	return out, nil
}

// NextDue returns the earliest scheduled time in either queue, to the
// millisecond (rounded up), or the zero time when both are empty.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	pipe := s.client.Pipeline()
	d := pipe.ZRangeWithScores(ctx, s.deadlines, 0, 0)
	e := pipe.ZRangeWithScores(ctx, s.expiries, 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, fmt.Errorf("read next due time: %w", err)
	}
	var next time.Time
	for _, zs := range [][]redis.Z{d.Val(), e.Val()} {
		if len(zs) == 0 {
			continue
		}
		if at := time.UnixMilli(int64(zs[0].Score)); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, nil
}

func decode(id grants.RequestID, data string) (*grants.Request, error) {
	var r grants.Request
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", id, err)
	}
	return &r, nil
}

// ceilMilli is t in unix milliseconds, rounded up so that a queue never
// makes a record due before its time.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// backoff is a random wait up to a cap that doubles with each lost race
// ("full jitter"), so racing writers spread out instead of colliding again.
func backoff(try int) time.Duration {
	limit := min(updateBackoffMin<<min(try, 16), updateBackoffMax)
	return time.Duration(rand.Int64N(int64(limit))) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
