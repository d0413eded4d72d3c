package directory_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

func newDirectory(t *testing.T) (*directory.Directory, *slackfake.Server) {
	s := testenv.StartSlack(t)
	s.AddUser(slackfake.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"})
	s.AddUser(slackfake.User{ID: "UGUEST", Name: "gus", Email: "gus@example.com", IsGuest: true})
	s.AddUser(slackfake.User{ID: "UGONE", Name: "gone", Email: "gone@example.com", Deleted: true})
	s.AddUser(slackfake.User{ID: "UBOT", Name: "deploybot", IsBot: true})
	s.AddUser(slackfake.User{ID: "UVIC", Name: "vic", Email: "vic@vendor.example", External: true})
	s.AddUser(slackfake.User{ID: "UVAL", Name: "val", Email: "val@vendor.example", External: true, SharesChannel: true})
	s.AddUserGroup("S0SRE", "sre", "UALICE", "UGUEST")
	s.AddUserGroup("S0LEADS", "platform-leads", "UALICE")
	api := slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()))
	return directory.New(api, 0, 0), s
}

func TestUserAsTheRulesSeeIt(t *testing.T) {
	d, _ := newDirectory(t)
	tests := []struct {
		id                    string
		email                 string
		groups                []string
		guest, deleted, isBot bool
		external              bool
	}{
		{id: "UALICE", email: "alice@example.com", groups: []string{"sre", "platform-leads"}},
		{id: "UGUEST", email: "gus@example.com", groups: []string{"sre"}, guest: true},
		{id: "UGONE", email: "gone@example.com", deleted: true},
		{id: "UBOT", isBot: true},
		{id: "UVIC", email: "vic@vendor.example", external: true},
		// A vendor in a shared channel is no stranger to Slack: only
		// their team_id tells.
		{id: "UVAL", email: "val@vendor.example", external: true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			u, err := d.User(t.Context(), tt.id)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(u.Groups)
			slices.Sort(tt.groups)
			if u.ID != tt.id || u.Email != tt.email || !slices.Equal(u.Groups, tt.groups) || u.IsGuest != tt.guest || u.Deleted != tt.deleted || u.IsBot != tt.isBot || u.IsExternal != tt.external {
				t.Errorf("User(%s) = %+v", tt.id, u)
			}
		})
	}
	if _, err := d.User(t.Context(), "UNOBODY"); err == nil {
		t.Errorf("an unknown user is not an error")
	}
}

// TestGroupMembersAreReadAtEachDecision: who may approve is read fresh, so
// an approver removed from the group loses the right at once.
func TestGroupMembersAreReadAtEachDecision(t *testing.T) {
	d, s := newDirectory(t)
	got, err := d.GroupMembers(t.Context(), "platform-leads")
	if err != nil || !slices.Equal(got, []string{"UALICE"}) {
		t.Fatalf("GroupMembers = %v, %v", got, err)
	}
	s.SetUserGroupMembers("platform-leads")
	if got, _ := d.GroupMembers(t.Context(), "platform-leads"); len(got) != 0 {
		t.Errorf("after alice left: GroupMembers = %v, want none", got)
	}
	if got, err := d.GroupMembers(t.Context(), "nosuch"); err != nil || len(got) != 0 {
		t.Errorf("unknown handle: %v, %v; want no members and no error", got, err)
	}
}

