package grants

import (
	"context"
	"errors"
	"slices"
)

// Subscribe adds notifiers that get every event from then on, after the
// ones subscribed before, in order. Notifiers that need the service itself
// (to resolve approvers, to read the current record) are built after it
// and subscribed, so none is ever half built. Subscribe before Run and
// before the first request, or the events before it go to fewer notifiers.
func (s *Service) Subscribe(ns ...Notifier) {
	s.subscribeMu.Lock()
	defer s.subscribeMu.Unlock()
	next := append(slices.Clone(*s.notify.Load()), ns...)
	s.notify.Store(&next)
}

// emit stamps e with the time, if it has none, and the catalog in force,
// and hands it to every notifier.
func (s *Service) emit(ctx context.Context, e Event) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if c := s.Catalog(); c != nil {
		e.CatalogSHA256 = c.SHA256
	}
	s.notify.Load().Notify(ctx, e)
}

// step applies fn to the record like Store.Update and hands the events fn
// journaled, this caller's own, to the notifiers (creds go with a granted
// event). It returns the record as it is after.
func (s *Service) step(ctx context.Context, id RequestID, creds *Credentials, fn func(*Request) error) (*Request, error) {
	var before int
	r, err := s.store.Update(ctx, id, func(r *Request) error {
		before = r.Notes
		return fn(r)
	})
	if err != nil {
		return nil, err
	}
	own := slices.DeleteFunc(slices.Clone(r.Journal), func(n Note) bool { return n.Seq <= before })
	return s.publish(ctx, r, own, creds), nil
}

// publish hands the journaled events notes of r to the notifiers (the
// audit log first), then drops them from the record. Each process hands
// over the events of its own transitions; one that dies in between leaves
// them to the scheduler, which hands them over after JournalGrace. The
// audit log keeps one entry per event (Event.Note names it); Slack may
// then hear of it twice. creds go with a granted event and nowhere else:
// they are never stored, so an event handed over again has none.
// publish returns the record as it is after, for display.
func (s *Service) publish(ctx context.Context, r *Request, notes []Note, creds *Credentials) *Request {
	if len(notes) == 0 {
		return r
	}
	view := *r
	view.Journal = nil
	for _, n := range notes {
		e := Event{Type: n.Type, At: n.At, Request: view, Actor: n.Actor, Err: n.Err, Note: n.Seq}
		if n.Type == EventGranted {
			e.Credentials = creds
		}
		if n.Type == EventTampered {
			// The record's note count is the writer's: it may number
			// this alert like an event already logged. Log it whatever.
			e.Note = 0
		}
		s.emit(ctx, e)
	}
	done, err := s.store.Update(context.WithoutCancel(ctx), r.ID, func(r *Request) error {
		return r.handedOver(notes)
	})
	switch {
	case err == nil:
		return done
	case !errors.Is(err, ErrStale):
		s.log.WarnContext(ctx, "events handed over but still in the journal; the scheduler will hand them over again", "request_id", r.ID, "err", err)
	}
	return &view
}
