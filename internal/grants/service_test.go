package grants_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
	"github.com/jitbot/jitbot/internal/rules"
)

const testCatalog = `
defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  prod-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-readonly
    approvers: [UAPPROVER1, "@platform-leads"]
    eligible: 'user.email.endsWith("@example.com")'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email.split("@")[0]'
    max_duration: 2h
    approvers: ["@platform-leads"]
    approvals_required: 2
    eligible: '"sre" in user.groups'
`

type env struct {
	svc     *grants.Service
	store   *memStore
	backend *fakeBackend
	dir     *fakeDirectory
	events  *grantstest.Recorder
	clock   *clock
	catalog *rules.Catalog
	roster  *rosterDirectory // set before serviceOn to list everyone at once
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cat := parseCatalog(t, testCatalog)
	e := &env{
		store:   &memStore{recs: map[grants.RequestID][]byte{}, due: map[grants.RequestID]time.Time{}, refuseOpen: true},
		backend: newFakeBackend(),
		events:  &grantstest.Recorder{},
		clock:   &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		dir: &fakeDirectory{
			users: map[string]rules.User{
				"UALICE":     {ID: "UALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"sre"}},
				"UBOB":       {ID: "UBOB", Name: "bob", Email: "bob@example.com", Groups: []string{"sre", "oncall"}},
				"UGUEST":     {ID: "UGUEST", Name: "guest", Email: "guest@example.com", IsGuest: true},
				"UGONE":      {ID: "UGONE", Name: "gone", Email: "gone@example.com", Deleted: true},
				"UOUTSIDER":  {ID: "UOUTSIDER", Name: "eve", Email: "eve@elsewhere.org"},
				"UAPPROVER1": {ID: "UAPPROVER1", Name: "carol", Email: "carol@example.com"},
				"ULEAD1":     {ID: "ULEAD1", Name: "dan", Email: "dan@example.com"},
				"ULEAD2":     {ID: "ULEAD2", Name: "erin", Email: "erin@example.com"},
			},
			groups: map[string][]string{"platform-leads": {"ULEAD1", "ULEAD2", "UALICE"}},
		},
	}
	e.catalog = cat
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	return e
}

// serviceOn is another process of e's deployment: same catalog, directory
// and clock, with its own view of the store, notifiers and AWS.
func (e *env) serviceOn(t *testing.T, store grants.Store, n grants.Notifier, b grants.Backend) *grants.Service {
	t.Helper()
	svc, err := grants.New(grants.Options{
		Store:     store,
		Backends:  map[string]grants.Backend{grants.BackendSTS: b, grants.BackendGroup: b, grants.BackendSSO: b, grants.BackendSSOGroup: b},
		Directory: e.directory(),
		Notifier:  n,
		Catalog:   e.catalog,
		Now:       e.clock.Now,
		Lease:     30 * time.Second,
		RetryBase: time.Second,
		RetryMax:  time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// directory is what e's services ask who people are: the roster when a
// test set one, else the plain fake.
func (e *env) directory() grants.Directory {
	if e.roster != nil {
		return e.roster
	}
	return e.dir
}

func (e *env) request(t *testing.T, user, role string) *grants.Request {
	t.Helper()
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: user, Role: role, Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	if err != nil {
		t.Fatalf("request %s by %s: %v", role, user, err)
	}
	return r
}

// runDue advances the clock and runs the scheduler once.
func (e *env) runDue(t *testing.T, d time.Duration) {
	t.Helper()
	e.clock.Advance(d)
	if _, err := e.svc.RunDue(t.Context()); err != nil {
		t.Fatalf("run due: %v", err)
	}
}

func wantUserError(t *testing.T, err, class error, msgPart string) {
	t.Helper()
	var ue *grants.UserError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want a *UserError", err)
	}
	if !errors.Is(err, class) {
		t.Errorf("err = %v, want class %v", err, class)
	}
	if !strings.Contains(ue.Msg, msgPart) {
		t.Errorf("message %q does not contain %q", ue.Msg, msgPart)
	}
}

func TestMemStore(t *testing.T) {
	grantstest.TestStore(t, func(t *testing.T) grants.Store { return newMemStore() })
}

func TestRequestValidation(t *testing.T) {
	tests := []struct {
		name    string
		in      grants.RequestInput
		class   error
		wantMsg string
	}{
		{name: "unknown role", in: grants.RequestInput{UserID: "UALICE", Role: "prod-root", Reason: "fixing INC-42 replica lag"}, class: grants.ErrUnknownRole, wantMsg: `there is no role "prod-root"`},
		{name: "too long", in: grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Duration: 3 * time.Hour, Reason: "fixing INC-42 replica lag"}, class: grants.ErrInvalidInput, wantMsg: "duration 3h exceeds prod-admin's max of 2h"},
		{name: "too short", in: grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Duration: 30 * time.Second, Reason: "fixing INC-42 replica lag"}, class: grants.ErrInvalidInput, wantMsg: "shorter than the minimum of 1m"},
		{name: "reason too short", in: grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Reason: "  fix it  "}, class: grants.ErrInvalidInput, wantMsg: "at least 10 characters"},
		{name: "reason too long", in: grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Reason: strings.Repeat("x", 501)}, class: grants.ErrInvalidInput, wantMsg: "longer than 500"},
		{name: "incident too long", in: grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Reason: "fixing INC-42 replica lag", Incident: strings.Repeat("I", 101)}, class: grants.ErrInvalidInput, wantMsg: "incident reference"},
		{name: "ineligible", in: grants.RequestInput{UserID: "UOUTSIDER", Role: "prod-readonly", Reason: "fixing INC-42 replica lag"}, class: grants.ErrIneligible, wantMsg: "not eligible for prod-readonly"},
		{name: "guest", in: grants.RequestInput{UserID: "UGUEST", Role: "prod-readonly", Reason: "fixing INC-42 replica lag"}, class: grants.ErrIneligible, wantMsg: "prod-readonly is not open to guests or people from other organisations"},
		{name: "deleted", in: grants.RequestInput{UserID: "UGONE", Role: "prod-readonly", Reason: "fixing INC-42 replica lag"}, class: grants.ErrIneligible, wantMsg: "deactivated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.svc.Request(t.Context(), tt.in)
			wantUserError(t, err, tt.class, tt.wantMsg)
			if open, _ := e.store.open(t.Context()); len(open) != 0 {
				t.Errorf("a refused request left %d records", len(open))
			}
		})
	}
}

