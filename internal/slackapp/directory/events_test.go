package directory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// mirrored is a directory whose event stream is up and whose copy of the
// workspace's users (KeepUsers) has been made; holding says whether Slack
// is holding users.info back.
func mirrored(t *testing.T) (d *directory.Directory, s *slackfake.Server, holding func(bool), advance func(time.Duration)) {
	d, s = newDirectory(t)
	var mu sync.Mutex
	held, now := false, time.Now()
	d.SetNow(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	d.SlackHolds(func(method string) bool { mu.Lock(); defer mu.Unlock(); return held && method == "users.info" })
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.KeepUsers(ctx, func(err error) { t.Error(err) }) }()
	t.Cleanup(func() { stop(); <-done })
	d.EventsConnected()
	s.WaitFor(t, "the users copied", 5*time.Second, func() bool { return len(s.Calls("users.list")) > 0 })
	time.Sleep(50 * time.Millisecond) // the listing's answer stored
	return d, s, func(h bool) { mu.Lock(); held = h; mu.Unlock() },
		func(by time.Duration) { mu.Lock(); now = now.Add(by); mu.Unlock() }
}

func usersInfoCalls(s *slackfake.Server) int { return len(s.Calls("users.info")) }

// TestRequestsReadTheVouchedCopy: once the stream is up and the users are
// copied, reads that decide nothing ask Slack nothing about people.
func TestRequestsReadTheVouchedCopy(t *testing.T) {
	d, s, _, _ := mirrored(t)
	before := usersInfoCalls(s)
	for _, id := range []string{"UALICE", "UGUEST", "UGONE"} {
		if _, err := d.User(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := usersInfoCalls(s) - before; n != 0 {
		t.Errorf("%d users.info calls for three people the copy holds, want 0", n)
	}
	if u, _ := d.User(t.Context(), "UGUEST"); !u.IsGuest {
		t.Errorf("the copy lost what Slack said: UGUEST is no guest")
	}
}

// TestDecisionReadsAfreshUnlessSlackHolds: a decision reads afresh while
// Slack answers; only while Slack holds users.info back does it take the
// copy the stream vouches for.
func TestDecisionReadsAfreshUnlessSlackHolds(t *testing.T) {
	d, s, holding, _ := mirrored(t)
	before := usersInfoCalls(s)
	if _, err := d.User(grants.Fresh(t.Context()), "UALICE"); err != nil {
		t.Fatal(err)
	}
	if n := usersInfoCalls(s) - before; n != 1 {
		t.Fatalf("a decision made %d users.info calls with Slack answering, want 1 (afresh)", n)
	}
	holding(true)
	before = usersInfoCalls(s)
	if _, err := d.User(grants.Fresh(t.Context()), "UGONE"); err != nil {
		t.Fatal(err)
	}
	if n := usersInfoCalls(s) - before; n != 0 {
		t.Errorf("a decision made %d users.info calls while Slack held the method back, want 0 (the vouched copy)", n)
	}
}

// TestWhatEndsTheVouching: while Slack holds users.info back, a decision
// still reads afresh a person Slack has sent a user_change for (made a
// guest a second ago), any person once the stream was lost, and any
// person whose copy is older than TrustTTL.
func TestWhatEndsTheVouching(t *testing.T) {
	d, s, holding, advance := mirrored(t)
	holding(true)

	s.AddUser(slackfake.User{ID: "UALICE", Name: "alice", Email: "alice@example.com", IsGuest: true})
	d.UserChanged("UALICE")
	if u, err := d.User(grants.Fresh(t.Context()), "UALICE"); err != nil || !u.IsGuest {
		t.Errorf("after a user_change: a decision saw alice as %+v (%v); want the guest Slack says she is now", u, err)
	}

	d.EventsLost()
	before := usersInfoCalls(s)
	if _, err := d.User(grants.Fresh(t.Context()), "UGONE"); err != nil {
		t.Fatal(err)
	}
	if n := usersInfoCalls(s) - before; n != 1 {
		t.Errorf("with the stream lost, a decision made %d users.info calls, want 1 (afresh)", n)
	}

	d.EventsConnected() // a copy made before this connection is vouched for no more
	before = usersInfoCalls(s)
	if _, err := d.User(grants.Fresh(t.Context()), "UGUEST"); err != nil {
		t.Fatal(err)
	}
	if n := usersInfoCalls(s) - before; n != 1 {
		t.Errorf("after a reconnection, a decision took a copy from before it (%d users.info calls, want 1)", n)
	}

	advance(directory.TrustTTL)
	before = usersInfoCalls(s)
	if _, err := d.User(grants.Fresh(t.Context()), "UGUEST"); err != nil {
		t.Fatal(err)
	}
	if n := usersInfoCalls(s) - before; n != 1 {
		t.Errorf("a copy TrustTTL old was vouched for (%d users.info calls, want 1)", n)
	}
}

// TestEveryoneIsTheWorkspaceNow: the lifecycle pass's list of everyone is
// users.list read now, even while the stream vouches for older copies,
// deactivated users included and Slack Connect users of other
// organisations left out (users.list does not list them; the pass asks
// users.info for them).
func TestEveryoneIsTheWorkspaceNow(t *testing.T) {
	d, s, _, _ := mirrored(t)
	s.Deactivate(t, "UALICE", false) // the user_change is lost
	lists := len(s.Calls("users.list"))
	everyone, err := d.Everyone(grants.Fresh(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Calls("users.list")) - lists; n < 1 {
		t.Fatalf("Everyone made %d users.list calls, want a listing read now", n)
	}
	if u, ok := everyone["UALICE"]; !ok || !u.Deleted {
		t.Errorf("UALICE = %+v (listed %v), want listed and deactivated", u, ok)
	}
	if u := everyone["UGUEST"]; !u.IsGuest || u.Deleted {
		t.Errorf("UGUEST = %+v, want a guest, active", u)
	}
	for _, id := range []string{"UVIC", "UVAL"} {
		if _, ok := everyone[id]; ok {
			t.Errorf("%s, a Slack Connect user of another organisation, is listed", id)
		}
	}
	// What the listing read is the copy from now on.
	if u, _ := d.User(t.Context(), "UALICE"); !u.Deleted {
		t.Error("a read after the listing answers UALICE active: the listing was not kept")
	}
}

// TestListingsAreShared: listings asked for at once (the copy made at
// connection and the lifecycle pass at start) are one users.list listing.
func TestListingsAreShared(t *testing.T) {
	d, s := newDirectory(t)
	if _, err := d.Everyone(grants.Fresh(t.Context())); err != nil {
		t.Fatal(err)
	}
	pages := len(s.Calls("users.list")) // one listing
	dec := grants.Fresh(t.Context())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := d.Everyone(dec); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(s.Calls("users.list")) - pages; n != pages {
		t.Errorf("three listings at once made %d users.list calls, want one listing's %d", n, pages)
	}
}
