// Package redisstore implements grants.Store on Redis through go-redis's
// UniversalClient, so standalone, Sentinel and Cluster deployments all
// work, and over an in-process miniredis when no Redis is configured.
//
// Layout, every key under one hash tag so the Lua scripts work on Cluster:
//
//	{<prefix>}:req:<id>    HASH  v = version (for compare-and-swap), d = record JSON,
//	                             m = MAC of d under the signing key (seal.go)
//	{<prefix>}:deadlines   ZSET  pending requests, score = unix ms of the deadline
//	{<prefix>}:expiries    ZSET  granted access, score = unix ms of expiry, retry or cleanup
//	{<prefix>}:open        SET   IDs of records that are not finished
//	{<prefix>}:holds:<h>   SET   IDs of records holding h (grants.HoldOf), e.g. one IAM
//	                             user's membership of one group
//	{<prefix>}:by-user:<id> SET  IDs of the open records a Slack user asked for or filed
//	{<prefix>}:by-role:<r>  SET  IDs of the open records of role r
//	{<prefix>}:holds-indexed STRING  the version of the indexes (holds, by-user, by-role)
//	                             and when they were last rebuilt from every open record
//	{<prefix>}:alive:<p>   STRING  process p's liveness key, 2 s unless renewed (liveness.go)
//	{<prefix>}:leases      HASH  request ID → the process holding its lease
//	{<prefix>}:gauge:…     SETs and ZSETs of what /metrics reports (gauges.go)
//	{<prefix>}:refs:<id>   HASH  where the request's Slack messages are (see refs.go)
//	{<prefix>}:seen:<key>  STRING  Slack envelopes already handled, for 10 minutes
//	{<prefix>}:limit:<key> ZSET  uses of a sliding-window limit (break-glass per role and user)
//	{<prefix>}:lock:<key>  STRING  a lock (lock.go): a random token of its holder, with a TTL
//
// A record is finished when its state is terminal and nothing is scheduled
// for it; it then leaves the open set and both queues and expires after
// Options.Retention.
package redisstore

import (
	"context"
	"fmt"
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

// Options tune a Store. The zero value is usable.
type Options struct {
	// Prefix names the key space, so several bots (or tests) can share one
	// Redis. It must not contain '{' or '}': it becomes the hash tag.
	// Default "jitbot".
	Prefix string
	// Retention is how long a finished record is kept for `/jit list`,
	// audits and duplicate detection. Default 30 days.
	Retention time.Duration
	// SigningKeys MAC the records: the first signs what the store
	// writes, and a record read is trusted if any of them signed it
	// (JIT_SIGNING_KEY, then JIT_SIGNING_KEY_PREVIOUS). Each is at least
	// MinKeyLen bytes. Without keys the store signs with a random key of
	// its own, which no other process can verify.
	SigningKeys [][]byte
	// LockTTL is how long a lock taken with Lock lasts if its holder
	// never releases it. Default DefaultLockTTL.
	LockTTL time.Duration
}

// Store is a grants.Store on Redis. It is safe for concurrent use by many
// goroutines and many processes.
type Store struct {
	client    redis.UniversalClient
	retention time.Duration
	lockTTL   time.Duration
	seal      sealer

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
// brace, which would break the hash tag that keeps all keys in one slot,
// or if a signing key is too short; Open and NewEmbedded return those as
// errors.
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
	if opts.LockTTL <= 0 {
		opts.LockTTL = DefaultLockTTL
	}
	seal, err := newSealer(opts.SigningKeys)
	if err != nil {
		panic("redisstore: " + err.Error())
	}
	tag := KeyTag(opts.Prefix)
	return &Store{
		client:    client,
		retention: opts.Retention,
		lockTTL:   opts.LockTTL,
		seal:      seal,
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

// checkOptions is what New would panic on, as an error.
func checkOptions(opts Options) error {
	if err := checkPrefix(opts.Prefix); err != nil {
		return err
	}
	_, err := newSealer(opts.SigningKeys)
	return err
}
