package grants_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// workloadCatalog is testCatalog's people with roles for CI jobs: ci-deploy
// takes acme's repositories, granted at once from main; ci-group would
// take any workload, but is an IAM group; people-sts takes none.
const workloadCatalog = `
workload_issuers:
  github:
    issuer: https://token.actions.githubusercontent.com
    audience: https://jitbot.example.com
defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  ci-deploy:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/ci-deploy
    approvers: [UAPPROVER1, "@platform-leads"]
    eligible: 'user.email.endsWith("@example.com")'
    breakglass_limit: 1
    workloads:
      eligible: 'workload.repository.startsWith("acme/")'
      auto_approve: 'workload.ref == "refs/heads/main"'
  ci-group:
    backend: aws_iam_group
    group: jit-ci
    iam_user: 'user.email.split("@")[0]'
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    workloads:
      eligible: 'true'
  people-sts:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/people-sts
    approvers: [UAPPROVER1]
    eligible: 'true'
`

const ghIssuer = "https://token.actions.githubusercontent.com"

// newWorkloadEnv is newEnv on workloadCatalog.
func newWorkloadEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.catalog = parseCatalog(t, workloadCatalog)
	e.svc = e.serviceOn(t, e.store, e.events, e.backend)
	return e
}

func parseCatalog(t *testing.T, src string) *rules.Catalog {
	t.Helper()
	c, err := rules.Parse("roles.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse catalog: %v", err)
	}
	return c
}

// job is a GitHub Actions run of acme/infra on ref, triggered by dan
// (ULEAD1's Slack handle).
func job(ref string) rules.Workload {
	return rules.Workload{
		Issuer: ghIssuer, IssuerName: "github",
		Subject:    "repo:acme/infra:ref:" + ref,
		Repository: "acme/infra", Ref: ref, Actor: "dan", RunID: "42",
	}
}

func (e *env) requestAs(t *testing.T, w rules.Workload, role string) (*grants.Request, error) {
	t.Helper()
	return e.svc.Request(t.Context(), grants.RequestInput{Workload: &w, Role: role, Duration: time.Hour, Reason: "deploy run 42 of acme/infra"})
}

func (e *env) mustRequestAs(t *testing.T, w rules.Workload, role string) *grants.Request {
	t.Helper()
	r, err := e.requestAs(t, w, role)
	if err != nil {
		t.Fatalf("request %s by %s: %v", role, w.Subject, err)
	}
	return r
}

func TestWorkloadRequestRefused(t *testing.T) {
	other := job("refs/heads/main")
	other.Repository, other.Subject = "evil/infra", "repo:evil/infra:ref:refs/heads/main"
	tests := []struct {
		name  string
		in    grants.RequestInput
		class error
		msg   string
	}{
		{"role without workloads", grants.RequestInput{Role: "people-sts"}, grants.ErrIneligible, "role people-sts does not accept workload requests"},
		{"not aws_sts", grants.RequestInput{Role: "ci-group"}, grants.ErrInvalidInput, "a workload can only be granted aws_sts credentials"},
		{"eligible rule says no", grants.RequestInput{Role: "ci-deploy", Workload: &other}, grants.ErrIneligible, "workload github:repo:evil/infra:ref:refs/heads/main is not eligible for ci-deploy"},
		{"a user and a workload", grants.RequestInput{Role: "ci-deploy", UserID: "UBOB"}, grants.ErrInvalidInput, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWorkloadEnv(t)
			in := tt.in
			if in.Workload == nil {
				w := job("refs/heads/main")
				in.Workload = &w
			}
			in.Duration, in.Reason = time.Hour, "deploy run 42 of acme/infra"
			_, err := e.svc.Request(t.Context(), in)
			wantUserError(t, err, tt.class, tt.msg)
			if len(e.store.recs) != 0 || e.grantCalls() != 0 {
				t.Errorf("a refused request left %d records and %d grant calls", len(e.store.recs), e.grantCalls())
			}
		})
	}
}