func TestRequestDefaultsAndRecord(t *testing.T) {
	e := newEnv(t)
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-admin", Reason: "  fixing INC-42 replica lag  "})
	if err != nil {
		t.Fatal(err)
	}
	if r.Duration != time.Hour || r.State != grants.Pending || r.Principal != "alice" || r.Target != "jit-prod-admin" ||
		r.Reason != "fixing INC-42 replica lag" || r.ApprovalsRequired != 2 || r.Rule != `"sre" in user.groups` ||
		!r.Deadline.Equal(e.clock.Now().Add(30*time.Minute)) {
		t.Errorf("record = %+v", r)
	}
	if !strings.HasPrefix(string(r.ID), "JIT-") || len(r.ID) != 10 {
		t.Errorf("ID = %q, want JIT-XXXXXX", r.ID)
	}
	if got := e.events.Types(r.ID); !slices.Equal(got, []grants.EventType{grants.EventRequested}) {
		t.Errorf("events = %v", got)
	}
}

// TestExpiryPrecision: an aws_sts grant ends on a whole second, as its
// session policy states it; an aws_iam_group grant ends when its duration
// is up, to the millisecond, and is revoked then, not at the next second.
func TestExpiryPrecision(t *testing.T) {
	e := newEnv(t)
	e.clock.Advance(1234567891 * time.Nanosecond) // 10:00:01.234567891
	sts := e.request(t, "UALICE", "prod-readonly")
	sts, err := e.svc.Approve(t.Context(), sts.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 23, 11, 0, 2, 0, time.UTC); !sts.ExpiresAt.Equal(want) {
		t.Errorf("aws_sts grant expires %v, want %v (rounded up to the second)", sts.ExpiresAt, want)
	}
	group := e.request(t, "UALICE", "prod-admin")
	for _, approver := range []string{"ULEAD1", "ULEAD2"} {
		if group, err = e.svc.Approve(t.Context(), group.ID, approver); err != nil {
			t.Fatal(err)
		}
	}
	want := time.Date(2026, 11, 23, 11, 0, 1, 235_000_000, time.UTC)
	if group.State != grants.Active || !group.ExpiresAt.Equal(want) {
		t.Fatalf("aws_iam_group grant: state %s, expires %v; want active, expiring %v (rounded up to the millisecond)", group.State, group.ExpiresAt, want)
	}
	e.runDue(t, want.Sub(e.clock.Now())-time.Millisecond)
	if r, _ := e.store.Get(t.Context(), group.ID); r.State != grants.Active {
		t.Fatalf("a millisecond before its expiry the group grant is %s", r.State)
	}
	e.runDue(t, time.Millisecond)
	if r, _ := e.store.Get(t.Context(), group.ID); r.State != grants.Revoked {
		t.Errorf("at its expiry (%v) the group grant is %s, want revoked", e.clock.Now(), r.State)
	}
}

