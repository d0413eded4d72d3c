package turns_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/internal/turns"
)

func client(t *testing.T) *redis.Client {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTurnsAreSpacedAfterTheBurst: the first burst turns go at once, each
// later one a period after the one before, whoever books it.
func TestTurnsAreSpacedAfterTheBurst(t *testing.T) {
	c := client(t)
	a := turns.New(c, "{jit}:turns:audit", 100*time.Millisecond, 3)
	b := turns.New(c, "{jit}:turns:audit", 100*time.Millisecond, 3) // another replica
	var waits []time.Duration
	for i := range 7 {
		s := a
		if i%2 == 1 {
			s = b
		}
		d, err := s.Reserve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, d)
	}
	for i, d := range waits {
		want := time.Duration(max(0, i-2)) * 100 * time.Millisecond
		if d < want-20*time.Millisecond || d > want+20*time.Millisecond {
			t.Errorf("turn %d is %v away, want about %v (all: %v)", i, d, want, waits)
		}
	}
	// After a quiet spell as long as the booked turns, a burst goes at
	// once again.
	time.Sleep(800 * time.Millisecond)
	if d, err := a.Reserve(t.Context()); err != nil || d != 0 {
		t.Errorf("after a quiet spell the next turn is %v away (%v), want now", d, err)
	}
}

// TestTwoReplicasShareTheTurns: two writers asking as fast as they can
// get turns in the order they asked: neither waits behind all of the
// other's.
func TestTwoReplicasShareTheTurns(t *testing.T) {
	c := client(t)
	const every = 20 * time.Millisecond
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for w := range 2 {
		s := turns.New(c, "{jit}:turns:shared", every, 1)
		wg.Go(func() {
			for range 10 {
				if _, err := s.Wait(t.Context()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, w)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Each writer's longest run of turns in a row: with one schedule,
	// they alternate (a run of 2 at most, as the first of each may land
	// together); without it, one took every turn until it was done.
	longest, run := 0, 0
	for i := range order {
		if i > 0 && order[i] == order[i-1] {
			run++
		} else {
			run = 1
		}
		longest = max(longest, run)
	}
	if longest > 3 {
		t.Errorf("one writer took %d turns in a row: %v", longest, order)
	}
}

// TestASchedulePushedFarAheadIsStartedAgain: someone who can write to
// Redis books the schedule an hour ahead; the next turn is not an hour
// away, or a write to Redis would silence the audit channel.
func TestASchedulePushedFarAheadIsStartedAgain(t *testing.T) {
	c := client(t)
	key := "{jit}:turns:audit"
	far := time.Now().Add(time.Hour).UnixMilli()
	if err := c.Set(t.Context(), key, strconv.FormatInt(far, 10), 0).Err(); err != nil {
		t.Fatal(err)
	}
	s := turns.New(c, key, time.Second, 3)
	if d, err := s.Reserve(t.Context()); err != nil || d != 0 {
		t.Errorf("with the schedule pushed an hour ahead the next turn is %v away (%v), want now", d, err)
	}
	if err := c.Set(t.Context(), key, "not a time", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Reserve(t.Context()); err != nil || d != 0 {
		t.Errorf("with the schedule overwritten the next turn is %v away (%v), want now", d, err)
	}
}

// TestWaitWithoutRedis: with Redis gone, Wait says so at once; the writer
// goes on, paced by Slack's answers.
func TestWaitWithoutRedis(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer c.Close()
	start := time.Now()
	if _, err := turns.New(c, "{jit}:turns:audit", time.Second, 3).Wait(t.Context()); err == nil {
		t.Error("Wait without Redis succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Wait without Redis took %v", took)
	}
}
