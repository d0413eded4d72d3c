// Package grantstest holds conformance suites for implementations of the
// interfaces that package grants owns. Each implementation's tests call the
// suite, so all of them promise the same behaviour.
package grantstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// base is the suite's "now". Scheduled times are whole milliseconds apart
// because stores may keep queue times to the millisecond.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const lease = 30 * time.Second

// TestStore checks that a grants.Store keeps records faithfully, makes
// Update a true compare-and-swap, and keeps the scheduler's queues in step
// with Request.Schedule. newStore must return an empty store each time it is
// called; it is called once per subtest.
func TestStore(t *testing.T, newStore func(t *testing.T) grants.Store) {
	t.Run("create and get round trip", func(t *testing.T) {
		s := newStore(t)
		want := fullRequest()
		if err := s.Create(t.Context(), want); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Get(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		assertSame(t, got, want)
	})

	t.Run("create twice is ErrExists", func(t *testing.T) {
		s := newStore(t)
		first := pending("JIT-AAAAA1", base.Add(time.Minute))
		create(t, s, first)
		second := pending("JIT-AAAAA1", base.Add(time.Hour))
		second.Reason = "a different reason entirely"
		if err := s.Create(t.Context(), second); !errors.Is(err, grants.ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists", err)
		}
		assertSame(t, get(t, s, first.ID), first)
		// The failed Create must not have rescheduled the record either.
		assertNextDue(t, s, first.Deadline)
	})

	t.Run("get unknown is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(t.Context(), "JIT-NOSUCH"); !errors.Is(err, grants.ErrNotFound) {
			t.Fatalf("Get = %v, want ErrNotFound", err)
		}
	})

	t.Run("update unknown is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		called := false
		_, err := s.Update(t.Context(), "JIT-NOSUCH", func(*grants.Request) error { called = true; return nil })
		if !errors.Is(err, grants.ErrNotFound) {
			t.Fatalf("Update = %v, want ErrNotFound", err)
		}
		if called {
			t.Errorf("fn was called for an unknown record")
		}
	})

	t.Run("update applies fn and returns what it wrote", func(t *testing.T) {
		s := newStore(t)
		r := active("JIT-AAAAA1", base.Add(time.Hour))
		create(t, s, r)
		for i := 1; i <= 3; i++ {
			got, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error {
				r.Attempts++
				r.LastError = fmt.Sprintf("attempt %d", r.Attempts)
				return nil
			})
			if err != nil {
				t.Fatalf("Update %d: %v", i, err)
			}
			if got.Attempts != i || got.LastError != fmt.Sprintf("attempt %d", i) {
				t.Fatalf("Update %d returned Attempts=%d LastError=%q, want %d", i, got.Attempts, got.LastError, i)
			}
			assertSame(t, get(t, s, r.ID), got)
		}
	})

	t.Run("fn error writes nothing and is returned unchanged", func(t *testing.T) {
		s := newStore(t)
		r := pending("JIT-AAAAA1", base.Add(time.Hour))
		create(t, s, r)
		errNo := errors.New("not allowed")
		got, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error {
			r.State = grants.Denied
			r.Deadline = base // would make it due now
			return errNo
		})
		if !errors.Is(err, errNo) {
			t.Fatalf("Update = %v, want the fn's error", err)
		}
		if got != nil {
			t.Errorf("Update returned a record with an error: %+v", got)
		}
		assertSame(t, get(t, s, r.ID), r)
		assertClaim(t, s, base, nil)
		assertNextDue(t, s, r.Deadline)
	})

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		s := newStore(t)
		r := pending("JIT-AAAAA1", base.Add(time.Hour))
		create(t, s, r)
		const n = 50
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error {
					r.Approvals = append(r.Approvals, grants.Approval{Approver: fmt.Sprintf("U%03d", i), At: base})
					return nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Update: %v", err)
			}
		}
		var got []string
		for _, a := range get(t, s, r.ID).Approvals {
			got = append(got, a.Approver)
		}
		slices.Sort(got)
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("U%03d", i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("approvers after %d concurrent updates:\n got %v\nwant %v", n, got, want)
		}
	})

	t.Run("exactly one concurrent transition wins", func(t *testing.T) {
		s := newStore(t)
		r := pending("JIT-AAAAA1", base.Add(time.Hour))
		create(t, s, r)
		errAlready := errors.New("already decided")
		const n = 50
		var (
			mu      sync.Mutex
			winners []string
			wg      sync.WaitGroup
		)
		for i := range n {
			wg.Go(func() {
				me := fmt.Sprintf("U%03d", i)
				_, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error {
					if r.State != grants.Pending {
						return errAlready
					}
					r.State = grants.Denied
					r.DecidedBy = me
					return nil
				})
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, me)
					mu.Unlock()
				case !errors.Is(err, errAlready):
					t.Errorf("Update by %s: %v, want nil or the fn's error", me, err)
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d transitions succeeded (%v), want exactly 1", len(winners), winners)
		}
		if got := get(t, s, r.ID); got.State != grants.Denied || got.DecidedBy != winners[0] {
			t.Errorf("record: state %s decided by %q, want denied by %s", got.State, got.DecidedBy, winners[0])
		}
	})

	t.Run("pending is due at its deadline", func(t *testing.T) {
		s := newStore(t)
		r := pending("JIT-AAAAA1", base.Add(time.Minute))
		create(t, s, r)
		assertNextDue(t, s, r.Deadline)
		assertClaim(t, s, r.Deadline.Add(-time.Millisecond), nil)
		assertClaim(t, s, r.Deadline, []grants.RequestID{r.ID})
	})

	t.Run("active is due at expiry", func(t *testing.T) {
		s := newStore(t)
		r := active("JIT-AAAAA1", base.Add(time.Hour))
		create(t, s, r)
		assertNextDue(t, s, r.ExpiresAt)
		// The deadline of the pending request it once was is irrelevant now.
		assertClaim(t, s, r.Deadline, nil)
		assertClaim(t, s, r.ExpiresAt.Add(-time.Millisecond), nil)
		assertClaim(t, s, r.ExpiresAt, []grants.RequestID{r.ID})
	})

	t.Run("terminal is never due", func(t *testing.T) {
		s := newStore(t)
		for i, st := range []grants.State{grants.Revoked, grants.Denied, grants.Cancelled, grants.TimedOut, grants.Failed} {
			r := active(grants.RequestID(fmt.Sprintf("JIT-AAAAA%d", i)), base.Add(time.Hour))
			r.State = st
			create(t, s, r)
		}
		assertNextDue(t, s, time.Time{})
		assertClaim(t, s, base.Add(100*365*24*time.Hour), nil)
	})

	t.Run("claim skips what is not yet due", func(t *testing.T) {
		s := newStore(t)
		create(t, s, pending("JIT-AAAAA1", base.Add(time.Millisecond)))
		create(t, s, active("JIT-AAAAA2", base.Add(time.Second)))
		due := active("JIT-AAAAA3", base.Add(-time.Hour))
		create(t, s, due)
		assertClaim(t, s, base, []grants.RequestID{due.ID})
	})

	t.Run("claim is a lease", func(t *testing.T) {
		s := newStore(t)
		r := active("JIT-AAAAA1", base)
		create(t, s, r)
		assertClaim(t, s, base, []grants.RequestID{r.ID})
		assertClaim(t, s, base, nil)
		assertNextDue(t, s, base.Add(lease))
		assertClaim(t, s, base.Add(lease-time.Millisecond), nil)
		// The claimer died: once the lease lapses the record is due again.
		assertClaim(t, s, base.Add(lease), []grants.RequestID{r.ID})
		assertClaim(t, s, base.Add(lease), nil)
	})

	t.Run("claim respects max", func(t *testing.T) {
		s := newStore(t)
		var want []grants.RequestID
		for i := range 5 {
			id := grants.RequestID(fmt.Sprintf("JIT-AAAAA%d", i))
			if i%2 == 0 {
				create(t, s, pending(id, base.Add(-time.Duration(i)*time.Second)))
			} else {
				create(t, s, active(id, base.Add(-time.Duration(i)*time.Second)))
			}
			want = append(want, id)
		}
		if ids := claim(t, s, base, 0); len(ids) != 0 {
			t.Errorf("Claim(max 0) = %v, want none", ids)
		}
		first := claim(t, s, base, 3)
		if len(first) != 3 {
			t.Fatalf("Claim(max 3) = %v, want 3 IDs", first)
		}
		rest := claim(t, s, base, 3)
		if len(rest) != 2 {
			t.Fatalf("second Claim(max 3) = %v, want the 2 left", rest)
		}
		got := append(first, rest...)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("claimed %v, want each of %v once", got, want)
		}
	})

	t.Run("concurrent claims never share an ID", func(t *testing.T) {
		s := newStore(t)
		const records, claimers = 40, 10
		for i := range records {
			create(t, s, active(grants.RequestID(fmt.Sprintf("JIT-A%05d", i)), base.Add(-time.Duration(i)*time.Millisecond)))
		}
		var (
			mu  sync.Mutex
			got []grants.RequestID
			wg  sync.WaitGroup
		)
		for range claimers {
			wg.Go(func() {
				for {
					ids, err := s.Claim(t.Context(), base, lease, 3)
					if err != nil {
						t.Errorf("Claim: %v", err)
						return
					}
					if len(ids) == 0 {
						return
					}
					mu.Lock()
					got = append(got, ids...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		distinct := len(slices.Compact(slices.Clone(got)))
		if len(got) != records || distinct != records {
			t.Errorf("claimed %d IDs (%d distinct), want each of %d exactly once", len(got), distinct, records)
		}
	})

	t.Run("next due is the earliest of both queues", func(t *testing.T) {
		s := newStore(t)
		assertNextDue(t, s, time.Time{})
		create(t, s, pending("JIT-AAAAA1", base.Add(3*time.Minute)))
		assertNextDue(t, s, base.Add(3*time.Minute))
		create(t, s, active("JIT-AAAAA2", base.Add(2*time.Minute)))
		assertNextDue(t, s, base.Add(2*time.Minute))
		create(t, s, pending("JIT-AAAAA3", base.Add(time.Minute)))
		assertNextDue(t, s, base.Add(time.Minute))
		create(t, s, active("JIT-AAAAA4", base.Add(5*time.Minute)))
		assertNextDue(t, s, base.Add(time.Minute))
	})

	t.Run("approval moves a record from deadlines to expiries", func(t *testing.T) {
		s := newStore(t)
		r := pending("JIT-AAAAA1", base.Add(10*time.Minute))
		create(t, s, r)
		expires := base.Add(time.Hour)
		if _, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error {
			r.State = grants.Active
			r.GrantedAt = base
			r.ExpiresAt = expires
			return nil
		}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		assertNextDue(t, s, expires)
		assertClaim(t, s, r.Deadline, nil)
		assertClaim(t, s, expires, []grants.RequestID{r.ID})
	})

	t.Run("update after a claim reschedules at the record's time", func(t *testing.T) {
		s := newStore(t)
		r := active("JIT-AAAAA1", base)
		create(t, s, r)
		assertClaim(t, s, base, []grants.RequestID{r.ID})
		// The worker found it was early and wrote the record back unchanged:
		// the lease is gone and the record is due at its own time.
		if _, err := s.Update(t.Context(), r.ID, func(*grants.Request) error { return nil }); err != nil {
			t.Fatalf("Update: %v", err)
		}
		assertNextDue(t, s, base)
		assertClaim(t, s, base, []grants.RequestID{r.ID})
	})

	t.Run("finished record leaves open and both queues", func(t *testing.T) {
		s := newStore(t)
		r := active("JIT-AAAAA1", base.Add(time.Hour))
		create(t, s, r)
		assertOpen(t, s, r.ID)
		cleanupAt := base.Add(2 * time.Hour)
		update(t, s, r.ID, func(r *grants.Request) {
			r.State = grants.Revoked
			r.RevokedAt = base
			r.CleanupAt = cleanupAt
		})
		// Terminal but with cleanup still due: not finished yet.
		assertOpen(t, s, r.ID)
		assertNextDue(t, s, cleanupAt)
		update(t, s, r.ID, func(r *grants.Request) { r.CleanupAt = time.Time{} })
		assertOpen(t, s)
		assertNextDue(t, s, time.Time{})
		assertClaim(t, s, base.Add(100*365*24*time.Hour), nil)
		if got := get(t, s, r.ID); got.State != grants.Revoked {
			t.Errorf("finished record state %s, want it still readable as revoked", got.State)
		}
	})

	t.Run("open lists unfinished records", func(t *testing.T) {
		s := newStore(t)
		assertOpen(t, s)
		create(t, s, pending("JIT-AAAAA1", base.Add(time.Hour)))
		create(t, s, active("JIT-AAAAA2", base.Add(time.Hour)))
		granting := active("JIT-AAAAA3", time.Time{})
		granting.State = grants.Granting
		create(t, s, granting)
		denied := pending("JIT-AAAAA4", base.Add(time.Hour))
		denied.State = grants.Denied
		create(t, s, denied)
		assertOpen(t, s, "JIT-AAAAA1", "JIT-AAAAA2", "JIT-AAAAA3")

		all, err := s.Open(t.Context())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for _, got := range all {
			if got.ID == "JIT-AAAAA2" {
				assertSame(t, got, active("JIT-AAAAA2", base.Add(time.Hour)))
			}
		}
	})

	t.Run("each open pages through the open records", func(t *testing.T) { testEachOpen(t, newStore) })
	t.Run("open of a person follows their records and roles", func(t *testing.T) { testOpenOf(t, newStore) })

	t.Run("holders follow what each record holds", func(t *testing.T) {
		s := newStore(t)
		member := func(id grants.RequestID, user string, state grants.State) *grants.Request {
			r := active(id, base.Add(time.Hour))
			r.Backend, r.Target, r.Principal, r.State = grants.BackendGroup, "jit-admins", user, state
			return r
		}
		alice := grants.Hold{Backend: grants.BackendGroup, Target: "jit-admins", Principal: "alice"}
		assertHolders(t, s, alice)
		create(t, s, member("JIT-AAAAA1", "alice", grants.Granting))
		create(t, s, member("JIT-AAAAA2", "alice", grants.Pending))
		create(t, s, member("JIT-AAAAA3", "bob", grants.Active))
		dry := member("JIT-AAAAA4", "alice", grants.Active)
		dry.DryRun = true
		create(t, s, dry)
		create(t, s, active("JIT-AAAAA5", base.Add(time.Hour))) // an STS grant holds nothing shared
		assertHolders(t, s, alice, "JIT-AAAAA1")
		update(t, s, "JIT-AAAAA2", func(r *grants.Request) { r.State = grants.Granting })
		update(t, s, "JIT-AAAAA1", func(r *grants.Request) { r.State = grants.Active })
		assertHolders(t, s, alice, "JIT-AAAAA1", "JIT-AAAAA2")
		update(t, s, "JIT-AAAAA1", func(r *grants.Request) { r.State = grants.Revoking })
		assertHolders(t, s, alice, "JIT-AAAAA1", "JIT-AAAAA2")
		update(t, s, "JIT-AAAAA1", func(r *grants.Request) { r.State = grants.Revoked })
		assertHolders(t, s, alice, "JIT-AAAAA2")
		assertHolders(t, s, grants.Hold{Backend: grants.BackendGroup, Target: "jit-admins", Principal: "bob"}, "JIT-AAAAA3")
		dryHold, _ := grants.HoldOf(dry)
		assertHolders(t, s, dryHold, "JIT-AAAAA4")
	})
}

// testOpenOf: a person's view reads their own open records (asked for or
// filed) and those of the roles they name, each once, and follows every
// write: a record that finishes leaves it.
func testOpenOf(t *testing.T, newStore func(t *testing.T) grants.Store) {
	s := newStore(t)
	bob := rules.User{ID: "U0BOB", Name: "bob", Email: "bob@example.com"}
	mk := func(id grants.RequestID, requester rules.User, role string, filer *rules.User) *grants.Request {
		r := pending(id, base.Add(time.Hour))
		r.Requester, r.Role, r.FiledBy = requester, role, filer
		return r
	}
	alice := pending("x", base).Requester
	create(t, s, mk("JIT-AAAAA1", alice, "prod-readonly", nil))
	create(t, s, mk("JIT-AAAAA2", bob, "prod-readonly", nil))
	create(t, s, mk("JIT-AAAAA3", bob, "db-admin", &alice)) // filed by alice
	create(t, s, mk("JIT-AAAAA4", bob, "billing", nil))
	done := mk("JIT-AAAAA5", alice, "billing", nil)
	done.State = grants.Denied
	create(t, s, done)
	assertOpenOf(t, s, alice.ID, nil, "JIT-AAAAA1", "JIT-AAAAA3")
	assertOpenOf(t, s, alice.ID, []string{"prod-readonly"}, "JIT-AAAAA1", "JIT-AAAAA2", "JIT-AAAAA3")
	assertOpenOf(t, s, "U0NOBODY", []string{"billing", "db-admin"}, "JIT-AAAAA3", "JIT-AAAAA4")
	assertOpenOf(t, s, "U0NOBODY", nil)
	update(t, s, "JIT-AAAAA3", func(r *grants.Request) { r.State = grants.Cancelled })
	update(t, s, "JIT-AAAAA2", func(r *grants.Request) { r.State = grants.Active; r.ExpiresAt = base.Add(time.Hour) })
	assertOpenOf(t, s, alice.ID, []string{"prod-readonly", "db-admin"}, "JIT-AAAAA1", "JIT-AAAAA2")
	assertOpenOf(t, s, bob.ID, nil, "JIT-AAAAA2", "JIT-AAAAA4")
}

func assertOpenOf(t *testing.T, s grants.Store, user string, roles []string, want ...grants.RequestID) {
	t.Helper()
	all, err := s.OpenOf(t.Context(), user, roles)
	if err != nil {
		t.Fatalf("OpenOf: %v", err)
	}
	got := sortedIDs(all)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("OpenOf(%s, %v) = %v, want %v", user, roles, got, want)
	}
}

func assertHolders(t *testing.T, s grants.Store, h grants.Hold, want ...grants.RequestID) {
	t.Helper()
	got, err := s.Holders(t.Context(), h)
	if err != nil {
		t.Fatalf("Holders(%+v): %v", h, err)
	}
	ids := sortedIDs(got)
	if !slices.Equal(ids, want) {
		t.Errorf("Holders(%+v) = %v, want %v", h, ids, want)
	}
}

// fullRequest has every field set and times with nanoseconds, to catch a
// store that drops or rounds anything.
func fullRequest() *grants.Request {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return &grants.Request{
		ID:    "JIT-7K3QX2",
		State: grants.Revoking,
		Requester: rules.User{
			ID: "U0ALICE", Name: "alice", Email: "alice@example.com",
			Groups: []string{"sre", "oncall"}, IsGuest: true, Deleted: true,
		},
		Role:              "prod-admin",
		Backend:           grants.BackendSTS,
		Target:            "arn:aws:iam::111111111111:role/prod-admin",
		Principal:         "alice",
		SessionPolicy:     `{"Version":"2012-10-17","Statement":[]}`,
		Duration:          90 * time.Minute,
		Reason:            "fixing INC-42 replica lag <!channel> & more",
		Incident:          "INC-42",
		Rule:              `"sre" in user.groups`,
		AutoApproved:      true,
		ApprovalsRequired: 2,
		CreatedAt:         at,
		Deadline:          at.Add(30 * time.Minute),
		Approvals: []grants.Approval{
			{Approver: "U0BOB", At: at.Add(time.Minute)},
			{Approver: "U0CAROL", At: at.Add(2 * time.Minute)},
		},
		DecidedBy:    "U0CAROL",
		DecidedAt:    at.Add(2 * time.Minute),
		DenyReason:   "none",
		GrantedAt:    at.Add(3 * time.Minute),
		ExpiresAt:    at.Add(93 * time.Minute),
		SessionName:  "jit-alice-JIT-7K3QX2",
		AccessKeyID:  "ASIAEXAMPLE",
		CredsExpire:  at.Add(95 * time.Minute),
		RevokedAt:    at.Add(94 * time.Minute),
		RevokedBy:    "U0ALICE",
		RevokeReason: "revoked by requester",
		CleanupAt:    at.Add(100 * time.Minute),
		Failure:      "none yet",
		Attempts:     3,
		LastError:    "throttled",
		NextAttempt:  at.Add(96 * time.Minute),
		LeaseUntil:   at.Add(97 * time.Minute),
	}
}

func pending(id grants.RequestID, deadline time.Time) *grants.Request {
	return &grants.Request{
		ID:                id,
		State:             grants.Pending,
		Requester:         rules.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"},
		Role:              "prod-readonly",
		Backend:           grants.BackendSTS,
		Target:            "arn:aws:iam::111111111111:role/prod-readonly",
		Duration:          time.Hour,
		Reason:            "investigating INC-42",
		Rule:              "true",
		ApprovalsRequired: 1,
		CreatedAt:         deadline.Add(-30 * time.Minute),
		Deadline:          deadline,
	}
}

// active is a granted record expiring at expires; its old deadline lies
// before base so that a store indexing the wrong field would show it due.
func active(id grants.RequestID, expires time.Time) *grants.Request {
	r := pending(id, base.Add(-2*time.Hour))
	r.State = grants.Active
	r.Approvals = []grants.Approval{{Approver: "U0BOB", At: base.Add(-3 * time.Hour)}}
	if !expires.IsZero() {
		r.GrantedAt = expires.Add(-time.Hour)
		r.ExpiresAt = expires
	}
	return r
}

func create(t *testing.T, s grants.Store, r *grants.Request) {
	t.Helper()
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatalf("Create %s: %v", r.ID, err)
	}
}

func get(t *testing.T, s grants.Store, id grants.RequestID) *grants.Request {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return r
}

func update(t *testing.T, s grants.Store, id grants.RequestID, fn func(*grants.Request)) {
	t.Helper()
	if _, err := s.Update(t.Context(), id, func(r *grants.Request) error { fn(r); return nil }); err != nil {
		t.Fatalf("Update %s: %v", id, err)
	}
}

func claim(t *testing.T, s grants.Store, now time.Time, max int) []grants.RequestID {
	t.Helper()
	ids, err := s.Claim(t.Context(), now, lease, max)
	if err != nil {
		t.Fatalf("Claim(%v): %v", now, err)
	}
	return ids
}

func assertClaim(t *testing.T, s grants.Store, now time.Time, want []grants.RequestID) {
	t.Helper()
	got := claim(t, s, now, 100)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Claim at %s = %v, want %v", now.Sub(base), got, want)
	}
}

func assertNextDue(t *testing.T, s grants.Store, want time.Time) {
	t.Helper()
	got, err := s.NextDue(t.Context())
	if err != nil {
		t.Fatalf("NextDue: %v", err)
	}
	if !got.Equal(want) {
		t.Errorf("NextDue = %v, want %v", got, want)
	}
}

// sortedIDs are the IDs of rs, sorted.
func sortedIDs(rs []*grants.Request) []grants.RequestID {
	ids := make([]grants.RequestID, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

func assertOpen(t *testing.T, s grants.Store, want ...grants.RequestID) {
	t.Helper()
	all, err := s.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := sortedIDs(all)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Open = %v, want %v", got, want)
	}
}

// assertSame compares two records field by field, showing both as JSON
// when they differ. Times must be equal instants in the same zone.
func assertSame(t *testing.T, got, want *grants.Request) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	t.Errorf("record differs:\n got %s\nwant %s", g, w)
}
