// Package directory answers who people are from Slack: users.info for a
// person, user groups for the groups they are in and who is in a group. It
// implements grants.Directory for the domain, and caches briefly so that a
// burst of commands does not become a burst of Slack calls.
package directory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

var _ grants.Directory = (*Directory)(nil)

// Defaults for how long answers are reused. Who is in a user group (for
// the requester's own groups, CEL's user.groups) is kept for a shorter
// time. GroupMembers, which decides who may approve, is not cached for a
// decision: an approver removed from the group cannot approve with the
// next click. Only a listing (see Listing) reads it from a copy up to
// ListingTTL old.
const (
	DefaultUserTTL  = time.Minute
	DefaultGroupTTL = 10 * time.Second
	ListingTTL      = time.Minute
)

type listingKey struct{}

// Listing marks ctx as that of a read that decides nothing (/jit list,
// /jit report, App Home): GroupMembers then answers from the member lists
// of one usergroups.list call, reused for ListingTTL, instead of a
// usergroups.users.list call per group. A catalog of 300 roles would
// otherwise cost 300 calls per listing, and starve the approvals that need
// the same API. A decision (grants.Fresh) always reads afresh.
func Listing(ctx context.Context) context.Context {
	return context.WithValue(ctx, listingKey{}, true)
}

func isListing(ctx context.Context) bool {
	v, _ := ctx.Value(listingKey{}).(bool)
	return v && !grants.IsFresh(ctx)
}

// Directory is grants.Directory on the Slack Web API.
type Directory struct {
	api      *slack.Client
	userTTL  time.Duration
	groupTTL time.Duration
	now      func() time.Time

	mu   sync.Mutex
	home *slack.AuthTestResponse // this workspace, from auth.test once it answers
	kept bool                    // KeepListing is refreshing listing
	// listing is the group list KeepListing keeps for listings alone:
	// reads that decide (user.groups, approvers) never take it.
	listing cached[[]slack.UserGroup]
	events  stream // Slack's event stream, which vouches for copies of users

	// The reads of users.info by user ID, of usergroups.users.list by
	// handle and of usergroups.list, each shared (see reads).
	users   reads[slack.User]
	roster  reads[[]slack.User] // users.list, the whole workspace
	members reads[[]string]
	groups  reads[[]slack.UserGroup]
}

type cached[T any] struct {
	v  T
	at time.Time
}

// fitsFor is what a read must be to answer one made in ctx: for a
// decision (grants.Fresh), made after the decision began; otherwise made
// within ttl. A zero ttl means made after this moment: read anew.
func fitsFor[T any](ctx context.Context, now time.Time, ttl time.Duration) func(*read[T]) bool {
	since := time.Now()
	if dec := grants.DecisionOf(ctx); dec != nil {
		since = dec.Began()
	} else if ttl > 0 {
		return func(r *read[T]) bool { return now.Sub(r.at) < ttl }
	}
	return func(r *read[T]) bool { return !r.began.Before(since) }
}

// New returns a Directory that reuses answers for userTTL (users.info) and
// groupTTL (user groups); zero means the default.
func New(api *slack.Client, userTTL, groupTTL time.Duration) *Directory {
	if userTTL <= 0 {
		userTTL = DefaultUserTTL
	}
	if groupTTL <= 0 {
		groupTTL = DefaultGroupTTL
	}
	return &Directory{
		api: api, userTTL: userTTL, groupTTL: groupTTL, now: time.Now,
		events: stream{kick: make(chan struct{}, 1)},
		roster: reads[[]slack.User]{timeout: rosterTimeout},
	}
}

// rosterTimeout bounds one listing of the workspace: 5,000 people are 25
// pages of users.list, which Slack answers about 20 a minute.
const rosterTimeout = 10 * time.Minute

// User returns the Slack user id as the catalog's rules see them: email,
// name, the handles of their user groups, and whether they are a guest,
// deactivated or a bot (none of whom may request access).
func (d *Directory) User(ctx context.Context, id string) (rules.User, error) {
	u, err := d.slackUser(ctx, id)
	if err != nil {
		return rules.User{}, err
	}
	groups, err := d.allGroups(ctx)
	if err != nil {
		return rules.User{}, err
	}
	out, err := d.fromSlack(ctx, u)
	if err != nil {
		return rules.User{}, err
	}
	for _, g := range groups {
		if slices.Contains(g.Users, id) {
			out.Groups = append(out.Groups, g.Handle)
		}
	}
	return out, nil
}

// fromSlack is a Slack user as the catalog's rules see them, without their
// groups: guests (restricted accounts), Slack Connect users of another
// organisation, deactivated users and bots.
func (d *Directory) fromSlack(ctx context.Context, u slack.User) (rules.User, error) {
	home, err := d.workspace(ctx)
	if err != nil {
		return rules.User{}, err
	}
	return rules.User{
		ID:         u.ID,
		Name:       u.Name,
		Email:      u.Profile.Email,
		IsGuest:    u.IsRestricted || u.IsUltraRestricted,
		IsExternal: External(u, home.TeamID, home.EnterpriseID),
		Deleted:    u.Deleted,
		IsBot:      u.IsBot || u.ID == "USLACKBOT",
	}, nil
}

