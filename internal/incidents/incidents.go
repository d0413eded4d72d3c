// Package incidents reads PagerDuty incidents: is an incident open, and
// what PagerDuty's webhook says changed. It knows nothing of grants; the
// app decides what an open or resolved incident means for access.
//
// The client asks PagerDuty's REST API v2 (GET /incidents/{id}); the
// webhook side verifies and reads Webhooks v3 deliveries (webhook.go).
package incidents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/internal/pdrest"
)

// PagerDuty's incident statuses.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Incident is what jitbot needs of a PagerDuty incident.
type Incident struct {
	ID     string // PagerDuty's ID, e.g. "Q2C5T3M8S1ABCD"
	Number int    // the number people say, "#1234"; unique in the account
	Title  string
	Status string // StatusTriggered, StatusAcknowledged or StatusResolved
	URL    string // the incident's page in PagerDuty's web app
}

// Open reports whether the incident is still being worked on: triggered or
// acknowledged. Resolved is not open, and neither is a status this package
// does not know (or none, as in a webhook event that does not carry it):
// the caller should ask again rather than treat a guess as open.
func (i Incident) Open() bool {
	return i.Status == StatusTriggered || i.Status == StatusAcknowledged
}

var (
	// ErrNotFound is returned (wrapped) when PagerDuty has no incident
	// with that ID or number.
	ErrNotFound = errors.New("incident not found")
	// ErrBadRef is returned (wrapped) for a reference that is neither an
	// incident ID nor a number; no request is made for it.
	ErrBadRef = errors.New("not an incident ID or number")
)

// maxRefLen bounds a reference. PagerDuty's IDs are 7 (older ones) or 14
// characters and numbers far shorter; the bound keeps a pasted paragraph
// out of URLs and logs.
const maxRefLen = 32

// PagerDuty reads incidents from PagerDuty's REST API v2.
type PagerDuty struct {
	api *pdrest.Client
}

// NewPagerDuty returns a client that authenticates with an API token
// (read-only is enough). baseURL "" means https://api.pagerduty.com; a nil
// hc means one with a 10 s timeout.
func NewPagerDuty(baseURL, token string, hc *http.Client) *PagerDuty {
	return &PagerDuty{api: pdrest.New(baseURL, token, hc)}
}

// Incident returns the incident that ref names: its ID ("Q2C5T3M8S1ABCD")
// or its number ("1234" or "#1234"), as PagerDuty's GET /incidents/{id}
// accepts either. A ref that is neither is ErrBadRef without a request; an
// incident PagerDuty does not have is ErrNotFound. Other failures (network,
// timeout, non-2xx, bad JSON) are errors that say what PagerDuty said.
func (p *PagerDuty) Incident(ctx context.Context, ref string) (Incident, error) {
	key, number, err := parseRef(ref)
	if err != nil {
		return Incident{}, err
	}
	body, err := p.api.Get(ctx, "/incidents/"+url.PathEscape(key), nil)
	if err != nil {
		if pdrest.StatusOf(err) == http.StatusNotFound {
			return Incident{}, fmt.Errorf("%w: %s: %w", ErrNotFound, key, err)
		}
		return Incident{}, err
	}
	var doc struct {
		Incident *struct {
			ID      string `json:"id"`
			Number  int    `json:"incident_number"`
			Title   string `json:"title"`
			Status  string `json:"status"`
			HTMLURL string `json:"html_url"`
		} `json:"incident"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Incident{}, fmt.Errorf("pagerduty incident %s: decode: %w", key, err)
	}
	in := doc.Incident
	if in == nil || in.ID == "" {
		return Incident{}, fmt.Errorf("pagerduty incident %s: the answer holds no incident", key)
	}
	// PagerDuty answers for the incident asked about; a proxy or a
	// misrouted base URL might not, and access may hang on this answer.
	if number > 0 && in.Number != number || number == 0 && !strings.EqualFold(in.ID, key) {
		return Incident{}, fmt.Errorf("pagerduty incident %s: the answer is incident %s (#%d)", key, in.ID, in.Number)
	}
	return Incident{ID: in.ID, Number: in.Number, Title: in.Title, Status: in.Status, URL: in.HTMLURL}, nil
}

// parseRef reads a reference as typed by a person: an ID, or a number with
// or without "#", with spaces around it ignored. It returns the key for
// the URL and, for a number, the number (0 for an ID). Only ASCII letters
// and digits pass, so the key never changes the path it is put into.
func parseRef(ref string) (key string, number int, err error) {
	s := strings.TrimSpace(ref)
	hash := strings.HasPrefix(s, "#")
	if hash {
		s = s[1:]
	}
	bad := func(why string) (string, int, error) {
		shown := ref
		if len(shown) > maxRefLen+8 {
			shown = shown[:maxRefLen+8] + "…"
		}
		return "", 0, fmt.Errorf("incident %q: %w: %s", shown, ErrBadRef, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > maxRefLen {
		return bad(fmt.Sprintf("longer than %d characters", maxRefLen))
	}
	digits := true
	for _, c := range []byte(s) {
		switch {
		case '0' <= c && c <= '9':
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			digits = false
		default:
			return bad("only letters and digits are allowed")
		}
	}
	if !digits {
		if hash {
			return bad(`"#" goes before a number`)
		}
		return s, 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return bad("not a positive number")
	}
	return strconv.Itoa(n), n, nil
}
