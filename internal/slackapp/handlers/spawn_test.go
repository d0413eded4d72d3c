package handlers

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestFloodDoesNotGrowGoroutines: spawn takes its worker slot before it
// starts a goroutine. It used to start the goroutine first, so a flood of
// envelopes while the workers were busy became one parked goroutine per
// envelope, without bound.
func TestFloodDoesNotGrowGoroutines(t *testing.T) {
	const workers, flood = 2, 200
	h := New(Options{Workers: workers})
	release := make(chan struct{})
	started := make(chan struct{}, flood)
	var spawned atomic.Int32
	base := runtime.NumGoroutine()
	flooded := make(chan struct{})
	go func() { // the dispatch loop, handed a flood
		defer close(flooded)
		for range flood {
			h.spawn(context.Background(), "test", func(context.Context) {
				started <- struct{}{}
				<-release
			})
			spawned.Add(1)
		}
	}()
	for range workers {
		<-started
	}
	// With the workers busy, the loop must be waiting for a slot, not
	// starting goroutines: give it every chance to run on.
	select {
	case <-flooded:
		t.Fatalf("spawn returned %d times with %d workers busy", spawned.Load(), workers)
	case <-time.After(200 * time.Millisecond):
	}
	if n := runtime.NumGoroutine() - base; n > workers+1 {
		t.Errorf("%d goroutines more than before the flood, want at most %d (workers and the loop)", n, workers+1)
	}
	close(release)
	<-flooded
	h.work.Wait()
	if n := len(started); n != flood-workers {
		t.Errorf("%d of the flood's envelopes were handled, want all %d", n+workers, flood)
	}
}