// TestWorkloadAutoApproved: a run the auto_approve rule admits is granted
// at once, without a break-glass review and past the breakglass_limit,
// and its events carry the workload, also through JSON.
func TestWorkloadAutoApproved(t *testing.T) {
	e := newWorkloadEnv(t)
	for range 2 { // breakglass_limit is 1: it does not count workloads
		r := e.mustRequestAs(t, job("refs/heads/main"), "ci-deploy")
		if r.State != grants.Active || !r.AutoApproved || !r.ReviewDue.IsZero() || r.Notice != "" {
			t.Fatalf("state %s auto %v review due %v notice %q; want active, auto-approved, no review, no notice", r.State, r.AutoApproved, r.ReviewDue, r.Notice)
		}
		if !r.ByWorkload() || r.Requester.ID != "" || r.Requester.Name != "github:repo:acme/infra:ref:refs/heads/main" {
			t.Errorf("requester %+v, by workload %v: want no Slack ID and the workload's name", r.Requester, r.ByWorkload())
		}
		if r.Target != "arn:aws:iam::111111111111:role/ci-deploy" || r.Rule != `workload.ref == "refs/heads/main"` {
			t.Errorf("target %q rule %q", r.Target, r.Rule)
		}
	}
	if e.grantCalls() != 2 {
		t.Errorf("grant calls = %d, want 2", e.grantCalls())
	}
	i := slices.IndexFunc(e.events.All(), func(ev grants.Event) bool { return ev.Type == grants.EventGranted })
	if i < 0 {
		t.Fatal("no granted event")
	}
	b, err := json.Marshal(e.events.All()[i])
	if err != nil {
		t.Fatal(err)
	}
	var back grants.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if w := back.Request.Workload; w == nil || w.Subject != job("refs/heads/main").Subject || w.Actor != "dan" {
		t.Errorf("the event's JSON lost the workload: %s", b)
	}
}

// TestWorkloadApproval: a run off main waits for the approvers, of whom
// the one who triggered it (by Slack handle, or by email local part) is
// neither asked nor let decide; another approver's yes grants it.
func TestWorkloadApproval(t *testing.T) {
	e := newWorkloadEnv(t)
	e.dir.edit(func(d *fakeDirectory) {
		d.users["UFRANK"] = rules.User{ID: "UFRANK", Name: "frank.w", Email: "FWhite@example.com"}
		d.groups["platform-leads"] = append(d.groups["platform-leads"], "UFRANK")
	})
	r := e.mustRequestAs(t, job("refs/heads/feature"), "ci-deploy")
	if r.State != grants.Pending || e.grantCalls() != 0 {
		t.Fatalf("state %s after %d grant calls, want pending", r.State, e.grantCalls())
	}
	asked, err := e.svc.Approvers(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"UAPPROVER1", "ULEAD2", "UALICE", "UFRANK"}; !slices.Equal(asked, want) {
		t.Errorf("Approvers = %v, want %v (without dan, who triggered the run)", asked, want)
	}
	_, err = e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	wantUserError(t, err, grants.ErrSelfApproval, "you triggered this run; someone else must approve it")
	_, err = e.svc.Deny(t.Context(), r.ID, "ULEAD1", "no")
	wantUserError(t, err, grants.ErrSelfApproval, "you triggered this run")
	if !e.refusedBy(r.ID, "ULEAD1") {
		t.Error("the actor's refusal is not an event")
	}
	if l, err := e.svc.List(t.Context(), "ULEAD1"); err != nil || len(l.Awaiting)+len(l.Mine) != 0 {
		t.Errorf("the actor's list: %+v, %v; want nothing", l, err)
	}

	// The email's local part, in any case, is the actor too.
	w := job("refs/heads/feature")
	w.Actor, w.Subject = "fwhite", "repo:acme/infra:ref:refs/heads/other"
	r2 := e.mustRequestAs(t, w, "ci-deploy")
	if asked, _ := e.svc.Approvers(t.Context(), r2); slices.Contains(asked, "UFRANK") || !slices.Contains(asked, "ULEAD1") {
		t.Errorf("Approvers = %v, want ULEAD1 and not UFRANK (fwhite@)", asked)
	}

	got, err := e.svc.Approve(t.Context(), r.ID, "ULEAD2")
	if err != nil || got.State != grants.Active || e.grantCalls() != 1 {
		t.Fatalf("approved by erin: state %v err %v, %d grant calls; want active after 1", got.State, err, e.grantCalls())
	}
	if !got.ReviewDue.IsZero() || got.AutoApproved {
		t.Errorf("an approved workload grant: auto %v review due %v", got.AutoApproved, got.ReviewDue)
	}
}