// External reports whether u belongs to another organisation than the
// workspace teamID (in Enterprise Grid enterpriseID): a Slack Connect user.
// is_stranger alone does not tell: Slack sets it only for people who share
// no channel with the workspace, and a vendor in a shared channel is not a
// stranger. Their team_id, or in a Grid their enterprise_id, is another.
func External(u slack.User, teamID, enterpriseID string) bool {
	if u.IsStranger {
		return true
	}
	if enterpriseID != "" && u.Enterprise.EnterpriseID == enterpriseID {
		return false // another workspace of the same organisation
	}
	return u.TeamID != "" && u.TeamID != teamID
}

// workspace is this workspace as auth.test describes it, asked once and
// kept. Until it answers, nobody can be told apart from a Slack Connect
// user, so an error is returned rather than a guess.
func (d *Directory) workspace(ctx context.Context) (*slack.AuthTestResponse, error) {
	d.mu.Lock()
	home := d.home
	d.mu.Unlock()
	if home != nil {
		return home, nil
	}
	home, err := d.api.AuthTestContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth.test (which workspace this is): %w", err)
	}
	d.mu.Lock()
	d.home = home
	d.mu.Unlock()
	return home, nil
}

// GroupMembers returns the user IDs in the user group with this handle,
// read now through usergroups.users.list, or for a Listing from the group
// list. An unknown handle has no members.
func (d *Directory) GroupMembers(ctx context.Context, handle string) ([]string, error) {
	groups, err := d.allGroups(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(groups, func(g slack.UserGroup) bool { return g.Handle == handle })
	if i < 0 {
		return nil, nil
	}
	if isListing(ctx) {
		return slices.Clone(groups[i].Users), nil
	}
	id := groups[i].ID
	members, err := d.members.get(ctx, handle, fitsFor[[]string](ctx, d.now(), 0), d.now, func(ctx context.Context) ([]string, error) {
		return d.api.GetUserGroupMembersContext(ctx, id)
	})
	if err != nil {
		return nil, fmt.Errorf("usergroups.users.list @%s: %w", handle, err)
	}
	return slices.Clone(members), nil
}

func (d *Directory) slackUser(ctx context.Context, id string) (slack.User, error) {
	fits := fitsFor[slack.User](ctx, d.now(), d.userTTL)
	if !grants.IsFresh(ctx) || d.usersHeld() {
		// See events.go: the event stream vouches for a copy.
		plain := fits
		fits = func(r *read[slack.User]) bool { return plain(r) || d.vouched(id, r) }
	}
	u, err := d.users.get(ctx, id, fits, d.now, func(ctx context.Context) (slack.User, error) {
		u, err := d.api.GetUserInfoContext(ctx, id)
		if err != nil {
			return slack.User{}, err
		}
		return *u, nil
	})
	if err != nil {
		return slack.User{}, fmt.Errorf("users.info %s: %w", id, err)
	}
	return u, nil
}

func (d *Directory) allGroups(ctx context.Context) ([]slack.UserGroup, error) {
	d.mu.Lock()
	kept, l := d.kept, d.listing
	d.mu.Unlock()
	ttl := d.groupTTL
	if isListing(ctx) {
		if kept && !l.at.IsZero() && d.now().Sub(l.at) < keptListingTTL {
			return l.v, nil
		}
		ttl = max(ttl, ListingTTL)
	}
	groups, err := d.groups.get(ctx, "", fitsFor[[]slack.UserGroup](ctx, d.now(), ttl), d.now, func(ctx context.Context) ([]slack.UserGroup, error) {
		return d.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	})
	if err != nil {
		return nil, fmt.Errorf("usergroups.list: %w", err)
	}
	return groups, nil
}

// keptListingTTL is how old a kept group list a listing still uses: a few
// missed refreshes (Slack briefly down) before a listing asks Slack itself.
const keptListingTTL = 5 * ListingTTL

// KeepListing refreshes the group list every ListingTTL until ctx ends, so
// that a listing never calls Slack itself: however many people type /jit
// report or open App Home, the user-group calls stay one a minute, made
// here. A refresh that fails is logged by the caller through onErr and
// tried again at the next tick.
func (d *Directory) KeepListing(ctx context.Context, onErr func(error)) {
	d.mu.Lock()
	d.kept = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.kept = false
		d.mu.Unlock()
	}()
	tick := time.NewTicker(ListingTTL)
	defer tick.Stop()
	for {
		groups, err := d.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
		switch {
		case err == nil:
			d.mu.Lock()
			d.listing = cached[[]slack.UserGroup]{v: groups, at: d.now()}
			d.mu.Unlock()
		case ctx.Err() == nil:
			onErr(fmt.Errorf("usergroups.list: %w", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
