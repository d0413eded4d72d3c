package grants_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

const incidentCatalog = `
defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  prod-breakglass:
    backend: aws_iam_group
    group: jit-prod-breakglass
    iam_user: 'user.email.split("@")[0]'
    approvers: [UAPPROVER1]
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
    incident_pattern: '^#?[0-9]+$|^Q[0-9A-Z]+$'
    end_with_incident: true
  prod-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-readonly
    approvers: [UAPPROVER1]
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
`

// fakeIncidents is PagerDuty's answer per reference.
type fakeIncidents struct {
	mu   sync.Mutex
	open map[string]bool
	err  error
}

func (f *fakeIncidents) IncidentOpen(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	open, ok := f.open[strings.TrimPrefix(ref, "#")]
	if !ok {
		return false, grants.ErrUnknownIncident
	}
	return open, nil
}

func newIncidentEnv(t *testing.T, inc *fakeIncidents) *env {
	t.Helper()
	e := newEnv(t)
	e.catalog = parseCatalog(t, incidentCatalog)
	svc, err := grants.New(grants.Options{
		Store:     e.store,
		Backends:  map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend},
		Directory: e.dir,
		Notifier:  e.events,
		Catalog:   e.catalog,
		Now:       e.clock.Now,
		Incidents: inc,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *env) requestIncident(t *testing.T, role, incident string) *grants.Request {
	t.Helper()
	r, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: role, Incident: incident, Reason: "paged: the primary is down"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBreakGlassNeedsAnOpenIncident(t *testing.T) {
	inc := &fakeIncidents{open: map[string]bool{"123": true, "124": false}}
	e := newIncidentEnv(t, inc)
	if r := e.requestIncident(t, "prod-breakglass", "123"); !r.AutoApproved || r.State != grants.Active {
		t.Errorf("open incident: state %s, auto %v; want break-glass", r.State, r.AutoApproved)
	}
	for ref, notice := range map[string]string{"124": "is resolved", "125": "not known to PagerDuty"} {
		r := e.requestIncident(t, "prod-breakglass", ref)
		if r.AutoApproved || r.State != grants.Pending || !strings.Contains(r.Notice, notice) {
			t.Errorf("incident %s: state %s, auto %v, notice %q; want pending with %q", ref, r.State, r.AutoApproved, r.Notice, notice)
		}
	}
	inc.mu.Lock()
	inc.err = errors.New("PagerDuty: 503")
	inc.mu.Unlock()
	if r := e.requestIncident(t, "prod-breakglass", "123"); r.AutoApproved || !strings.Contains(r.Notice, "could not confirm") {
		t.Errorf("PagerDuty down: auto %v, notice %q; want the approvers", r.AutoApproved, r.Notice)
	}
	// A role that names no form of reference takes any: not looked up.
	if r := e.requestIncident(t, "prod-readonly", "JIRA-7"); !r.AutoApproved {
		t.Errorf("prod-readonly: auto %v, notice %q; want break-glass without a lookup", r.AutoApproved, r.Notice)
	}
}

func TestGrantsEndWithTheirIncident(t *testing.T) {
	inc := &fakeIncidents{open: map[string]bool{"123": true, "Q1ABC": true}}
	e := newIncidentEnv(t, inc)
	bound := e.requestIncident(t, "prod-breakglass", "#123")
	other := e.requestIncident(t, "prod-breakglass", "Q1ABC")
	unbound := e.requestIncident(t, "prod-readonly", "123")
	refs, err := e.svc.IncidentBound(t.Context())
	if err != nil || len(refs) != 2 {
		t.Fatalf("bound incidents = %v, %v; want #123 and Q1ABC", refs, err)
	}
	n, err := e.svc.IncidentResolved(t.Context(), []string{"QXYZ", "123"})
	if err != nil || n != 1 {
		t.Fatalf("resolved: ended %d, %v; want 1", n, err)
	}
	got := e.get(t, bound.ID)
	if got.State != grants.Revoked || got.RevokeReason != "incident #123 was resolved" {
		t.Errorf("bound grant: %s (%q), want revoked because the incident was resolved", got.State, got.RevokeReason)
	}
	for _, id := range []grants.RequestID{other.ID, unbound.ID} {
		if got := e.get(t, id); got.State != grants.Active {
			t.Errorf("%s: %s, want still active", id, got.State)
		}
	}
	e.clock.Advance(time.Minute)
	if n, _ := e.svc.IncidentResolved(t.Context(), []string{"123"}); n != 0 {
		t.Errorf("resolved again: ended %d, want 0", n)
	}
}