func TestApproveGrantsAndExpiryRevokes(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-readonly")
	e.clock.Advance(time.Minute)
	r, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != grants.Active || !r.GrantedAt.Equal(e.clock.Now()) || !r.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("after approve: state %s granted %v expires %v", r.State, r.GrantedAt, r.ExpiresAt)
	}
	e.runDue(t, 59*time.Minute)
	if _, revokes, holders := e.backend.counts(); revokes != 0 || holders != 1 {
		t.Fatalf("revoked before expiry: revokes=%d holders=%d", revokes, holders)
	}
	e.runDue(t, time.Minute)
	got, _ := e.svc.Get(t.Context(), r.ID)
	if got.State != grants.Revoked || got.RevokeReason != grants.ReasonExpired {
		t.Errorf("after expiry: state %s reason %q", got.State, got.RevokeReason)
	}
	if grantCalls, revokes, holders := e.backend.counts(); grantCalls != 1 || revokes != 1 || holders != 0 {
		t.Errorf("grants=%d revokes=%d holders=%d, want 1 1 0", grantCalls, revokes, holders)
	}
	want := []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventExpiring, grants.EventRevoked}
	if got := e.events.Types(r.ID); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestCredentialsTravelOnlyInGrantedEvent(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UALICE", "prod-readonly")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	var withCreds int
	for _, ev := range e.events.All() {
		if ev.Credentials != nil {
			withCreds++
			if ev.Type != grants.EventGranted || ev.Credentials.SecretAccessKey != "s3cr3t-key" {
				t.Errorf("credentials on %s event", ev.Type)
			}
		}
	}
	if withCreds != 1 {
		t.Errorf("%d events carried credentials, want 1", withCreds)
	}
	for id, b := range e.store.recs {
		if strings.Contains(string(b), "s3cr3t") {
			t.Errorf("record %s holds a secret: %s", id, b)
		}
	}
	if got := fmt.Sprint(grants.Credentials{SecretAccessKey: "s3cr3t"}); strings.Contains(got, "s3cr3t") {
		t.Errorf("Credentials print as %q", got)
	}
}

