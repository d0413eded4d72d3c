package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/wait"
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
)

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
	vals, err := s.client.HMGet(ctx, s.recordKey(id), "d", "m").Result()
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	data, _ := vals[0].(string)
	sum, _ := vals[1].(string)
	if data == "" {
		return nil, fmt.Errorf("get %s: %w", id, grants.ErrNotFound)
	}
	return s.decode(id, data, sum)
}

// Update applies fn to a fresh copy of the record and writes it back only if
// the record's version is still the one read; otherwise it reads again and
// reruns fn, up to 50 times, then returns grants.ErrConflict. An error from
// fn is returned unchanged and nothing is written.
func (s *Store) Update(ctx context.Context, id grants.RequestID, fn func(*grants.Request) error) (*grants.Request, error) {
	key := s.recordKey(id)
	for try := 0; try < updateTries; try++ {
		if try > 0 {
			if err := wait.Sleep(ctx, backoff(try)); err != nil {
				return nil, fmt.Errorf("update %s: %w", id, err)
			}
		}
		vals, err := s.client.HMGet(ctx, key, "v", "d", "m").Result()
		if err != nil {
			return nil, fmt.Errorf("update %s: read: %w", id, err)
		}
		vs, _ := vals[0].(string)
		data, _ := vals[1].(string)
		sum, _ := vals[2].(string)
		if vs == "" || data == "" {
			return nil, fmt.Errorf("update %s: %w", id, grants.ErrNotFound)
		}
		version, err := strconv.ParseInt(vs, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("update %s: bad version %q: %w", id, vs, err)
		}
		r, err := s.decode(id, data, sum)
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
	user, filer := s.peopleKeys(r)
	keys := append([]string{s.recordKey(r.ID), s.open, s.deadlines, s.expiries, holdKey, user, filer, s.roleKey(r.Role)}, s.gaugeKeys(r)...)
	keys = append(keys, s.leases())
	sum := s.seal.seal(s.tag, r.ID, string(data))
	args := append([]any{expected, data, string(r.ID), string(queue), score, finished, s.retention.Milliseconds(), holds, sum},
		gaugeArgs(r, finished == "0")...)
	owner := r.LeaseOwner
	if r.LeaseUntil.IsZero() || finished == "1" {
		owner = ""
	}
	v, err := writeScript.Run(ctx, s.client, keys, append(args, r.Role, owner)...).Int64()
	if err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	return v, nil
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

// EachOpen calls fn with the open records, openBatch at a time, each page
// read in one round trip. Only the IDs are held for the whole pass.
func (s *Store) EachOpen(ctx context.Context, fn func([]*grants.Request) error) error {
	ids, err := s.client.SMembers(ctx, s.open).Result()
	if err != nil {
		return fmt.Errorf("list open requests: %w", err)
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), openBatch)]
		ids = ids[len(batch):]
		page, err := s.load(ctx, batch)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			continue // all gone since SMEMBERS
		}
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

// load returns the records of ids that still exist, openBatch per round
// trip.
func (s *Store) load(ctx context.Context, ids []string) ([]*grants.Request, error) {
	out := make([]*grants.Request, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), openBatch)]
		ids = ids[len(batch):]
		cmds := make([]*redis.SliceCmd, len(batch))
		pipe := s.client.Pipeline()
		for i, id := range batch {
			cmds[i] = pipe.HMGet(ctx, s.recordKey(grants.RequestID(id)), "d", "m")
		}
		// Exec reports the first failed command; redis.Nil (a record gone
		// since SMEMBERS) is not a failure here.
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("load open requests: %w", err)
		}
		for i, cmd := range cmds {
			vals, err := cmd.Result()
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", batch[i], err)
			}
			data, _ := vals[0].(string)
			sum, _ := vals[1].(string)
			if data == "" {
				continue // gone since SMEMBERS
			}
			r, err := s.decode(grants.RequestID(batch[i]), data, sum)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// decode reads the record id from its stored JSON and MAC. A record whose
// MAC does not match is still returned, marked Tampered: the service never
// grants from it, but must see it to take away whatever it may hold.
//
// A record that fails its MAC and does not even parse is tampered with
// too, not an error: an error would fail every Open and every Holders it
// is listed in (the lifecycle pass, and the revocation of a shared
// membership), and nothing would ever quarantine it. Nothing of it can be
// read, so it reads as a failed record with its ID only: there is nothing
// known to revoke (reconciliation finds what it may have held).
func (s *Store) decode(id grants.RequestID, data, sum string) (*grants.Request, error) {
	sealed := s.seal.verify(s.tag, id, data, sum)
	var r grants.Request
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		if sealed {
			return nil, fmt.Errorf("decode %s: %w", id, err)
		}
		return &grants.Request{ID: id, State: grants.Failed, Failure: grants.ReasonTampered, Tampered: true}, nil
	}
	r.Tampered = !sealed || r.ID != id
	return &r, nil
}

// backoff is a random wait up to a cap that doubles with each lost race
// ("full jitter"), so racing writers spread out instead of colliding again.
func backoff(try int) time.Duration {
	limit := min(updateBackoffMin<<min(try, 16), updateBackoffMax)
	return time.Duration(rand.Int64N(int64(limit))) + 1
}
