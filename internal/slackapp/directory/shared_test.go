package directory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// heldCall is a Slack call that answers its n-th call (from 1) with n once
// released, so a test decides when each read ends and can tell reads apart.
type heldCall struct {
	calls   atomic.Int32
	release chan struct{}
}

func newHeldCall() *heldCall { return &heldCall{release: make(chan struct{}, 100)} }

func (h *heldCall) call(ctx context.Context) (int, error) {
	n := h.calls.Add(1)
	select {
	case <-h.release:
		return int(n), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// waitCalls waits until h has been called n times.
func (h *heldCall) waitCalls(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls made, want %d", h.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func decisionRead(rs *reads[int], ctx context.Context, h *heldCall) (int, error) {
	return rs.get(ctx, "k", fitsFor[int](ctx, time.Now(), 0), time.Now, h.call)
}

// TestDecisionsShareOnlyReadsMadeAfterThem: decisions that began before a
// read was made share it; one that began while it was in flight waits for
// the next read, made after it began, which every later arrival shares.
// So however many decisions arrive, at most one read is in flight, and no
// decision is answered from a read older than itself.
func TestDecisionsShareOnlyReadsMadeAfterThem(t *testing.T) {
	var rs reads[int]
	h := newHeldCall()
	early := make([]context.Context, 5)
	for i := range early {
		early[i] = grants.Fresh(t.Context())
	}
	results := make(chan int, 100)
	var wg sync.WaitGroup
	ask := func(ctx context.Context) {
		wg.Go(func() {
			v, err := decisionRead(&rs, ctx, h)
			if err != nil {
				t.Error(err)
			}
			results <- v
		})
	}
	for _, ctx := range early {
		ask(ctx)
	}
	h.waitCalls(t, 1) // read 1 is in flight, made after the early decisions began
	late := 20
	for range late {
		ask(grants.Fresh(t.Context())) // began after read 1 was made
	}
	time.Sleep(50 * time.Millisecond)
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("%d reads in flight at once, want 1", n)
	}
	h.release <- struct{}{} // read 1 ends; read 2 starts for the late ones
	h.waitCalls(t, 2)
	h.release <- struct{}{}
	wg.Wait()
	close(results)
	got := map[int]int{}
	for v := range results {
		got[v]++
	}
	if got[1] != len(early) || got[2] != late || len(got) != 2 {
		t.Errorf("answers by read: %v; want read 1 for the %d early decisions and read 2 for the %d late ones", got, len(early), late)
	}
	if n := h.calls.Load(); n != 2 {
		t.Errorf("%d decisions made %d reads, want 2", len(early)+late, n)
	}
}

// TestReadWaitsOutSlacksLimit: a 429 is waited out for as long as Slack
// asks, once for everyone waiting, instead of failing the decision.
func TestReadWaitsOutSlacksLimit(t *testing.T) {
	var rs reads[int]
	var calls atomic.Int32
	call := func(context.Context) (int, error) {
		if calls.Add(1) <= 2 {
			return 0, &slack.RateLimitedError{RetryAfter: 20 * time.Millisecond}
		}
		return 7, nil
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			ctx := grants.Fresh(t.Context())
			v, err := rs.get(ctx, "k", fitsFor[int](ctx, time.Now(), 0), time.Now, call)
			if err != nil || v != 7 {
				t.Errorf("get = %v, %v; want 7 once the limit passed", v, err)
			}
		})
	}
	wg.Wait()
	// Two rounds at most: the decisions that arrived while the first
	// read was held back wait for one more.
	if n := calls.Load(); n > 6 {
		t.Errorf("%d calls for 10 decisions held back twice, want the 429s shared", n)
	}
}

// TestFailedReadIsNotKept: an error answers those who waited for that
// read, and the next one asks Slack again.
func TestFailedReadIsNotKept(t *testing.T) {
	var rs reads[int]
	fail := true
	call := func(context.Context) (int, error) {
		if fail {
			return 0, errors.New("internal_error")
		}
		return 1, nil
	}
	get := func() (int, error) {
		return rs.get(t.Context(), "k", fitsFor[int](t.Context(), time.Now(), time.Minute), time.Now, call)
	}
	if _, err := get(); err == nil {
		t.Fatal("a failed read answered without its error")
	}
	fail = false
	if v, err := get(); err != nil || v != 1 {
		t.Errorf("after a failure: %v, %v; want a new read's answer", v, err)
	}
}

// TestWaiterLeavesWhenItsContextEnds: a decision whose context ends stops
// waiting; the read goes on for the others.
func TestWaiterLeavesWhenItsContextEnds(t *testing.T) {
	var rs reads[int]
	h := newHeldCall()
	ctx, cancel := context.WithCancel(grants.Fresh(t.Context()))
	errc := make(chan error, 1)
	go func() { _, err := decisionRead(&rs, ctx, h); errc <- err }()
	h.waitCalls(t, 1)
	other := make(chan int, 1)
	octx := grants.Fresh(t.Context())
	go func() { v, _ := decisionRead(&rs, octx, h); other <- v }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v, want context.Canceled", err)
	}
	h.release <- struct{}{}
	h.release <- struct{}{}
	if v := <-other; v != 2 {
		t.Errorf("the other decision, begun during read 1, got read %d, want 2", v)
	}
}