func TestApprovalIntegrity(t *testing.T) {
	t.Run("self-approval refused and audited", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UALICE", "prod-readonly") // alice is in @platform-leads
		_, err := e.svc.Approve(t.Context(), r.ID, "UALICE")
		wantUserError(t, err, grants.ErrSelfApproval, "your own request")
		if got := e.events.Types(r.ID); !slices.Contains(got, grants.EventRefused) {
			t.Errorf("events = %v, want a refused event", got)
		}
		if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Pending || len(got.Approvals) != 0 {
			t.Errorf("record changed: %+v", got)
		}
	})
	t.Run("non-approver refused and audited", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UALICE", "prod-readonly")
		_, err := e.svc.Approve(t.Context(), r.ID, "UBOB")
		wantUserError(t, err, grants.ErrNotApprover, "not an approver of prod-readonly")
		if got := e.events.Types(r.ID); !slices.Contains(got, grants.EventRefused) {
			t.Errorf("events = %v, want a refused event", got)
		}
	})
	t.Run("group resolved at decision time", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-readonly")
		e.dir.edit(func(d *fakeDirectory) { d.groups["platform-leads"] = []string{"ULEAD2"} })
		_, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		wantUserError(t, err, grants.ErrNotApprover, "not an approver")
		if _, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2"); err != nil {
			t.Errorf("current member refused: %v", err)
		}
	})
	t.Run("two distinct approvers", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-admin")
		r, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		if err != nil || r.State != grants.Pending || len(r.Approvals) != 1 {
			t.Fatalf("first approval: state %v, err %v", r.State, err)
		}
		_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		wantUserError(t, err, grants.ErrAlreadyApproved, "already approved")
		if g, _, _ := e.backend.counts(); g != 0 {
			t.Fatalf("granted after one approval")
		}
		r, err = e.svc.Approve(t.Context(), r.ID, "ULEAD2")
		if err != nil || r.State != grants.Active {
			t.Fatalf("second approval: state %v, err %v", r.State, err)
		}
		if g, _, _ := e.backend.counts(); g != 1 {
			t.Errorf("grant calls = %d, want 1", g)
		}
	})
	t.Run("decided request cannot be decided again", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-readonly")
		if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		wantUserError(t, err, grants.ErrDecided, "already approved by UAPPROVER1")
		_, err = e.svc.Deny(t.Context(), r.ID, "ULEAD1", "too late")
		wantUserError(t, err, grants.ErrDecided, "already approved")
	})
	t.Run("eligibility re-checked at approval", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-admin")
		e.dir.edit(func(d *fakeDirectory) {
			u := d.users["UBOB"]
			u.Groups = nil
			d.users["UBOB"] = u
		})
		_, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		wantUserError(t, err, grants.ErrIneligible, "no longer qualifies")
		got, _ := e.svc.Get(t.Context(), r.ID)
		if got.State != grants.Denied || !strings.Contains(got.DenyReason, "no longer eligible") {
			t.Errorf("state %s reason %q, want denied", got.State, got.DenyReason)
		}
		if g, _, _ := e.backend.counts(); g != 0 {
			t.Errorf("granted to an ineligible requester")
		}
	})
	t.Run("unknown request", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.Approve(t.Context(), "JIT-ZZZZZZ", "ULEAD1")
		wantUserError(t, err, grants.ErrNotFound, "there is no request JIT-ZZZZZZ")
	})
}

func TestConcurrentApprovalsGrantOnce(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UBOB", "prod-readonly")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, decided int
	for i := range 50 {
		approver := []string{"UAPPROVER1", "ULEAD1", "ULEAD2"}[i%3]
		wg.Go(func() {
			_, err := e.svc.Approve(context.Background(), r.ID, approver)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, grants.ErrDecided):
				decided++
			default:
				t.Errorf("approve: %v", err)
			}
		})
	}
	wg.Wait()
	if g, _, _ := e.backend.counts(); g != 1 || ok != 1 || decided != 49 {
		t.Errorf("grant calls %d, successes %d, already decided %d; want 1, 1, 49", g, ok, decided)
	}
}

