package slackfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

func TestUsersList(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	s.AddUser(slackfake.User{ID: "U0VENDOR", Name: "vic", Email: "vic@vendor.example", External: true})
	api := client(s)
	ctx := t.Context()

	users, err := api.GetUsersContext(ctx)
	if err != nil {
		t.Fatalf("GetUsersContext: %v", err)
	}
	var ids []string
	byID := map[string]slack.User{}
	for _, u := range users {
		ids = append(ids, u.ID)
		byID[u.ID] = u
	}
	// Every member, deactivated users and bots included, in ID order;
	// the Slack Connect user of another organisation is no member.
	want := []string{"U0ALICE", "U0BOB", "U0GONE", "U0GUEST", "U0JITBOT", "U0OTHERBOT"}
	if !slices.Equal(ids, want) {
		t.Fatalf("users = %v, want %v", ids, want)
	}
	if u := byID["U0ALICE"]; u.Name != "alice" || u.Profile.Email != "alice@example.com" || u.RealName != "Alice Liddell" || u.IsRestricted {
		t.Errorf("alice = %+v", u)
	}
	if u := byID["U0GUEST"]; !u.IsRestricted || u.IsUltraRestricted {
		t.Errorf("guest is_restricted=%v is_ultra_restricted=%v, want true, false", u.IsRestricted, u.IsUltraRestricted)
	}
	if !byID["U0GONE"].Deleted || !byID["U0OTHERBOT"].IsBot || !byID["U0JITBOT"].IsBot {
		t.Errorf("deleted or bot flags lost: %+v", byID)
	}

	// slack-go asks for 200 at a time; the fake answers two, so the client
	// must follow next_cursor through three pages.
	calls := s.Calls("users.list")
	if len(calls) != 3 {
		t.Fatalf("users.list was called %d times, want 3 pages", len(calls))
	}
	if calls[0].Params.Get("cursor") != "" || calls[0].Params.Get("limit") != "200" {
		t.Errorf("first page asked with %v", calls[0].Params)
	}
	for i, c := range calls[1:] {
		if c.Params.Get("cursor") == "" {
			t.Errorf("page %d asked without a cursor", i+2)
		}
	}

	// A limit below the page size is honoured.
	if users, err := api.GetUsersContext(ctx, slack.GetUsersOptionLimit(1)); err != nil || len(users) != len(want) {
		t.Errorf("limit 1: %d users, %v", len(users), err)
	}
	if n := len(s.Calls("users.list")); n != 3+len(want) {
		t.Errorf("limit 1 took %d calls, want %d", n-3, len(want))
	}

	// A user added between two pages is found when the walk has not passed
	// them yet, and a user removed does not break it.
	p, err := api.GetUsersPaginated().Next(ctx)
	if err != nil || len(p.Users) != 2 || p.Cursor == "" {
		t.Fatalf("first page = %d users, cursor %q, %v", len(p.Users), p.Cursor, err)
	}
	s.AddUser(slackfake.User{ID: "U0ZED", Name: "zed"})
	var rest []string
	for {
		p, err = p.Next(ctx)
		if p.Done(err) {
			break
		}
		if err != nil {
			t.Fatalf("next page: %v", err)
		}
		for _, u := range p.Users {
			rest = append(rest, u.ID)
		}
	}
	if wantRest := []string{"U0GONE", "U0GUEST", "U0JITBOT", "U0OTHERBOT", "U0ZED"}; !slices.Equal(rest, wantRest) {
		t.Errorf("pages after the first = %v, want %v", rest, wantRest)
	}
}

func TestUsersListErrors(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	ctx := t.Context()

	if _, err := client(s).GetUsersContext(ctx, slack.GetUsersOptionCursor("not a cursor")); slackError(err) != "invalid_cursor" {
		t.Errorf("bad cursor: %v, want invalid_cursor", err)
	}
	wrong := slack.New("xoxb-wrong", slack.OptionAPIURL(s.APIURL()))
	if _, err := wrong.GetUsersContext(ctx); slackError(err) != "invalid_auth" {
		t.Errorf("wrong token: %v, want invalid_auth", err)
	}
	s.FailNext("users.list", 1, "missing_scope")
	if _, err := client(s).GetUsersContext(ctx); slackError(err) != "missing_scope" {
		t.Errorf("FailNext: %v, want missing_scope", err)
	}

	form := func(limit string) map[string]any {
		t.Helper()
		body := url.Values{"token": {s.BotToken()}, "limit": {limit}}.Encode()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL()+"users.list", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("users.list answered %q", b)
		}
		return out
	}
	for _, bad := range []string{"ten", "-1"} {
		if got := form(bad); got["ok"] != false || got["error"] != "invalid_arguments" {
			t.Errorf("limit %q: %v, want invalid_arguments", bad, got)
		}
	}
	got := form("0") // no limit: Slack may still answer fewer than all
	meta, _ := got["response_metadata"].(map[string]any)
	if members, _ := got["members"].([]any); got["ok"] != true || len(members) != 2 || meta["next_cursor"] == "" {
		t.Errorf("limit 0: %v", got)
	}
	if ts, _ := got["cache_ts"].(float64); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("cache_ts = %v", got["cache_ts"])
	}
}
