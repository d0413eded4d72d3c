package grants_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
)

// errDead is what a process that died answers: nothing.
var errDead = errors.New("process is dead")

// dyingStore is the store as seen by a process that dies right after its
// next successful Update: the write lands, and nothing after it does.
type dyingStore struct {
	grants.Store
	armed, dead *atomic.Bool
}

func (d dyingStore) Update(ctx context.Context, id grants.RequestID, fn func(*grants.Request) error) (*grants.Request, error) {
	if d.dead.Load() {
		return nil, errDead
	}
	r, err := d.Store.Update(ctx, id, fn)
	if err == nil && d.armed.Load() {
		d.dead.Store(true)
	}
	return r, err
}

func (d dyingStore) Get(ctx context.Context, id grants.RequestID) (*grants.Request, error) {
	if d.dead.Load() {
		return nil, errDead
	}
	return d.Store.Get(ctx, id)
}

// TestJournaledEventOutlivesItsWriter kills the process that wrote a
// transition before it told anyone: the event was written with the
// transition, so another process hands it over, once, to the notifiers
// (the audit log first), and the record then finishes as it should.
func TestJournaledEventOutlivesItsWriter(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-readonly")

	var armed, dead atomic.Bool
	lost := &grantstest.Recorder{}
	dying := e.serviceOn(t, dyingStore{Store: e.store, armed: &armed, dead: &dead},
		grants.NotifierFunc(func(ctx context.Context, ev grants.Event) {
			if !dead.Load() {
				lost.Notify(ctx, ev)
			}
		}), e.backend)
	armed.Store(true)
	if _, err := dying.Deny(t.Context(), r.ID, "UAPPROVER1", "not during the freeze"); err != nil {
		t.Fatalf("deny: %v", err)
	}
	if !dead.Load() {
		t.Fatal("the deny was not written through the dying process's store")
	}
	if got := lost.Types(r.ID); len(got) != 0 {
		t.Fatalf("the dead process told its notifiers %v", got)
	}
	rec, err := e.store.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != grants.Denied || len(rec.Journal) != 1 || rec.Journal[0].Type != grants.EventDenied {
		t.Fatalf("after the crash the record is %s with journal %+v, want denied with the denied event", rec.State, rec.Journal)
	}

	// Before the grace the writer may still be at it: nothing happens.
	e.runDue(t, grants.JournalGrace-time.Second)
	if got := e.events.Types(r.ID); slices.Contains(got, grants.EventDenied) {
		t.Fatalf("the event was handed over before JournalGrace: %v", got)
	}
	e.runDue(t, time.Second)
	denied := eventsOf(e.events, r.ID, grants.EventDenied)
	if len(denied) != 1 {
		t.Fatalf("denied events handed over: %d, want 1 (all: %v)", len(denied), e.events.Types(r.ID))
	}
	ev := denied[0]
	if ev.Actor != "UAPPROVER1" || ev.Request.DenyReason != "not during the freeze" || ev.Note != 2 || len(ev.Request.Journal) != 0 {
		t.Errorf("handed-over event = actor %q, reason %q, note %d, journal %v; want UAPPROVER1, the reason, note 2, no journal",
			ev.Actor, ev.Request.DenyReason, ev.Note, ev.Request.Journal)
	}
	if !ev.At.Equal(rec.DecidedAt) {
		t.Errorf("event at %v, want the time of the transition %v", ev.At, rec.DecidedAt)
	}

	rec, err = e.store.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Journal) != 0 {
		t.Errorf("journal after the hand-over: %+v", rec.Journal)
	}
	if _, at := rec.Schedule(); !at.IsZero() {
		t.Errorf("the denied record is still scheduled at %v; it should be finished", at)
	}
	e.runDue(t, time.Hour)
	if n := len(eventsOf(e.events, r.ID, grants.EventDenied)); n != 1 {
		t.Errorf("denied handed over %d times in all, want 1", n)
	}
}

// TestTransitionsJournalTheirEvents checks that every event of a full life
// is numbered and leaves the journal empty when its writer lives.
func TestTransitionsJournalTheirEvents(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-readonly")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 55*time.Minute+time.Second)
	e.runDue(t, 5*time.Minute)
	var notes []int
	for _, ev := range e.events.All() {
		if ev.Request.ID == r.ID {
			notes = append(notes, ev.Note)
		}
	}
	want := []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventExpiring, grants.EventRevoked}
	if got := e.events.Types(r.ID); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if !slices.Equal(notes, []int{1, 2, 3, 4, 5}) {
		t.Errorf("notes %v, want 1…5", notes)
	}
	rec, err := e.store.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Journal) != 0 || rec.Notes != 5 {
		t.Errorf("record journal %v, notes %d; want empty, 5", rec.Journal, rec.Notes)
	}
}

// heldBackend holds Grant calls until release is closed, saying on entered
// that one has begun.
type heldBackend struct {
	grants.Backend
	entered chan<- struct{}
	release <-chan struct{}
}

func (h heldBackend) Grant(ctx context.Context, g grants.Grant) (grants.Issued, error) {
	h.entered <- struct{}{}
	<-h.release
	return h.Backend.Grant(ctx, g)
}

func eventsOf(rec *grantstest.Recorder, id grants.RequestID, typ grants.EventType) []grants.Event {
	var out []grants.Event
	for _, ev := range rec.All() {
		if ev.Request.ID == id && ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// TestApprovalRacingItsOwnPublishIssuesOnce: the second approval lands,
// and its grant is under way, while the first approver's process is still
// handing over its event. The first then finds the record granting, but
// issuing is the second approver's to do: one grant.
func TestApprovalRacingItsOwnPublishIssuesOnce(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-admin")
	inGrant, release := make(chan struct{}), make(chan struct{})
	held := heldBackend{Backend: e.backend, entered: inGrant, release: release}
	secondDone := make(chan error, 1)
	first := e.serviceOn(t, e.store, grants.NotifierFunc(func(ctx context.Context, ev grants.Event) {
		if ev.Type != grants.EventApproved || ev.Actor != "ULEAD1" {
			return
		}
		go func() {
			_, err := e.serviceOn(t, e.store, e.events, held).Approve(context.WithoutCancel(ctx), r.ID, "ULEAD2")
			secondDone <- err
		}()
		<-inGrant // the second approver's process is calling AWS
	}), e.backend)
	if _, err := first.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatalf("first approval: %v", err)
	}
	close(release)
	if err := <-secondDone; err != nil {
		t.Fatalf("second approval: %v", err)
	}
	if grantCalls, _, _ := e.backend.counts(); grantCalls != 1 {
		t.Errorf("%d grant calls, want 1", grantCalls)
	}
	got, err := e.store.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != grants.Active || len(got.Approvals) != 2 {
		t.Errorf("record %s with %d approvals, want active with 2", got.State, len(got.Approvals))
	}
}