func TestDenyCancelRevoke(t *testing.T) {
	t.Run("deny with reason", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-readonly")
		r, err := e.svc.Deny(t.Context(), r.ID, "UAPPROVER1", "use the read replica")
		if err != nil || r.State != grants.Denied || r.DecidedBy != "UAPPROVER1" || r.DenyReason != "use the read replica" {
			t.Fatalf("deny: %+v, %v", r, err)
		}
		_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
		wantUserError(t, err, grants.ErrDecided, "already denied by UAPPROVER1")
	})
	t.Run("stranger cannot deny", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-readonly")
		_, err := e.svc.Deny(t.Context(), r.ID, "UOUTSIDER", "")
		wantUserError(t, err, grants.ErrNotApprover, "cannot deny")
	})
	t.Run("requester cancels", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-readonly")
		_, err := e.svc.Cancel(t.Context(), r.ID, "UALICE")
		wantUserError(t, err, grants.ErrNotAllowed, "only the requester")
		r, err = e.svc.Revoke(t.Context(), r.ID, "UBOB", "")
		if err != nil || r.State != grants.Cancelled {
			t.Fatalf("revoke of pending by requester: %v, %v", r.State, err)
		}
	})
	t.Run("early revoke by requester and by approver", func(t *testing.T) {
		for _, who := range []string{"UBOB", "ULEAD1"} {
			e := newEnv(t)
			r := e.request(t, "UBOB", "prod-readonly")
			if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
				t.Fatal(err)
			}
			r, err := e.svc.Revoke(t.Context(), r.ID, who, "")
			if err != nil || r.State != grants.Revoked || r.RevokedBy != who {
				t.Fatalf("revoke by %s: %+v, %v", who, r, err)
			}
			if _, revokes, holders := e.backend.counts(); revokes != 1 || holders != 0 {
				t.Errorf("revokes %d holders %d", revokes, holders)
			}
			// expiry later must not revoke again
			e.runDue(t, 2*time.Hour)
			if _, revokes, _ := e.backend.counts(); revokes != 1 {
				t.Errorf("revoked %d times, want once", revokes)
			}
		}
	})
	t.Run("stranger cannot revoke", func(t *testing.T) {
		e := newEnv(t)
		r := e.request(t, "UBOB", "prod-readonly")
		if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Revoke(t.Context(), r.ID, "UOUTSIDER", "")
		wantUserError(t, err, grants.ErrNotApprover, "cannot revoke")
		if _, revokes, _ := e.backend.counts(); revokes != 0 {
			t.Errorf("revoked by a stranger")
		}
	})
}

func TestAutoApprove(t *testing.T) {
	e := newEnv(t)
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "prod-readonly", Duration: 15 * time.Minute, Reason: "database on fire", Incident: "INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != grants.Active || !r.AutoApproved || r.Rule != `request.incident != "" && "oncall" in user.groups` {
		t.Fatalf("state %s auto %v rule %q", r.State, r.AutoApproved, r.Rule)
	}
	want := []grants.EventType{grants.EventRequested, grants.EventAutoApproved, grants.EventGranted}
	if got := e.events.Types(r.ID); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	// Without an incident the same user waits for a human.
	r = e.request(t, "UBOB", "prod-readonly")
	if r.State != grants.Pending {
		t.Errorf("state = %s, want pending", r.State)
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UBOB", "prod-readonly")
	e.runDue(t, 29*time.Minute)
	if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.Pending {
		t.Fatalf("timed out early: %s", got.State)
	}
	e.runDue(t, time.Minute)
	if got, _ := e.svc.Get(t.Context(), r.ID); got.State != grants.TimedOut {
		t.Fatalf("state = %s, want timed_out", got.State)
	}
	if got := e.events.Types(r.ID); !slices.Contains(got, grants.EventTimedOut) {
		t.Errorf("events = %v", got)
	}
	_, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrDecided, "timed out")
}

func TestRevocationRetriedWithBackoffAndAlert(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UBOB", "prod-readonly")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	e.backend.mu.Lock()
	e.backend.failNext = 6
	e.backend.mu.Unlock()
	e.runDue(t, time.Hour)
	var prev time.Time
	for i := 1; i < 6; i++ {
		got, _ := e.svc.Get(t.Context(), r.ID)
		if got.State != grants.Revoking || got.Attempts != i {
			t.Fatalf("after failure %d: state %s attempts %d", i, got.State, got.Attempts)
		}
		wait := got.NextAttempt.Sub(e.clock.Now())
		if base := time.Second << (i - 1); wait < base*9/10 || wait > min(base*11/10, time.Minute*11/10) {
			t.Errorf("attempt %d retries in %v, want about %v", i, wait, base)
		}
		if !prev.IsZero() && !got.NextAttempt.After(prev) {
			t.Errorf("backoff did not grow")
		}
		prev = got.NextAttempt
		e.runDue(t, wait)
	}
	alerts := 0
	for _, ev := range e.events.All() {
		if ev.Type == grants.EventRevokeFailed {
			alerts++
			if !strings.Contains(ev.Err, "aws unreachable") {
				t.Errorf("alert err = %q", ev.Err)
			}
		}
	}
	if alerts != 1 {
		t.Errorf("%d revoke_failed alerts, want 1", alerts)
	}
	got, _ := e.svc.Get(t.Context(), r.ID)
	wait := got.NextAttempt.Sub(e.clock.Now())
	e.runDue(t, wait)
	got, _ = e.svc.Get(t.Context(), r.ID)
	if got.State != grants.Revoked || got.Attempts != 0 {
		t.Errorf("state %s attempts %d, want revoked", got.State, got.Attempts)
	}
	if _, _, holders := e.backend.counts(); holders != 0 {
		t.Errorf("access left behind")
	}
}

