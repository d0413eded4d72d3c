package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// The tests in this file run the store on the deployments REDIS_URL may
// name besides a single server: a Redis Cluster (every key of a request
// under one hash tag, or the scripts fail with CROSSSLOT) and Sentinel
// (the same Store value follows a failover to the new primary).

func TestStoreOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t)
	grantstest.TestStore(t, func(t *testing.T) grants.Store {
		return open(t, c.URL(), redisstore.Options{Prefix: newPrefix()})
	})
}

// TestClusterEveryNode runs the store's other features, and the audit log
// next to it, on each of the three nodes, and checks that every key lands
// in the slot of its hash tag.
func TestClusterEveryNode(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t)
	probe := open(t, c.URL(), redisstore.Options{Prefix: "probe"})
	cc, ok := probe.Client().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("Open(%s) made a %T, want a *redis.ClusterClient", c.URL(), probe.Client())
	}
	for _, prefix := range prefixPerNode(t, cc, c.Addrs()) {
		t.Run(prefix, func(t *testing.T) {
			s := open(t, c.URL(), redisstore.Options{Prefix: prefix})
			exerciseFeatures(t, s, prefix)
			assertOneSlot(t, cc, prefix)
		})
	}
}

// prefixPerNode finds, for each node, a prefix whose hash tag the node
// serves, so that each node runs the scripts.
func prefixPerNode(t *testing.T, cc *redis.ClusterClient, addrs []string) []string {
	t.Helper()
	byNode := map[string]string{}
	for i := 0; len(byNode) < len(addrs) && i < 1000; i++ {
		prefix := fmt.Sprintf("topo%d", i)
		node, err := cc.MasterForKey(t.Context(), "{"+prefix+"}")
		if err != nil {
			t.Fatalf("MasterForKey: %v", err)
		}
		addr := node.Options().Addr
		if _, seen := byNode[addr]; !seen {
			byNode[addr] = prefix
		}
	}
	if len(byNode) != len(addrs) {
		t.Fatalf("prefixes reach nodes %v, want all of %v", slices.Collect(maps.Keys(byNode)), addrs)
	}
	return slices.Sorted(maps.Values(byNode))
}