// TestWorkloadRelease: the job ends its own grant, and its pending
// request; a second release changes nothing.
func TestWorkloadRelease(t *testing.T) {
	e := newWorkloadEnv(t)
	w := job("refs/heads/main")
	r := e.mustRequestAs(t, w, "ci-deploy")
	got, err := e.svc.Release(t.Context(), r.ID, w)
	if err != nil || got.State != grants.Revoked || got.RevokeReason != grants.ReasonReleased {
		t.Fatalf("release: %v state %v reason %q; want revoked, %q", err, got.State, got.RevokeReason, grants.ReasonReleased)
	}
	if _, revokes, holders := e.backend.counts(); revokes != 1 || holders != 0 {
		t.Errorf("%d revoke calls, %d holders; want 1, 0", revokes, holders)
	}
	again, err := e.svc.Release(t.Context(), r.ID, w)
	if err != nil || again.State != grants.Revoked {
		t.Errorf("second release: %v, state %v; want the revoked record", err, again.State)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 1 {
		t.Errorf("second release called the backend again (%d revokes)", revokes)
	}

	p := job("refs/heads/feature")
	pending := e.mustRequestAs(t, p, "ci-deploy")
	if got, err := e.svc.Release(t.Context(), pending.ID, p); err != nil || got.State != grants.Cancelled {
		t.Errorf("release of a pending request: %v, state %v; want cancelled", err, got.State)
	}
}

// TestWorkloadOthersSeeNothing: another subject or issuer, or a person's
// request, is answered as if there were no such request, and nothing
// changes.
func TestWorkloadOthersSeeNothing(t *testing.T) {
	e := newWorkloadEnv(t)
	w := job("refs/heads/main")
	r := e.mustRequestAs(t, w, "ci-deploy")
	person, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "ci-deploy", Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
	if err != nil {
		t.Fatal(err)
	}
	otherSubject, otherIssuer := w, w
	otherSubject.Subject = "repo:acme/infra:ref:refs/heads/evil"
	otherIssuer.Issuer = "https://evil.example.com"
	for name, c := range map[string]struct {
		caller rules.Workload
		id     grants.RequestID
	}{
		"another subject": {otherSubject, r.ID},
		"another issuer":  {otherIssuer, r.ID},
		"a person's":      {w, person.ID},
		"no such request": {w, "JIT-ZZZZZZ"},
		"an empty caller": {rules.Workload{}, r.ID},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.WorkloadRequest(t.Context(), c.id, c.caller)
			wantUserError(t, err, grants.ErrNotFound, "no request "+string(c.id)+" for this workload")
			_, err = e.svc.Release(t.Context(), c.id, c.caller)
			wantUserError(t, err, grants.ErrNotFound, "no request "+string(c.id)+" for this workload")
		})
	}
	if got := e.get(t, r.ID); got.State != grants.Active {
		t.Errorf("state %s after others' releases, want active", got.State)
	}
	if _, revokes, _ := e.backend.counts(); revokes != 0 {
		t.Errorf("%d revoke calls after others' releases", revokes)
	}
	if got, err := e.svc.WorkloadRequest(t.Context(), r.ID, w); err != nil || got.ID != r.ID {
		t.Errorf("the workload's own GET: %v, %v", got, err)
	}
}

