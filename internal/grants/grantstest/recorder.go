package grantstest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// Recorder is a grants.Notifier that keeps every event, for tests to
// assert on what the service announced and in which order.
type Recorder struct {
	mu     sync.Mutex
	events []grants.Event
}

// Notify records e.
func (r *Recorder) Notify(_ context.Context, e grants.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// All returns every event so far, oldest first.
func (r *Recorder) All() []grants.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Types returns the types of the events of request id, oldest first.
func (r *Recorder) Types(id grants.RequestID) []grants.EventType {
	var out []grants.EventType
	for _, e := range r.All() {
		if e.Request.ID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// Want fails t unless the events of request id are exactly want.
func (r *Recorder) Want(t testing.TB, id grants.RequestID, want ...grants.EventType) {
	t.Helper()
	if got := r.Types(id); !slices.Equal(got, want) {
		t.Errorf("events of %s = %v, want %v", id, got, want)
	}
}

// Wait polls until request id has an event of type typ, failing t if none
// comes within the given time. It is for work the scheduler does in the
// background; the limit bounds a hang, it does not measure speed.
func (r *Recorder) Wait(t testing.TB, id grants.RequestID, typ grants.EventType, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !slices.Contains(r.Types(id), typ) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s within %v; got %v", typ, id, within, r.Types(id))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