func TestUserInfoIsCachedBriefly(t *testing.T) {
	d, s := newDirectory(t)
	for range 3 {
		if _, err := d.User(t.Context(), "UALICE"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Calls("users.info")); n != 1 {
		t.Errorf("users.info called %d times for three look-ups within a minute, want 1", n)
	}
}

// TestListingReadsMembersFromTheGroupList: a listing (/jit list, /jit
// report, App Home) asks Slack once for every group's members, not once per
// group, and reuses the answer; a decision still reads afresh, so an
// approver removed a second ago cannot approve on the listing's copy.
func TestListingReadsMembersFromTheGroupList(t *testing.T) {
	d, s := newDirectory(t)
	listing := directory.Listing(t.Context())
	for range 100 {
		for _, g := range []string{"sre", "platform-leads"} {
			if _, err := d.GroupMembers(listing, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, m := len(s.Calls("usergroups.users.list")), len(s.Calls("usergroups.list")); n != 0 || m != 1 {
		t.Errorf("200 listing look-ups made %d usergroups.users.list and %d usergroups.list calls, want 0 and 1", n, m)
	}
	got, _ := d.GroupMembers(listing, "platform-leads")
	if !slices.Equal(got, []string{"UALICE"}) {
		t.Errorf("listing GroupMembers = %v, want [UALICE]", got)
	}

	s.SetUserGroupMembers("platform-leads")
	if got, _ := d.GroupMembers(t.Context(), "platform-leads"); len(got) != 0 {
		t.Errorf("a decision after alice left: GroupMembers = %v, want none", got)
	}
	if got, _ := d.GroupMembers(grants.Fresh(listing), "platform-leads"); len(got) != 0 {
		t.Errorf("a fresh look-up in a listing's context after alice left: GroupMembers = %v, want none", got)
	}
}

// TestExternalByOrganisation: a Slack Connect user is told apart by their
// team or enterprise, not by is_stranger, which Slack clears once they
// share a channel; another workspace of the same Enterprise Grid is not
// another organisation.
func TestExternalByOrganisation(t *testing.T) {
	grid := slack.EnterpriseUser{EnterpriseID: "E0HOME"}
	tests := []struct {
		name     string
		u        slack.User
		team     string
		ent      string
		external bool
	}{
		{"same team", slack.User{TeamID: "T0HOME"}, "T0HOME", "", false},
		{"stranger", slack.User{TeamID: "T0HOME", IsStranger: true}, "T0HOME", "", true},
		{"other team, shares a channel", slack.User{TeamID: "T0VENDOR"}, "T0HOME", "", true},
		{"other workspace of our Grid", slack.User{TeamID: "T0OTHER", Enterprise: grid}, "T0HOME", "E0HOME", false},
		{"other Grid", slack.User{TeamID: "T0VENDOR", Enterprise: slack.EnterpriseUser{EnterpriseID: "E0VENDOR"}}, "T0HOME", "E0HOME", true},
	}
	for _, tt := range tests {
		if got := directory.External(tt.u, tt.team, tt.ent); got != tt.external {
			t.Errorf("%s: External = %v, want %v", tt.name, got, tt.external)
		}
	}
}

// TestKeptListingAsksSlackNothing: with KeepListing running, however many
// listings are read, and however long after the last refresh (a few
// missed), none calls Slack: the refresh loop alone does. A list gone
// stale (five refreshes missed) is read afresh; a decision always is.
func TestKeptListingAsksSlackNothing(t *testing.T) {
	d, s := newDirectory(t)
	var mu sync.Mutex
	now := time.Now()
	d.SetNow(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(by time.Duration) { mu.Lock(); now = now.Add(by); mu.Unlock() }

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.KeepListing(ctx, func(err error) { t.Error(err) }) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Calls("usergroups.list")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("KeepListing made no usergroups.list call")
		}
		time.Sleep(5 * time.Millisecond)
	}
	calls := func() int { return len(s.Calls("usergroups.list")) + len(s.Calls("usergroups.users.list")) }
	before := calls()

	advance(3 * directory.ListingTTL)
	listing := directory.Listing(t.Context())
	for range 100 {
		if _, err := d.GroupMembers(listing, "platform-leads"); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls() - before; n != 0 {
		t.Errorf("100 listings three minutes after the last refresh made %d user-group calls, want 0", n)
	}
	if _, err := d.GroupMembers(t.Context(), "platform-leads"); err != nil {
		t.Fatal(err)
	}
	if n := calls() - before; n == 0 {
		t.Errorf("a decision read the kept list instead of asking Slack")
	}

	advance(6 * directory.ListingTTL)
	before = calls()
	if _, err := d.GroupMembers(listing, "platform-leads"); err != nil {
		t.Fatal(err)
	}
	if n := calls() - before; n != 1 {
		t.Errorf("a listing on a list six minutes stale made %d calls, want 1 (read afresh)", n)
	}
	stop()
	<-done
}

// TestOneDecisionReadsEachThingOnce: a decision reads a user and a group
// from Slack once, however often it asks, and the next decision reads them
// again, so a change between two clicks always counts.
func TestOneDecisionReadsEachThingOnce(t *testing.T) {
	d, s := newDirectory(t)
	calls := func() [3]int {
		return [3]int{len(s.Calls("users.info")), len(s.Calls("usergroups.list")), len(s.Calls("usergroups.users.list"))}
	}
	// Warm the caches a plain read would take: a decision must not.
	d.User(t.Context(), "UALICE")
	d.GroupMembers(t.Context(), "platform-leads")
	start := calls()
	decision := grants.Fresh(t.Context())
	if grants.Fresh(decision) != decision {
		t.Fatalf("Fresh on a decision's context started another decision")
	}
	for range 3 {
		if _, err := d.User(grants.Fresh(decision), "UALICE"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.GroupMembers(decision, "platform-leads"); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls(); got != [3]int{start[0] + 1, start[1] + 1, start[2] + 1} {
		t.Errorf("one decision: users.info, usergroups.list, usergroups.users.list went from %v to %v; want one more of each", start, got)
	}

	s.SetUserGroupMembers("platform-leads")
	next := grants.Fresh(t.Context())
	if got, _ := d.GroupMembers(next, "platform-leads"); len(got) != 0 {
		t.Errorf("the next decision saw the last one's members: %v", got)
	}
	if u, _ := d.User(next, "UALICE"); slices.Contains(u.Groups, "platform-leads") {
		t.Errorf("the next decision saw alice in platform-leads, which she left: %v", u.Groups)
	}
}

// TestDecisionsUnderSlacksLimits: with the Slack fake enforcing Slack's
// published limits, 40 decisions in a second, each reading a user and a
// group's members afresh, all get their answer: the reads are shared and
// Slack's 429s waited out, not handed to the person who clicked. A member
// removed during the flood is gone for every decision that began after.
func TestDecisionsUnderSlacksLimits(t *testing.T) {
	d, s := newDirectory(t)
	s.EnforceRateLimits(true)
	var wg sync.WaitGroup
	for i := range 40 {
		if i == 20 {
			s.SetUserGroupMembers("platform-leads")
		}
		ctx := grants.Fresh(t.Context())
		after := i >= 20
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			u, err := d.User(ctx, "UALICE")
			if err != nil {
				t.Errorf("decision %d: User: %v", i, err)
				return
			}
			members, err := d.GroupMembers(ctx, "platform-leads")
			if err != nil {
				t.Errorf("decision %d: GroupMembers: %v", i, err)
				return
			}
			if after && (len(members) != 0 || slices.Contains(u.Groups, "platform-leads")) {
				t.Errorf("decision %d, begun after alice left platform-leads, saw her in it: members %v, her groups %v", i, members, u.Groups)
			}
		})
		time.Sleep(25 * time.Millisecond)
	}
	wg.Wait()
	limited := 0
	for _, c := range s.Calls("") {
		if c.Error == "ratelimited" {
			limited++
		}
	}
	if limited == 0 {
		t.Fatalf("Slack's limits were never reached: the test proves nothing")
	}
	t.Logf("40 decisions: %d usergroups.list, %d usergroups.users.list, %d users.info calls; %d answered 429",
		len(s.Calls("usergroups.list")), len(s.Calls("usergroups.users.list")), len(s.Calls("users.info")), limited)
}
