package oncall

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
	"github.com/jitbot/jitbot/internal/rules"
)

// innerDir is a hand-written grants.Directory: users by ID and group
// members by handle.
type innerDir struct {
	users   map[string]rules.User
	members map[string][]string
	err     error
}

func (d *innerDir) User(_ context.Context, id string) (rules.User, error) {
	if d.err != nil {
		return rules.User{}, d.err
	}
	u, ok := d.users[id]
	if !ok {
		return rules.User{}, errors.New("users.info " + id + ": user_not_found")
	}
	return u, nil
}

func (d *innerDir) GroupMembers(_ context.Context, handle string) ([]string, error) {
	if d.err != nil {
		return nil, d.err
	}
	return d.members[handle], nil
}

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuf collects log lines so tests can count warnings.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func (b *logBuf) count(level, msg string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for line := range strings.Lines(b.buf.String()) {
		if strings.Contains(line, "level="+level) && strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

type fixture struct {
	pd    *pagerdutyfake.Server
	dir   *Directory
	clock *clock
	logs  *logBuf
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pd := pagerdutyfake.Start(t)
	pd.AddUser("PALICE", "Alice", "alice@example.com")
	pd.AddUser("PBOB", "Bob", "bob@example.com")
	inner := &innerDir{
		users: map[string]rules.User{
			"UALICE": {ID: "UALICE", Name: "alice", Email: "Alice@example.com", Groups: []string{"sre"}},
			"UBOB":   {ID: "UBOB", Name: "bob", Email: "bob@example.com"},
			"UCAROL": {ID: "UCAROL", Name: "carol", Email: "carol@example.com"},
			"UBOT":   {ID: "UBOT", Name: "deploybot", IsBot: true},
		},
		members: map[string][]string{"platform-leads": {"UBOB", "UCAROL"}},
	}
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	d := NewDirectory(inner, NewPagerDuty(pd.URL(), pd.Token(), nil, log), 0, log)
	d.now = clk.Now
	return fixture{pd: pd, dir: d, clock: clk, logs: logs}
}

func (f fixture) user(t *testing.T, id string) rules.User {
	t.Helper()
	u, err := f.dir.User(t.Context(), id)
	if err != nil {
		t.Fatalf("User(%s): %v", id, err)
	}
	return u
}

func TestDirectoryFillsOnCall(t *testing.T) {
	f := newFixture(t)
	f.pd.SetOnCall("PALICE", "Primary", "Database")
	f.pd.SetOnCall("PBOB") // escalation policy only

	tests := []struct {
		id        string
		want      bool
		schedules []string
	}{
		{id: "UALICE", want: true, schedules: []string{"Database", "Primary"}},
		{id: "UBOB", want: true},
		{id: "UCAROL", want: false}, // not in PagerDuty at all
		{id: "UBOT", want: false},   // no email: not looked up
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			u := f.user(t, tt.id)
			if u.ID != tt.id || u.OnCall != tt.want || !slices.Equal(u.OnCallSchedules, tt.schedules) {
				t.Errorf("User(%s) = %+v; want oncall %v, schedules %q", tt.id, u, tt.want, tt.schedules)
			}
		})
	}
	// The rest of the inner user passes through.
	if u := f.user(t, "UALICE"); u.Name != "alice" || !slices.Equal(u.Groups, []string{"sre"}) {
		t.Errorf("User(UALICE) = %+v, lost the inner directory's fields", u)
	}
	if f.dir.Unavailable() {
		t.Error("Unavailable() after successful lookups")
	}
}

func TestDirectoryCachesForTTL(t *testing.T) {
	f := newFixture(t)
	f.pd.SetOnCall("PALICE", "Primary")

	if u := f.user(t, "UALICE"); !u.OnCall {
		t.Fatalf("User(UALICE) = %+v, want on call", u)
	}
	calls := f.pd.Calls()

	// Alice's shift ends, but within the TTL the answer is reused.
	f.pd.ClearOnCall("PALICE")
	f.clock.Add(DefaultTTL - time.Second)
	u := f.user(t, "UALICE")
	if !u.OnCall || !slices.Equal(u.OnCallSchedules, []string{"Primary"}) {
		t.Errorf("within TTL: User(UALICE) = %+v, want the cached answer", u)
	}
	if c := f.pd.Calls(); c != calls {
		t.Errorf("within TTL PagerDuty saw %d more calls, want 0", c-calls)
	}

	// A caller that changes the slice it got must not change the cache.
	u.OnCallSchedules[0] = "Tampered"
	if u := f.user(t, "UALICE"); !slices.Equal(u.OnCallSchedules, []string{"Primary"}) {
		t.Errorf("cache changed through a returned slice: %q", u.OnCallSchedules)
	}

	// After the TTL PagerDuty is asked again and the end of the shift shows.
	f.clock.Add(time.Second)
	if u := f.user(t, "UALICE"); u.OnCall || u.OnCallSchedules != nil {
		t.Errorf("after TTL: User(UALICE) = %+v, want off call", u)
	}
	if c := f.pd.Calls(); c <= calls {
		t.Errorf("after TTL PagerDuty saw no new call")
	}
}

