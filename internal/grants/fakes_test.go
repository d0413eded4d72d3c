package grants_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// memStore is an in-memory grants.Store for unit tests. It passes the same
// conformance suite as the Redis store (see TestMemStore).
type memStore struct {
	mu   sync.Mutex
	recs map[grants.RequestID][]byte
	due  map[grants.RequestID]time.Time
	// syncErr is what Sync answers, as a store whose replica is away would.
	syncErr error
	// refuseOpen makes Open fail, as the service's tests set it: at
	// 100,000 open records Open holds hundreds of megabytes, so the
	// service reads every open record a page at a time (EachOpen).
	refuseOpen bool
}

func (m *memStore) Sync(context.Context, *grants.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncErr
}

func newMemStore() *memStore {
	return &memStore{recs: map[grants.RequestID][]byte{}, due: map[grants.RequestID]time.Time{}}
}

func (m *memStore) put(r *grants.Request) {
	b, _ := json.Marshal(r)
	m.recs[r.ID] = b
	if _, at := r.Schedule(); at.IsZero() {
		delete(m.due, r.ID)
	} else {
		m.due[r.ID] = at
	}
}

func (m *memStore) Create(_ context.Context, r *grants.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[r.ID]; ok {
		return grants.ErrExists
	}
	m.put(r)
	return nil
}

func (m *memStore) Get(_ context.Context, id grants.RequestID) (*grants.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.recs[id]
	if !ok {
		return nil, grants.ErrNotFound
	}
	var r grants.Request
	return &r, json.Unmarshal(b, &r)
}

func (m *memStore) Update(ctx context.Context, id grants.RequestID, fn func(*grants.Request) error) (*grants.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.recs[id]
	if !ok {
		return nil, grants.ErrNotFound
	}
	var r grants.Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if err := fn(&r); err != nil {
		return nil, err
	}
	m.put(&r)
	return &r, nil
}

func (m *memStore) Open(ctx context.Context) ([]*grants.Request, error) {
	if m.refuseOpen {
		return nil, errors.New("memStore: Open reads every open record at once; read them a page at a time (EachOpen)")
	}
	return m.open(ctx)
}

func (m *memStore) open(context.Context) ([]*grants.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*grants.Request
	for _, b := range m.recs {
		var r grants.Request
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		if _, at := r.Schedule(); !r.State.Terminal() || !at.IsZero() {
			out = append(out, &r)
		}
	}
	return out, nil
}

func (m *memStore) Claim(_ context.Context, now time.Time, lease time.Duration, max int) ([]grants.RequestID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []grants.RequestID
	for id, at := range m.due {
		if len(ids) == max {
			break
		}
		if !at.After(now) {
			ids = append(ids, id)
			m.due[id] = now.Add(lease)
		}
	}
	return ids, nil
}

// EachOpen hands out one record a page, so that a caller that kept
// nothing across pages is seen to.
func (m *memStore) EachOpen(ctx context.Context, fn func([]*grants.Request) error) error {
	open, err := m.open(ctx)
	if err != nil {
		return err
	}
	for _, r := range open {
		if err := fn([]*grants.Request{r}); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) OpenOf(ctx context.Context, userID string, roles []string) ([]*grants.Request, error) {
	open, err := m.open(ctx)
	return slices.DeleteFunc(open, func(r *grants.Request) bool {
		mine := r.Requester.ID == userID || r.FiledBy != nil && r.FiledBy.ID == userID
		return !mine && !slices.Contains(roles, r.Role)
	}), err
}

func (m *memStore) Holders(ctx context.Context, h grants.Hold) ([]*grants.Request, error) {
	open, err := m.open(ctx)
	return slices.DeleteFunc(open, func(r *grants.Request) bool {
		rh, live := grants.HoldOf(r)
		return !live || rh != h
	}), err
}

func (m *memStore) NextDue(context.Context) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, at := range m.due {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, nil
}

// fakeBackend records calls and fails while told to.
type fakeBackend struct {
	mu       sync.Mutex
	grants   int
	revokes  int
	cleanups int
	holders  map[grants.RequestID]bool // who has access right now
	issued   []grants.Grant            // every Grant call's grant, in order
	failNext int                       // fail this many calls
	grantErr error
	revokeAt time.Time // CleanupAt to return from Revoke
	// groups is group membership as AWS would have it, for reconciliation:
	// Grant adds the principal, Revoke removes it.
	groups map[string][]string
	// onRevoke runs once at the start of Revoke, before the removal, to
	// interleave other work with it.
	onRevoke func()
	// onMembers runs once after Members has read the group, before it
	// answers, to change things behind the answer's back.
	onMembers func()
}

func (b *fakeBackend) Members(_ context.Context, group string) ([]string, error) {
	b.mu.Lock()
	members := slices.Clone(b.groups[group])
	f := b.onMembers
	b.onMembers = nil
	b.mu.Unlock()
	if f != nil {
		f()
	}
	return members, nil
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{holders: map[grants.RequestID]bool{}, groups: map[string][]string{}}
}

var errAWSDown = errors.New("aws unreachable")

func (b *fakeBackend) fail() bool {
	if b.failNext > 0 {
		b.failNext--
		return true
	}
	return false
}

func (b *fakeBackend) Grant(_ context.Context, g grants.Grant) (grants.Issued, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.grants++
	b.issued = append(b.issued, g)
	if b.grantErr != nil {
		return grants.Issued{}, b.grantErr
	}
	if b.fail() {
		return grants.Issued{}, errAWSDown
	}
	b.holders[g.RequestID] = true
	if g.Principal != "" && !slices.Contains(b.groups[g.Target], g.Principal) {
		b.groups[g.Target] = append(b.groups[g.Target], g.Principal)
	}
	return grants.Issued{
		Credentials: &grants.Credentials{AccessKeyID: "ASIAFAKE", SecretAccessKey: "s3cr3t-key", SessionToken: "s3cr3t-token", Expiration: g.Expires},
		CredsExpire: g.Expires,
	}, nil
}

func (b *fakeBackend) Revoke(_ context.Context, g grants.Grant) (grants.Revocation, error) {
	b.mu.Lock()
	if f := b.onRevoke; f != nil {
		// Work that lands just before AWS carries out the removal.
		b.onRevoke = nil
		b.mu.Unlock()
		f()
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	b.revokes++
	if b.fail() {
		return grants.Revocation{}, errAWSDown
	}
	delete(b.holders, g.RequestID)
	if g.Principal != "" {
		b.groups[g.Target] = slices.DeleteFunc(b.groups[g.Target], func(p string) bool { return p == g.Principal })
	}
	return grants.Revocation{CleanupAt: b.revokeAt}, nil
}

func (b *fakeBackend) Cleanup(context.Context, grants.Grant) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups++
	return nil
}

func (b *fakeBackend) counts() (grantCalls, revokeCalls, holders int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.grants, b.revokes, len(b.holders)
}

// fakeDirectory is a static, editable directory.
type fakeDirectory struct {
	mu     sync.Mutex
	users  map[string]rules.User
	groups map[string][]string
}

func (d *fakeDirectory) User(_ context.Context, id string) (rules.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return rules.User{}, errors.New("users.info: user_not_found")
	}
	u.Groups = slices.Clone(u.Groups)
	return u, nil
}

func (d *fakeDirectory) GroupMembers(_ context.Context, handle string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.groups[handle]), nil
}

func (d *fakeDirectory) edit(fn func(d *fakeDirectory)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
