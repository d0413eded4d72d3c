// Package oncall tells the rules who is on call, so that a catalog can say
// "on-call engineers get access at once during an incident" with
// user.oncall and user.oncall_schedules. PagerDuty is the source; Directory
// adds its answer to the users a grants.Directory returns, caches it
// briefly, and falls back to "not on call" when PagerDuty cannot answer, so
// that an outage there sends requests down the normal approval path instead
// of failing them.
package oncall

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/internal/pdrest"
)

// DefaultAPIURL is PagerDuty's REST API.
const DefaultAPIURL = pdrest.DefaultURL

const (
	// pageLimit is the page size asked for; PagerDuty's maximum is 100.
	pageLimit = 100
	// maxPages stops a server that keeps saying more=true. PagerDuty's
	// classic pagination ends at offset 10,000, which is 100 pages of 100.
	maxPages = 100
)

// Source answers who is on call now. PagerDuty implements it; tests and
// other on-call tools can too.
type Source interface {
	// OnCall returns whether the person with this email is on call now and
	// the names of the schedules they are on call for, sorted, without
	// repeats. An email the source does not know is not on call and is no
	// error.
	OnCall(ctx context.Context, email string) (bool, []string, error)
}

var _ Source = (*PagerDuty)(nil)

// PagerDuty is a Source on PagerDuty's REST API v2: GET /users to find the
// person by email and GET /oncalls to list their on-call entries now.
type PagerDuty struct {
	api *pdrest.Client
	log *slog.Logger
}

// NewPagerDuty returns a PagerDuty source that authenticates with an API
// token (read-only is enough). apiURL "" means DefaultAPIURL; a nil
// httpClient means one with a 10 s timeout, so a hung PagerDuty cannot hold
// a request forever; a nil log discards.
func NewPagerDuty(apiURL, token string, httpClient *http.Client, log *slog.Logger) *PagerDuty {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PagerDuty{api: pdrest.New(apiURL, token, httpClient), log: log}
}

// OnCall returns whether the PagerDuty user with this email (compared
// without regard to case) is on call now, at any escalation level, and the
// summaries (names) of the schedules that put them there, sorted, without
// repeats. An on-call entry without a schedule (an escalation policy that
// names the user directly) counts as on call and adds no name. An email
// PagerDuty does not know gives false, nil, nil. Any failure to get a
// complete answer (network, timeout, non-2xx, bad JSON) is an error, never
// a partial list.
func (p *PagerDuty) OnCall(ctx context.Context, email string) (bool, []string, error) {
	userID, err := p.userID(ctx, email)
	if err != nil || userID == "" {
		return false, nil, err
	}
	onCall := false
	var names []string
	// No since/until: both default to now, so every entry returned covers
	// this moment. earliest=true is left out on purpose: it keeps one entry
	// per (user, escalation policy, level), which could drop the second of
	// two schedules on the same level, and over a "now" window there are
	// no later entries for it to remove.
	q := url.Values{"user_ids[]": {userID}}
	err = p.list(ctx, "/oncalls", q, func(raw json.RawMessage) (int, error) {
		var page struct {
			OnCalls []struct {
				User struct {
					ID string `json:"id"`
				} `json:"user"`
				Schedule *struct {
					ID      string `json:"id"`
					Summary string `json:"summary"`
				} `json:"schedule"`
			} `json:"oncalls"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return 0, err
		}
		for _, oc := range page.OnCalls {
			// The filter already asked for this user; checking again
			// keeps a server that ignores user_ids[] from making
			// everyone on call.
			if oc.User.ID != userID {
				continue
			}
			onCall = true
			if oc.Schedule != nil {
				// summary is the schedule's name in a reference; the ID
				// stands in only if a reference comes without one.
				names = append(names, cmp.Or(oc.Schedule.Summary, oc.Schedule.ID))
			}
		}
		return len(page.OnCalls), nil
	})
	if err != nil {
		return false, nil, err
	}
	names = normalize(names)
	p.log.DebugContext(ctx, "pagerduty on-call lookup", "user", email, "pagerduty_user", userID, "oncall", onCall, "schedules", names)
	return onCall, names, nil
}

// userID finds the PagerDuty user whose email is this one. PagerDuty's
// query matches names and emails by substring, so "bob@example.com" also
// returns "jimbob@example.com"; only an exact (case-insensitive) email
// counts. Not found is "", nil.
func (p *PagerDuty) userID(ctx context.Context, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", nil
	}
	var id string
	err := p.list(ctx, "/users", url.Values{"query": {email}}, func(raw json.RawMessage) (int, error) {
		var page struct {
			Users []struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			} `json:"users"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return 0, err
		}
		for _, u := range page.Users {
			if id == "" && strings.EqualFold(u.Email, email) {
				id = u.ID
			}
		}
		return len(page.Users), nil
	})
	return id, err
}

// list walks PagerDuty's classic pagination (limit, offset, more), handing
// each page's body to take, which returns how many items it held.
func (p *PagerDuty) list(ctx context.Context, path string, q url.Values, take func(json.RawMessage) (int, error)) error {
	offset := 0
	for range maxPages {
		q.Set("limit", strconv.Itoa(pageLimit))
		q.Set("offset", strconv.Itoa(offset))
		body, err := p.api.Get(ctx, path, q)
		if err != nil {
			return err
		}
		var pg struct {
			Limit  int  `json:"limit"`
			Offset int  `json:"offset"`
			More   bool `json:"more"`
		}
		if err := json.Unmarshal(body, &pg); err != nil {
			return fmt.Errorf("pagerduty GET %s: decode page: %w", path, err)
		}
		n, err := take(body)
		if err != nil {
			return fmt.Errorf("pagerduty GET %s: decode page: %w", path, err)
		}
		if !pg.More {
			return nil
		}
		// The server may cap limit below what was asked; the next page
		// starts where this one ended, by its own account.
		step := pg.Limit
		if step <= 0 {
			step = n
		}
		if step <= 0 {
			return fmt.Errorf("pagerduty GET %s: more=true after an empty page at offset %d", path, pg.Offset)
		}
		offset = pg.Offset + step
	}
	return fmt.Errorf("pagerduty GET %s: still more after %d pages", path, maxPages)
}

// normalize sorts names and drops repeats and empties; nil for none, so
// "not on any schedule" has one shape.
func normalize(names []string) []string {
	names = slices.DeleteFunc(names, func(s string) bool { return s == "" })
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return slices.Compact(names)
}