// exerciseFeatures uses what the bot uses beyond grants.Store: message
// places, envelope deduplication, the break-glass limiter and the audit
// log.
func exerciseFeatures(t *testing.T, s *redisstore.Store, prefix string) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	r := activeRequest("JIT-CLSTR1", now.Add(time.Hour))
	if err := s.Create(ctx, r); err != nil {
		t.Fatalf("Create: %v", err)
	}

	if err := s.SetRef(ctx, r.ID, "audit", "C0AUDIT:1.000100"); err != nil {
		t.Fatalf("SetRef: %v", err)
	}
	if err := s.SetRef(ctx, r.ID, "approver:U0BOB", "D0BOB:2.000200"); err != nil {
		t.Fatalf("SetRef: %v", err)
	}
	refs, err := s.Refs(ctx, r.ID)
	want := map[string]string{"audit": "C0AUDIT:1.000100", "approver:U0BOB": "D0BOB:2.000200"}
	if err != nil || !maps.Equal(refs, want) {
		t.Errorf("Refs = %v, %v; want %v", refs, err, want)
	}

	for i, want := range []bool{true, false} {
		if first, err := s.FirstSeen(ctx, "envelope-1", time.Minute); err != nil || first != want {
			t.Errorf("FirstSeen call %d = %v, %v; want %v", i+1, first, err, want)
		}
	}

	for i, want := range []bool{true, true, false} {
		if ok, err := s.Take(ctx, "breakglass:prod-admin:U0ALICE", 2, 24*time.Hour, now.Add(time.Duration(i)*time.Millisecond)); err != nil || ok != want {
			t.Errorf("Take %d of limit 2 = %v, %v; want %v", i+1, ok, err, want)
		}
	}

	log := auditlog.New(s.Client(), prefix, nil)
	for i, typ := range []string{"requested", "approved", "granted"} {
		en, err := log.Append(ctx, auditlog.Entry{Type: typ, At: now.Add(time.Duration(i) * time.Second).UTC(), RequestID: string(r.ID)})
		if err != nil {
			t.Fatalf("Append %s: %v", typ, err)
		}
		if en.Seq != int64(i+1) {
			t.Errorf("Append %s: Seq %d, want %d", typ, en.Seq, i+1)
		}
	}
	entries, err := log.Read(ctx, "-", 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	seq, hash, err := log.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if n, brk := auditlog.Verify(entries, seq, hash); brk != nil || n != 3 {
		t.Errorf("Verify = %d entries, %v; want 3 and an unbroken chain", n, brk)
	}

	if _, err := s.Update(ctx, r.ID, func(r *grants.Request) error { r.State = grants.Revoked; return nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if ids, err := s.Claim(ctx, now.Add(2*time.Hour), time.Minute, 10); err != nil || len(ids) != 0 {
		t.Errorf("Claim after revocation = %v, %v; want none", ids, err)
	}
}

// assertOneSlot finds every key of prefix on every primary and checks that
// all of them are in the slot of the hash tag.
func assertOneSlot(t *testing.T, cc *redis.ClusterClient, prefix string) {
	t.Helper()
	ctx := t.Context()
	tag := "{" + prefix + "}"
	slot, err := cc.ClusterKeySlot(ctx, tag).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	var mu sync.Mutex
	var keys []string
	err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, "*"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	slices.Sort(keys)
	for _, suffix := range []string{"req:JIT-CLSTR1", "refs:JIT-CLSTR1", "seen:envelope-1", "limit:breakglass:prod-admin:U0ALICE", "audit", "audit:head"} {
		if !slices.Contains(keys, tag+":"+suffix) {
			t.Errorf("key %s:%s not found; keys: %v", tag, suffix, keys)
		}
	}
	for _, k := range keys {
		got, err := cc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", k, err)
		}
		if got != slot {
			t.Errorf("key %s is in slot %d, want %d (the slot of %s)", k, got, slot, tag)
		}
	}
}

func TestStoreOnSentinel(t *testing.T) {
	t.Parallel()
	sen := testenv.StartSentinel(t)
	grantstest.TestStore(t, func(t *testing.T) grants.Store {
		return open(t, sen.URL(), redisstore.Options{Prefix: newPrefix()})
	})
}

// TestSentinelFailoverKeepsAcknowledgedRecords kills the primary while a
// writer is creating records through a Store, and checks that the same
// Store value goes on working on the promoted replica and that no record
// a replica had acknowledged was lost. A record counts as acknowledged
// when syncRecord (what the proposed Store.Sync does) said so; records
// acknowledged by the primary alone may be lost, as Redis replicates
// asynchronously.
func TestSentinelFailoverKeepsAcknowledgedRecords(t *testing.T) {
	t.Parallel()
	sen := testenv.StartSentinel(t)
	prefix := newPrefix()
	s := open(t, sen.URL(), redisstore.Options{Prefix: prefix})
	ctx := t.Context()
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()

	// Before: records, an update and a message place, acknowledged by the
	// replica through the last of them.
	var before []*grants.Request
	for i := range 20 {
		r := activeRequest(grants.RequestID(fmt.Sprintf("JIT-B%05d", i)), expires.Add(time.Duration(i)*time.Second))
		if err := s.Create(ctx, r); err != nil {
			t.Fatalf("Create: %v", err)
		}
		before = append(before, r)
	}
	if err := s.SetRef(ctx, before[0].ID, "audit", "C0AUDIT:1.000100"); err != nil {
		t.Fatalf("SetRef: %v", err)
	}
	updated, err := s.Update(ctx, before[0].ID, func(r *grants.Request) error {
		r.AccessKeyID = "ASIAEXAMPLE"
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	before[0] = updated
	if n, err := syncRecord(ctx, s, prefix, updated, 5*time.Second); err != nil || n != 1 {
		t.Fatalf("syncRecord before the failover = %d replicas, %v; want 1", n, err)
	}

	// During: a writer creates records and acknowledges each one, while
	// the primary is killed and the sentinels promote the replica.
	var (
		mu       sync.Mutex
		acked    []*grants.Request
		failures int       // Create or syncRecord failed: the outcome is unknown
		unacked  int       // written, but no replica said so
		firstOK  time.Time // the first Create that succeeded after the kill
		killedAt time.Time
	)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := activeRequest(grants.RequestID(fmt.Sprintf("JIT-W%05d", i)), expires)
			err := s.Create(ctx, r)
			if errors.Is(err, grants.ErrExists) {
				err = nil // a retry after a lost reply found its own write
			}
			if err == nil {
				mu.Lock()
				if !killedAt.IsZero() && firstOK.IsZero() {
					firstOK = time.Now()
				}
				mu.Unlock()
			}
			var n int64
			if err == nil {
				n, err = syncRecord(ctx, s, prefix, r, time.Second)
			}
			mu.Lock()
			switch {
			case err != nil:
				failures++
			case n == 0:
				unacked++
			default:
				acked = append(acked, r)
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	// On a failure below the writer must still stop, before the Store is
	// closed.
	stopWriter := sync.OnceFunc(func() {
		close(stop)
		<-writerDone
	})
	t.Cleanup(stopWriter)
	waitFor(t, 10*time.Second, "10 acknowledged records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 10
	})

	old := sen.Primary()
	sen.KillPrimary() // returns once the process is gone
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	promoted := sen.WaitFailover(t, 20*time.Second)
	failoverTook := time.Since(killedAt)
	if promoted == old {
		t.Fatalf("WaitFailover named the killed primary %s", old)
	}
	// The writer's Create goes through the same Store: once one succeeds
	// after the kill, the client has found the new primary by itself.
	waitFor(t, 10*time.Second, "a write through the Store after the failover", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !firstOK.IsZero()
	})
	stopWriter()
	t.Logf("failover: %s → %s in %v; first write through the Store %v after the kill; %d records acknowledged, %d written unacknowledged, %d failed calls",
		old, promoted, failoverTook.Round(time.Millisecond), firstOK.Sub(killedAt).Round(time.Millisecond), len(acked), unacked, failures)

	// After: every acknowledged record is on the new primary, as written.
	kept := append(slices.Clone(before), acked...)
	for _, want := range kept {
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Errorf("Get %s after the failover: %v", want.ID, err)
			continue
		}
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("%s after the failover:\n got %s\nwant %s", want.ID, g, w)
		}
	}
	all, err := s.Open(ctx)
	if err != nil {
		t.Fatalf("Open after the failover: %v", err)
	}
	openIDs := map[grants.RequestID]bool{}
	for _, r := range all {
		openIDs[r.ID] = true
	}
	for _, r := range kept {
		if !openIDs[r.ID] {
			t.Errorf("Open after the failover lacks %s", r.ID)
		}
	}
	if refs, err := s.Refs(ctx, before[0].ID); err != nil || refs["audit"] != "C0AUDIT:1.000100" {
		t.Errorf("Refs after the failover = %v, %v; want the audit message place", refs, err)
	}

	// The same Store value writes, updates and schedules on the new
	// primary.
	after := activeRequest("JIT-AFTER1", expires.Add(-30*time.Minute))
	if err := s.Create(ctx, after); err != nil {
		t.Fatalf("Create after the failover: %v", err)
	}
	if _, err := s.Update(ctx, before[1].ID, func(r *grants.Request) error { r.Attempts++; return nil }); err != nil {
		t.Errorf("Update after the failover: %v", err)
	}
	if next, err := s.NextDue(ctx); err != nil || !next.Equal(after.ExpiresAt) {
		t.Errorf("NextDue after the failover = %v, %v; want %v", next, err, after.ExpiresAt)
	}
	if ids, err := s.Claim(ctx, after.ExpiresAt, time.Minute, 10); err != nil || !slices.Equal(ids, []grants.RequestID{after.ID}) {
		t.Errorf("Claim after the failover = %v, %v; want [%s]", ids, err, after.ID)
	}

	// The killed primary stays down, so the new one has no replica: a
	// Store.Sync that requires one refuses until a replica is back.
	if n, err := syncRecord(ctx, s, prefix, after, 100*time.Millisecond); err != nil || n != 0 {
		t.Errorf("syncRecord with no replica left = %d, %v; want 0 replicas", n, err)
	}
}