// TestForgedWorkloadQuarantined: a pending workload request whose subject
// was changed in the store (to a run the rules would grant at once, say)
// is quarantined on the next touch and issues nothing.
func TestForgedWorkloadQuarantined(t *testing.T) {
	e := newWorkloadEnv(t)
	f := &forgingStore{Store: e.store, forged: map[grants.RequestID]bool{}}
	e.svc = e.serviceWith(t, f, false, &dryBackend{})
	r := e.mustRequestAs(t, job("refs/heads/feature"), "ci-deploy")
	f.forge(t, r.ID, func(r *grants.Request) { r.Workload.Subject = "repo:acme/infra:ref:refs/heads/main" })
	_, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1")
	if !errors.Is(err, grants.ErrTampered) {
		t.Fatalf("approve of a forged record: err = %v, want the integrity check failure", err)
	}
	e.runDue(t, time.Minute)
	e.wantNothingIssued(t, 0)
	if got := e.get(t, r.ID); got.State != grants.Failed || got.Failure != grants.ReasonTampered {
		t.Errorf("state %s failure %q, want failed: %q", got.State, got.Failure, grants.ReasonTampered)
	}
	if !e.alerted(r.ID) {
		t.Errorf("no %s event", grants.EventTampered)
	}
}

// TestWorkloadGrantableRederives: a workload record in Granting is issued
// only while the workloads rules in force still admit (and, auto-approved,
// grant) the recorded workload.
func TestWorkloadGrantableRederives(t *testing.T) {
	tests := []struct {
		name, old, new string
		auto           bool
		why            string // "" when it is issued
	}{
		{name: "unchanged", old: "x", new: "x"},
		{name: "eligible narrowed", old: `.startsWith("acme/")`, new: ` == "acme/web"`, why: "the workload is no longer eligible: workload github:repo:acme/infra"},
		{name: "workloads removed", old: "    workloads:\n      eligible: 'workload.repository.startsWith(\"acme/\")'\n      auto_approve: 'workload.ref == \"refs/heads/main\"'\n", new: "", why: "does not accept workload requests"},
		{name: "auto_approve narrowed", old: `"refs/heads/main"`, new: `"refs/heads/release"`, auto: true, why: "workloads auto_approve rule no longer holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWorkloadEnv(t)
			r := e.mustRequestAs(t, job("refs/heads/feature"), "ci-deploy")
			now := e.clock.Now()
			if _, err := e.store.Update(t.Context(), r.ID, func(r *grants.Request) error {
				if tt.auto {
					r.AutoApproved = true
				} else {
					r.Approvals = []grants.Approval{{Approver: "UAPPROVER1", At: now}}
				}
				r.Workload.Ref = "refs/heads/main"
				r.State, r.DecidedAt, r.LeaseUntil = grants.Granting, now, now
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			src := strings.Replace(workloadCatalog, tt.old, tt.new, 1)
			if src == workloadCatalog && tt.old != tt.new {
				t.Fatalf("%q is not in the catalog", tt.old)
			}
			e.svc.SetCatalog(parseCatalog(t, src))
			e.runDue(t, time.Second)
			got := e.get(t, r.ID)
			if tt.why == "" {
				if got.State != grants.Active || e.grantCalls() != 1 {
					t.Errorf("state %s, %d grant calls; want active after 1", got.State, e.grantCalls())
				}
				return
			}
			e.wantNothingIssued(t, 0)
			if got.State != grants.Failed || !strings.Contains(got.Failure, tt.why) {
				t.Errorf("state %s failure %q, want failed with %q", got.State, got.Failure, tt.why)
			}
		})
	}
}

// TestWorkloadRateLimit: requests are counted per issuer and subject,
// apart from other workloads and from people.
func TestWorkloadRateLimit(t *testing.T) {
	e := newWorkloadEnv(t)
	w := job("refs/heads/feature")
	for i := range 20 {
		if _, err := e.requestAs(t, w, "ci-deploy"); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err := e.requestAs(t, w, "ci-deploy")
	wantUserError(t, err, grants.ErrRateLimited, "workload github:repo:acme/infra:ref:refs/heads/feature has filed 20 requests")
	other := w
	other.Subject = "repo:acme/infra:ref:refs/heads/other"
	if _, err := e.requestAs(t, other, "ci-deploy"); err != nil {
		t.Errorf("another subject was limited: %v", err)
	}
	otherIssuer := w
	otherIssuer.Issuer = "https://gitlab.example.com"
	if _, err := e.requestAs(t, otherIssuer, "ci-deploy"); err != nil {
		t.Errorf("the same subject from another issuer was limited: %v", err)
	}
	if _, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "ci-deploy", Duration: time.Hour, Reason: "fixing INC-42 replica lag"}); err != nil {
		t.Errorf("a person was limited by a workload's requests: %v", err)
	}
}

