package directory

import (
	"context"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Slack tells a connected app of every change to a person (user_change:
// deactivated, made a guest, a new email), so a copy of them read while
// the event stream was up, with no user_change for them since, is what
// Slack would answer now, up to the event's own delay (about a second).
// The directory uses such a copy ("vouched for") in two places:
//
//   - for reads that decide nothing (a request before its approval, a
//     listing), always, for up to TrustTTL: a request is checked again,
//     afresh, when it is approved and before it is issued;
//   - for a decision only while Slack is holding users.info back (a 429
//     in the last minute, see SlackHolds). Otherwise a decision reads
//     afresh, as always. In an incident flood Slack answers users.info
//     about 100 times a minute for the whole workspace: a hundred
//     engineers' requests and their approvals would wait minutes, or
//     fail, for an answer the event stream already vouches for.
//
// KeepUsers fills the copies from users.list whenever the stream
// connects, and every MirrorRefresh while it stays up, so a restart in an
// incident does not start from nothing. The stream counts as up from
// EventsConnected to EventsLost (Socket Mode); in HTTP mode nothing says
// it is, and every decision reads afresh.
const (
	TrustTTL      = 15 * time.Minute
	MirrorRefresh = 10 * time.Minute
)

// stream is what the directory knows of Slack's event stream.
type stream struct {
	up      bool
	since   time.Time            // when it last connected (time.Now)
	changed map[string]time.Time // user ID → latest user_change since
	kick    chan struct{}        // a connection for KeepUsers to copy the users at; made by New
	// holds reports whether Slack is holding a method back (pace).
	holds func(method string) bool
}

// EventsConnected says the event stream (Socket Mode) has connected:
// from now, what Slack changes reaches UserChanged.
func (d *Directory) EventsConnected() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events.up, d.events.since, d.events.changed = true, time.Now(), map[string]time.Time{}
	select {
	case d.events.kick <- struct{}{}:
	default: // a copy is due already
	}
}

// EventsLost says the event stream is down: changes may go unseen, so no
// copy read before is vouched for any more.
func (d *Directory) EventsLost() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events.up = false
}

// UserChanged records a user_change event for id: copies of them read
// before it are vouched for no more.
func (d *Directory) UserChanged(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.events.changed == nil {
		d.events.changed = map[string]time.Time{}
	}
	d.events.changed[id] = time.Now()
}

// SlackHolds gives the directory a way to know that Slack is holding a
// Web API method back (pace.Transport.Holding).
func (d *Directory) SlackHolds(holds func(method string) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events.holds = holds
}

// vouched reports whether the event stream vouches for r, a copy of user
// id: read while the stream was up and has stayed up, no user_change for
// id since, within TrustTTL.
func (d *Directory) vouched(id string, r *read[slack.User]) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev := d.events
	if !ev.up || r.began.Before(ev.since) || d.now().Sub(r.at) >= TrustTTL {
		return false
	}
	changed, ok := ev.changed[id]
	return !ok || changed.Before(r.began)
}

// usersHeld reports whether Slack is holding users.info back.
func (d *Directory) usersHeld() bool {
	d.mu.Lock()
	holds := d.events.holds
	d.mu.Unlock()
	return holds != nil && holds("users.info")
}

// KeepUsers copies every user from users.list each time the event stream
// connects and every MirrorRefresh while it is up, until ctx ends. A
// listing that fails is reported through onErr and tried at the next.
func (d *Directory) KeepUsers(ctx context.Context, onErr func(error)) {
	tick := time.NewTicker(MirrorRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.events.kick:
		case <-tick.C:
		}
		if err := d.mirrorUsers(ctx); err != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
}

// mirrorUsers reads every user (users.list, paged) as one read made now.
func (d *Directory) mirrorUsers(ctx context.Context) error {
	d.mu.Lock()
	up := d.events.up
	d.mu.Unlock()
	if !up {
		return nil // not vouched for anyway
	}
	_, err := d.listUsers(ctx)
	return err
}

// listUsers reads every user (users.list, paged), or takes a listing that
// began after ctx's decision (grants.Fresh) began, and keeps each user as
// a copy read when the listing began, as users.info's would be. The
// copies at each connection (KeepUsers) and the lifecycle pass at start
// share one listing.
func (d *Directory) listUsers(ctx context.Context) ([]slack.User, error) {
	ctx = grants.Fresh(ctx)
	fits := fitsFor[[]slack.User](ctx, d.now(), 0)
	users, err := d.roster.get(ctx, "", fits, d.now, func(ctx context.Context) ([]slack.User, error) {
		began, at := time.Now(), d.now()
		users, err := d.api.GetUsersContext(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			d.users.put(u.ID, u, began, at)
		}
		return users, nil
	})
	if err != nil {
		return nil, fmt.Errorf("users.list: %w", err)
	}
	return users, nil
}

// Everyone is grants.Roster on users.list: every user of the workspace,
// deactivated ones included, read now. Slack Connect users of another
// organisation are not listed.
func (d *Directory) Everyone(ctx context.Context) (map[string]rules.User, error) {
	users, err := d.listUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]rules.User, len(users))
	for _, u := range users {
		ru, err := d.fromSlack(ctx, u)
		if err != nil {
			return nil, err
		}
		out[u.ID] = ru
	}
	return out, nil
}