// syncCheck writes a marker only if the record is stored exactly as
// expected, so that the WAIT after it, on the same connection, covers the
// record's write whichever connection made it.
var syncCheck = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'd') ~= ARGV[1] then
	return 0
end
redis.call('INCR', KEYS[2])
return 1
`)

// syncRecord is the proposed Store.Sync, written against the client: it
// reports how many replicas acknowledged r as stored now. WAIT counts from
// its own connection's last write, so the check script and WAIT share one
// pipeline (one connection); checking the record's content means a
// failover between the write and this call cannot vouch for a write the
// new primary never received. (On Cluster the pipeline would have to go
// to ClusterClient.MasterForKey of the tag: a pipelined WAIT has no key
// and would go to a random node.)
func syncRecord(ctx context.Context, s *redisstore.Store, prefix string, r *grants.Request, timeout time.Duration) (int64, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	tag := "{" + prefix + "}"
	pipe := s.Client().Pipeline()
	// EVAL rather than EVALSHA: a script cache does not survive a failover
	// to a replica, and NOSCRIPT in a pipeline is not retried.
	check := syncCheck.Eval(ctx, pipe, []string{tag + ":req:" + string(r.ID), tag + ":sync"}, string(data))
	wait := pipe.Do(ctx, "WAIT", 1, timeout.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	if ok, _ := check.Int(); ok != 1 {
		return 0, fmt.Errorf("%s is not stored as written", r.ID)
	}
	return wait.Int64()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSync: a record is acknowledged by a replica before access is issued;
// a replica that stops answering, or a record that is not stored as the
// caller has it, is an error; a lone server has nothing to wait for.
func TestSync(t *testing.T) {
	sen := testenv.StartSentinel(t)
	s := open(t, sen.URL(), redisstore.Options{Prefix: newPrefix()})
	ctx := t.Context()
	r := activeRequest("JIT-SYNC22", time.Now().Add(time.Hour))
	r.State = grants.Granting
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, stored); err != nil {
		t.Fatalf("Sync with a healthy replica: %v", err)
	}
	stale := *stored
	stale.Reason = "not what is stored"
	if err := s.Sync(ctx, &stale); err == nil || !strings.Contains(err.Error(), "not stored as it was written") {
		t.Errorf("Sync of a stale copy = %v", err)
	}

	sen.PauseReplica()
	if err := s.Sync(ctx, stored); err == nil || !strings.Contains(err.Error(), "no replica acknowledged") {
		t.Errorf("Sync with the replica stopped = %v", err)
	}
	sen.ResumeReplica()
	waitFor(t, 10*time.Second, "the replica to acknowledge again", func() bool { return s.Sync(ctx, stored) == nil })

	lone := open(t, testenv.StartRedis(t).URL(), redisstore.Options{Prefix: newPrefix()})
	if err := lone.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, _ := lone.Get(ctx, r.ID)
	if err := lone.Sync(ctx, got); err != nil {
		t.Errorf("Sync on a server without replicas: %v", err)
	}
}