// TestWorkloadNoSlackUser: nothing keyed by a Slack user reaches a
// workload's request: the lifecycle sweep looks nobody up for it, no one
// can cancel or extend it as its requester, and it is nobody's own.
func TestWorkloadNoSlackUser(t *testing.T) {
	e := newWorkloadEnv(t)
	pending := e.mustRequestAs(t, job("refs/heads/feature"), "ci-deploy")
	active := e.mustRequestAs(t, job("refs/heads/main"), "ci-deploy")
	if err := e.svc.Sweep(t.Context()); err != nil {
		t.Errorf("sweep: %v", err)
	}
	_, err := e.svc.Cancel(t.Context(), pending.ID, "")
	wantUserError(t, err, grants.ErrNotAllowed, "only the requester can cancel")
	_, err = e.svc.Extend(t.Context(), active.ID, "", 30*time.Minute)
	wantUserError(t, err, grants.ErrNotAllowed, "a workload's grant cannot be extended yet")
	_, err = e.svc.Acknowledge(t.Context(), active.ID, "UAPPROVER1")
	wantUserError(t, err, grants.ErrNotAllowed, "nothing to review")
	if got := e.get(t, pending.ID); got.State != grants.Pending {
		t.Errorf("pending request is %s", got.State)
	}
	if l, err := e.svc.List(t.Context(), ""); err != nil || len(l.Mine) != 0 {
		t.Errorf("the empty ID's own requests: %v, %v", l.Mine, err)
	}
}

// TestWorkloadAccessEndsWhenTheCatalogDropsIt: once the catalog no longer
// admits a workload, the next sweep revokes its grant and denies its
// pending request, as deactivating a person does; workloads it still
// admits keep theirs.
func TestWorkloadAccessEndsWhenTheCatalogDropsIt(t *testing.T) {
	e := newWorkloadEnv(t)
	active := e.mustRequestAs(t, job("refs/heads/main"), "ci-deploy")
	pending := e.mustRequestAs(t, job("refs/heads/feature"), "ci-deploy")
	web := rules.Workload{Issuer: ghIssuer, IssuerName: "github", Subject: "repo:acme/web:ref:refs/heads/main", Repository: "acme/web", Ref: "refs/heads/main"}
	kept := e.mustRequestAs(t, web, "ci-deploy")
	if active.State != grants.Active || pending.State != grants.Pending || kept.State != grants.Active {
		t.Fatalf("states %s %s %s, want active, pending, active", active.State, pending.State, kept.State)
	}
	if err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, active.ID); got.State != grants.Active {
		t.Fatalf("a sweep under the same catalog ended %s: %s", active.ID, got.State)
	}

	e.svc.SetCatalog(parseCatalog(t, strings.Replace(workloadCatalog, `.startsWith("acme/")`, ` == "acme/web"`, 1)))
	if err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, active.ID); got.State != grants.Revoked || got.RevokeReason != grants.ReasonWorkloadRefused {
		t.Errorf("acme/infra's grant: state %s reason %q, want revoked for %q", got.State, got.RevokeReason, grants.ReasonWorkloadRefused)
	}
	if got := e.get(t, pending.ID); got.State != grants.Denied || got.DenyReason != grants.ReasonWorkloadRefused {
		t.Errorf("acme/infra's request: state %s reason %q, want denied for %q", got.State, got.DenyReason, grants.ReasonWorkloadRefused)
	}
	if got := e.get(t, kept.ID); got.State != grants.Active {
		t.Errorf("acme/web, still admitted, lost its grant: %s", got.State)
	}
}
