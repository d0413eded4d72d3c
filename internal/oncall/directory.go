package oncall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

var _ grants.Directory = (*Directory)(nil)

const (
	// DefaultTTL is how long an answer is reused. Shifts change on the
	// hour at the finest, so a minute-old answer is current enough, and a
	// burst of commands from one person costs PagerDuty one lookup.
	DefaultTTL = time.Minute
	// defaultLookupTimeout bounds one lookup. "Not on call" is the safe
	// answer (the normal approval path), so a PagerDuty that hangs should
	// delay the requester's reply by seconds, not by the HTTP client's
	// whole timeout.
	defaultLookupTimeout = 5 * time.Second
	// warnEvery is the least time between two warnings about PagerDuty
	// being unreachable: an outage is one event, not one per command.
	warnEvery = time.Minute
)

// Directory wraps a grants.Directory and adds on-call facts (OnCall,
// OnCallSchedules) to every User it returns. Its methods are safe for
// concurrent use.
type Directory struct {
	inner         grants.Directory
	src           Source
	ttl           time.Duration
	lookupTimeout time.Duration
	log           *slog.Logger
	now           func() time.Time // tests move time without sleeping

	mu          sync.Mutex
	cache       map[string]answer // by lower-cased email
	lastSweep   time.Time
	unavailable bool
	lastWarn    time.Time // zero: never warned
	suppressed  int       // failures not logged since lastWarn
	warned      bool      // an outage was logged and its end not yet
}

type answer struct {
	onCall    bool
	schedules []string
	at        time.Time
}

// NewDirectory returns a Directory that asks src about the email of each
// user inner returns and reuses the answer for ttl (zero or less means
// DefaultTTL). Failures are not cached, so the first lookup after
// PagerDuty recovers sees it. A nil log discards.
func NewDirectory(inner grants.Directory, src Source, ttl time.Duration, log *slog.Logger) *Directory {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{
		inner: inner, src: src, ttl: ttl, lookupTimeout: defaultLookupTimeout, log: log,
		now: time.Now, cache: map[string]answer{},
	}
}

// User returns the inner directory's user with OnCall and OnCallSchedules
// filled from the source. Errors of the inner directory come back as they
// are. When the source fails (down, timeout, 5xx, 401, …) the user is still
// returned, with OnCall false and no schedules, so that the rules send the
// request down the normal approval path; Unavailable then reports true.
// Only the caller's own context ending is an error here.
func (d *Directory) User(ctx context.Context, id string) (rules.User, error) {
	u, err := d.inner.User(ctx, id)
	if err != nil {
		return rules.User{}, err
	}
	// Only this package decides these fields, whatever the inner set.
	u.OnCall, u.OnCallSchedules = false, nil
	key := strings.ToLower(strings.TrimSpace(u.Email))
	if key == "" {
		return u, nil // bots and some apps have no email; nothing to match
	}
	if a, ok := d.cached(key); ok {
		u.OnCall, u.OnCallSchedules = a.onCall, slices.Clone(a.schedules)
		return u, nil
	}

	lctx, cancel := context.WithTimeout(ctx, d.lookupTimeout)
	onCall, schedules, err := d.src.OnCall(lctx, u.Email)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about PagerDuty.
			return rules.User{}, fmt.Errorf("on-call lookup for %s: %w", id, context.Cause(ctx))
		}
		d.failed(ctx, err)
		return u, nil
	}
	// Clone before normalizing: the slice belongs to the source.
	schedules = normalize(slices.Clone(schedules))
	d.succeeded(ctx, key, answer{onCall: onCall, schedules: schedules})
	u.OnCall, u.OnCallSchedules = onCall, slices.Clone(schedules)
	return u, nil
}

// Everyone is the inner directory's list of everyone (grants.Roster),
// without on-call status: the lifecycle pass reads only who is
// deactivated. A directory that cannot list everyone says so.
func (d *Directory) Everyone(ctx context.Context) (map[string]rules.User, error) {
	r, ok := d.inner.(grants.Roster)
	if !ok {
		return nil, errors.New("the directory cannot list everyone")
	}
	return r.Everyone(ctx)
}

// GroupMembers is the inner directory's answer, unchanged: being on call
// does not make anyone an approver.
func (d *Directory) GroupMembers(ctx context.Context, handle string) ([]string, error) {
	return d.inner.GroupMembers(ctx, handle)
}

// Unavailable reports whether the last lookup that reached the source
// failed, and stays true until one succeeds. The Slack layer reads it to
// tell a requester that on-call status could not be checked and the normal
// approval path applies. It is one flag for the whole bot, not per user:
// answers served from the cache do not change it.
func (d *Directory) Unavailable() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.unavailable
}

func (d *Directory) cached(key string) (answer, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.cache[key]
	if !ok || d.now().Sub(a.at) >= d.ttl {
		return answer{}, false
	}
	return a, true
}

func (d *Directory) succeeded(ctx context.Context, key string, a answer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	a.at = now
	d.cache[key] = a
	// Drop expired answers once per TTL, so people who asked once do not
	// stay in memory for the life of the process.
	if now.Sub(d.lastSweep) >= d.ttl {
		for k, v := range d.cache {
			if now.Sub(v.at) >= d.ttl {
				delete(d.cache, k)
			}
		}
		d.lastSweep = now
	}
	if d.unavailable && d.warned {
		d.log.InfoContext(ctx, "on-call source reachable again; user.oncall is live")
		d.warned = false
	}
	d.unavailable = false
}

func (d *Directory) failed(ctx context.Context, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unavailable = true
	now := d.now()
	if !d.lastWarn.IsZero() && now.Sub(d.lastWarn) < warnEvery {
		d.suppressed++
		return
	}
	d.log.WarnContext(ctx, "on-call source unreachable; rules see user.oncall == false and requests take the normal approval path",
		"err", err, "suppressed", d.suppressed)
	d.lastWarn, d.suppressed, d.warned = now, 0, true
}