func TestDirectoryPagerDutyDown(t *testing.T) {
	f := newFixture(t)
	f.pd.SetOnCall("PALICE", "Primary")
	f.pd.SetOnCall("PBOB", "Secondary")
	if u := f.user(t, "UBOB"); !u.OnCall { // cached before the outage
		t.Fatalf("User(UBOB) = %+v, want on call", u)
	}
	f.pd.Down(true)

	for range 3 {
		u := f.user(t, "UALICE")
		if u.OnCall || u.OnCallSchedules != nil {
			t.Errorf("PagerDuty down: User(UALICE) = %+v, want oncall false and no schedules", u)
		}
		if u.ID != "UALICE" || u.Email != "Alice@example.com" || !slices.Equal(u.Groups, []string{"sre"}) {
			t.Errorf("PagerDuty down: User(UALICE) = %+v, want the inner user", u)
		}
	}
	if !f.dir.Unavailable() {
		t.Error("Unavailable() = false while PagerDuty is down")
	}
	// An answer cached before the outage is still served within its TTL.
	if u := f.user(t, "UBOB"); !u.OnCall {
		t.Errorf("User(UBOB) = %+v, want the cached on-call answer", u)
	}
	// Failures are not cached: each lookup tries PagerDuty again, but the
	// outage is logged once per minute, not once per lookup.
	const warnMsg = "on-call source unreachable"
	if n := f.logs.count("WARN", warnMsg); n != 1 {
		t.Errorf("%d warnings for 3 failures within a minute, want 1", n)
	}
	f.clock.Add(warnEvery)
	f.user(t, "UALICE")
	if n := f.logs.count("WARN", warnMsg); n != 2 {
		t.Errorf("%d warnings a minute into the outage, want 2", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "suppressed=2") {
		t.Errorf("second warning does not count the 2 failures it stood for:\n%s", logs)
	}

	// Recovery shows at the next lookup, with no TTL to wait out.
	f.pd.Down(false)
	u := f.user(t, "UALICE")
	if !u.OnCall || !slices.Equal(u.OnCallSchedules, []string{"Primary"}) {
		t.Errorf("after recovery: User(UALICE) = %+v, want on call for Primary", u)
	}
	if f.dir.Unavailable() {
		t.Error("Unavailable() = true after a successful lookup")
	}
	if n := f.logs.count("INFO", "on-call source reachable again"); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}

func TestDirectoryWrongTokenIsUnavailable(t *testing.T) {
	pd := pagerdutyfake.Start(t)
	pd.AddUser("PALICE", "Alice", "alice@example.com")
	pd.SetOnCall("PALICE", "Primary")
	inner := &innerDir{users: map[string]rules.User{"UALICE": {ID: "UALICE", Email: "alice@example.com"}}}
	d := NewDirectory(inner, NewPagerDuty(pd.URL(), "revoked", nil, nil), 0, nil)
	u, err := d.User(t.Context(), "UALICE")
	if err != nil || u.ID != "UALICE" || u.OnCall {
		t.Errorf("User = %+v, %v; want the user, not on call, no error", u, err)
	}
	if !d.Unavailable() {
		t.Error("Unavailable() = false with a token PagerDuty refuses")
	}
}

// hangingSource never answers until its context ends.
type hangingSource struct{}

func (hangingSource) OnCall(ctx context.Context, _ string) (bool, []string, error) {
	<-ctx.Done()
	return false, nil, ctx.Err()
}

func TestDirectoryBoundsAHangingSource(t *testing.T) {
	inner := &innerDir{users: map[string]rules.User{"UALICE": {ID: "UALICE", Email: "alice@example.com"}}}
	d := NewDirectory(inner, hangingSource{}, 0, nil)
	d.lookupTimeout = 20 * time.Millisecond

	u, err := d.User(t.Context(), "UALICE")
	if err != nil || u.ID != "UALICE" || u.OnCall {
		t.Errorf("User = %+v, %v; want the user, not on call, no error", u, err)
	}
	if !d.Unavailable() {
		t.Error("Unavailable() = false after the lookup timed out")
	}
}

// TestDirectoryCallerGivesUp: the caller's own context ending is an error
// for the caller, and says nothing about PagerDuty.
func TestDirectoryCallerGivesUp(t *testing.T) {
	inner := &innerDir{users: map[string]rules.User{"UALICE": {ID: "UALICE", Email: "alice@example.com"}}}
	d := NewDirectory(inner, hangingSource{}, 0, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()

	if _, err := d.User(ctx, "UALICE"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("User err = %v, want context.DeadlineExceeded", err)
	}
	if d.Unavailable() {
		t.Error("Unavailable() = true because the caller gave up")
	}
}

// countingSource answers from a map and counts calls.
type countingSource struct {
	mu    sync.Mutex
	calls int
	ans   map[string][]string
}

func (s *countingSource) OnCall(_ context.Context, email string) (bool, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	names, ok := s.ans[email]
	return ok, names, nil
}

// TestDirectoryNormalizesSource: another Source may not sort; the rules
// always see sorted names without repeats, and the source's slice is not
// touched.
func TestDirectoryNormalizesSource(t *testing.T) {
	raw := []string{"b", "a", "b"}
	src := &countingSource{ans: map[string][]string{"alice@example.com": raw}}
	inner := &innerDir{users: map[string]rules.User{
		"UALICE": {ID: "UALICE", Email: "alice@example.com"},
		"UALIAS": {ID: "UALIAS", Email: " ALICE@example.com "}, // same person by email
	}}
	d := NewDirectory(inner, src, 0, nil)
	u, err := d.User(t.Context(), "UALICE")
	if err != nil || !slices.Equal(u.OnCallSchedules, []string{"a", "b"}) {
		t.Errorf("User = %+v, %v; want schedules [a b]", u, err)
	}
	if !slices.Equal(raw, []string{"b", "a", "b"}) {
		t.Errorf("source's slice changed to %q", raw)
	}
	// The cache key is the email without case or spaces.
	if u, _ := d.User(t.Context(), "UALIAS"); !u.OnCall || src.calls != 1 {
		t.Errorf("User(UALIAS) = %+v after %d source calls; want the cached answer", u, src.calls)
	}
}

func TestDirectoryInnerErrorsPassThrough(t *testing.T) {
	boom := errors.New("slack is down")
	src := &countingSource{}
	d := NewDirectory(&innerDir{err: boom}, src, 0, nil)
	if _, err := d.User(t.Context(), "UALICE"); !errors.Is(err, boom) {
		t.Errorf("User err = %v, want the inner error", err)
	}
	if _, err := d.GroupMembers(t.Context(), "sre"); !errors.Is(err, boom) {
		t.Errorf("GroupMembers err = %v, want the inner error", err)
	}
	if src.calls != 0 {
		t.Errorf("source asked %d times for a user the directory could not find", src.calls)
	}
}

func TestDirectoryGroupMembersPassThrough(t *testing.T) {
	f := newFixture(t)
	got, err := f.dir.GroupMembers(t.Context(), "platform-leads")
	if err != nil || !slices.Equal(got, []string{"UBOB", "UCAROL"}) {
		t.Errorf("GroupMembers = %q, %v; want [UBOB UCAROL]", got, err)
	}
	if c := f.pd.Calls(); c != 0 {
		t.Errorf("GroupMembers called PagerDuty %d times", c)
	}
}

// TestDirectoryConcurrent is for the race detector: lookups, cache hits and
// Unavailable from many goroutines while PagerDuty flaps.
func TestDirectoryConcurrent(t *testing.T) {
	f := newFixture(t)
	f.pd.SetOnCall("PALICE", "Primary")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if i%5 == 0 {
				f.pd.Down(i%10 == 0)
				f.clock.Add(DefaultTTL)
			}
			_, err := f.dir.User(t.Context(), []string{"UALICE", "UBOB", "UCAROL"}[i%3])
			if err != nil {
				t.Error(err)
			}
			f.dir.Unavailable()
		})
	}
	wg.Wait()
}

// rosterDir is an innerDir that lists everyone at once.
type rosterDir struct{ *innerDir }

func (d rosterDir) Everyone(context.Context) (map[string]rules.User, error) { return d.users, nil }

// TestEveryonePassesThrough: the lifecycle pass lists everyone through the
// on-call directory when the one inside can; when it cannot, it says so,
// and the pass asks for each requester.
func TestEveryonePassesThrough(t *testing.T) {
	inner := &innerDir{users: map[string]rules.User{"UGONE": {ID: "UGONE", Deleted: true}}}
	everyone, err := NewDirectory(rosterDir{inner}, hangingSource{}, 0, nil).Everyone(t.Context())
	if err != nil || !everyone["UGONE"].Deleted {
		t.Errorf("Everyone = %v, %v; want the inner directory's list", everyone, err)
	}
	if _, err := NewDirectory(inner, hangingSource{}, 0, nil).Everyone(t.Context()); err == nil {
		t.Error("Everyone over a directory that cannot list everyone answered without error")
	}
}