func TestGrantFailureRemovesAnythingHalfDone(t *testing.T) {
	e := newEnv(t)
	e.backend.grantErr = fmt.Errorf("%w: IAM user \"bob\" does not exist", grants.ErrInvalidTarget)
	r := e.request(t, "UBOB", "prod-readonly")
	r, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrGrantFailed, `IAM user "bob" does not exist`)
	if r.State != grants.Failed || r.Failure != `IAM user "bob" does not exist` {
		t.Errorf("state %s failure %q", r.State, r.Failure)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 1 {
		t.Errorf("revokes = %d, want one clean-up call", revokes)
	}
	want := []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGrantFailed}
	if got := e.events.Types(r.ID); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

// heldCall is the error of an AWS call jitbot's own rate limit never let
// start (awslimit.HeldError).
type heldCall struct{}

func (heldCall) Error() string    { return "iam rate limit would hold this call past its deadline" }
func (heldCall) NotStarted() bool { return true }

// TestGrantHeldByOwnRateLimitWaits: a grant that jitbot's own AWS rate
// limit did not let start is not a failed grant: AWS saw nothing, so the
// approval stands, nothing is cleaned up, the requester is told nothing
// yet, and the scheduler issues it when the claim lapses.
func TestGrantHeldByOwnRateLimitWaits(t *testing.T) {
	e := newEnv(t)
	e.backend.grantErr = fmt.Errorf("look up role: %w", heldCall{})
	r := e.request(t, "UBOB", "prod-readonly")
	r, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	if err != nil {
		t.Fatalf("Approve: %v; a call held back by jitbot's own limit is no error to the approver", err)
	}
	if r.State != grants.Granting {
		t.Fatalf("state %s, want granting", r.State)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 0 {
		t.Errorf("%d clean-up calls for a call AWS never saw", revokes)
	}
	if slices.Contains(e.events.Types(r.ID), grants.EventGrantFailed) {
		t.Errorf("events %v: a held call was reported as a failed grant", e.events.Types(r.ID))
	}
	e.backend.grantErr = nil
	e.runDue(t, 31*time.Second)
	got, _ := e.svc.Get(t.Context(), r.ID)
	if got.State != grants.Active {
		t.Errorf("state %s after the claim lapsed, want active", got.State)
	}
}

func TestCrashedGrantIsFinished(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UBOB", "prod-readonly")
	// A worker recorded the intent and died before calling AWS.
	now := e.clock.Now()
	if _, err := e.store.Update(t.Context(), r.ID, func(r *grants.Request) error {
		err := r.Approve("UAPPROVER1", now, 30*time.Second)
		r.Journal = nil // handed over before the worker died
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 10*time.Second)
	if g, _, _ := e.backend.counts(); g != 0 {
		t.Fatalf("lease ignored")
	}
	e.runDue(t, 20*time.Second)
	got, _ := e.svc.Get(t.Context(), r.ID)
	if got.State != grants.Active || !got.GrantedAt.Equal(e.clock.Now()) {
		t.Errorf("state %s granted %v; want active from now", got.State, got.GrantedAt)
	}
}

func TestCleanupAfterEarlyRevoke(t *testing.T) {
	e := newEnv(t)
	e.backend.revokeAt = e.clock.Now().Add(time.Hour)
	r := e.request(t, "UBOB", "prod-readonly")
	if _, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Revoke(t.Context(), r.ID, "UBOB", "done early")
	if err != nil || r.State != grants.Revoked || r.CleanupAt.IsZero() {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if open, _ := e.store.open(t.Context()); len(open) != 1 {
		t.Errorf("record with cleanup due is not open")
	}
	e.runDue(t, 59*time.Minute)
	if e.backend.cleanups != 0 {
		t.Fatalf("cleaned up early")
	}
	e.runDue(t, time.Minute)
	got, _ := e.svc.Get(t.Context(), r.ID)
	if e.backend.cleanups != 1 || !got.CleanupAt.IsZero() {
		t.Errorf("cleanups %d, cleanup_at %v", e.backend.cleanups, got.CleanupAt)
	}
}

func TestListAndEligibleRoles(t *testing.T) {
	e := newEnv(t)
	a := e.request(t, "UBOB", "prod-admin")
	b := e.request(t, "UALICE", "prod-readonly")
	l, err := e.svc.List(t.Context(), "ULEAD1")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Mine) != 0 || len(l.Awaiting) != 2 {
		t.Errorf("lead1 sees mine=%d awaiting=%d, want 0 2", len(l.Mine), len(l.Awaiting))
	}
	l, _ = e.svc.List(t.Context(), "UALICE")
	if len(l.Mine) != 1 || l.Mine[0].ID != b.ID || len(l.Awaiting) != 1 || l.Awaiting[0].ID != a.ID {
		t.Errorf("alice sees %+v", l)
	}
	l, _ = e.svc.List(t.Context(), "UOUTSIDER")
	if len(l.Mine)+len(l.Awaiting) != 0 {
		t.Errorf("outsider sees %+v", l)
	}
	names := func(rs []*rules.Role) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	for user, want := range map[string][]string{"UBOB": {"prod-admin", "prod-readonly"}, "UAPPROVER1": {"prod-readonly"}, "UOUTSIDER": nil, "UGUEST": nil} {
		roles, err := e.svc.EligibleRoles(t.Context(), user)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(roles); !slices.Equal(got, want) {
			t.Errorf("%s eligible for %v, want %v", user, got, want)
		}
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	e := newEnv(t)
	r := e.request(t, "UBOB", "prod-admin")
	back := clone(t, r) // through JSON, as the store keeps it
	if back.ID != r.ID || back.Duration != r.Duration || !back.Deadline.Equal(r.Deadline) || back.Requester.Email != r.Requester.Email {
		t.Errorf("round trip lost data: %+v", back)
	}
}

// TestListAndApproverOfLeaveOutWhoCannotDecide: a guest (or a deactivated
// account) put in an approving user group is refused every click, so
// /jit list must not show them the requests awaiting the group, nor
// ApproverOf make them an approver (which opens /jit report to them).
func TestListAndApproverOfLeaveOutWhoCannotDecide(t *testing.T) {
	e := newEnv(t)
	e.dir.groups["platform-leads"] = append(e.dir.groups["platform-leads"], "UGUEST", "UGONE")
	r := e.request(t, "UBOB", "prod-admin")
	for _, id := range []string{"UGUEST", "UGONE"} {
		if l, err := e.svc.List(t.Context(), id); err != nil || len(l.Awaiting) != 0 {
			t.Errorf("%s's list awaits %v, %v; want nothing", id, l.Awaiting, err)
		}
		if roles, err := e.svc.ApproverOf(t.Context(), id); err != nil || len(roles) != 0 {
			t.Errorf("ApproverOf(%s) = %v, %v; want none", id, roles, err)
		}
		if _, err := e.svc.Approve(t.Context(), r.ID, id); err == nil {
			t.Errorf("%s approved %s", id, r.ID)
		}
	}
	if l, err := e.svc.List(t.Context(), "ULEAD1"); err != nil || len(l.Awaiting) != 1 {
		t.Errorf("a lead's list awaits %v, %v; want %s", l.Awaiting, err, r.ID)
	}
}
