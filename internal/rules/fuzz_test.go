package rules_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "15m", "1h30m", "2h", "1d", "1d12h", "", "-1h", "1.5h", "99999999999d", "1d1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := rules.ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Errorf("ParseDuration(%q) = %v, negative", s, d)
		}
	})
}

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../rules/roles.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(good))
	f.Add([]byte(stepped))
	f.Add([]byte("roles: {r: {backend: aws_iam_group, group: g, iam_user: 'user.id', eligible: 'true', approval_steps: [{approvers: [U1]}, {approvers: [\"@sec\"], approvals_required: 0}, 7]}}\n"))
	f.Add([]byte("roles:\n  a:\n    backend: aws_sts\n"))
	f.Add([]byte("roles: &x\n  a: *x\n"))
	f.Add([]byte("defaults: {max_duration: 1d}\nroles: {r: {backend: aws_iam_group, group: g, iam_user: 'user.id', approvers: ['@a'], eligible: 'true'}}\n"))
	f.Add([]byte("roles: {r: {backend: aws_iam_group, group: g, iam_user: 'user.id', approvers: ['@a'], eligible: 'true', approver_rule: '\"sre\" in approver.groups'}}\n"))
	f.Add([]byte("roles: {s: {backend: aws_sso, permission_set: Admin, organizational_unit: ou-ab12-12345678, approvers: [U1], eligible: 'true'}}\n"))
	f.Add([]byte("roles: {s: {backend: aws_sso, permission_set: Admin, organizational_unit: r-ab12, accounts: {prod: '111111111111'}, approvers: [U1], eligible: 'true'}}\n"))
	f.Add([]byte("roles: {s: {backend: aws_sso_group, sso_group: Billing, approvers: [U1], eligible: 'true'}}\n"))
	f.Add([]byte(workloadCatalog))
	f.Add([]byte("workload_issuers: {gh: {issuer: 'http://[::1]:8080/x', audience: a}}\nroles: {r: {backend: aws_sts, role_arn: 'arn:aws:iam::111111111111:role/r', approvers: [U0A], eligible: 'true', workloads: {eligible: 'workload.claims.x == 1.0', auto_approve: 'workload.ref == \"\"'}}}\n"))
	f.Add([]byte("workload_issuers: {a: {issuer: 'https://x', audience: b}, b: {issuer: 'HTTPS://X/', audience: b}}\nroles: {r: {backend: aws_sts, role_arn: 'arn:aws:iam::111111111111:role/r', approvers: [U0A], eligible: 'true', workloads: {eligible: 'user.id == \"\"'}}}\n"))
	f.Add([]byte("roles: {r: {backend: aws_sts, role_arn: 'arn:aws:iam::111111111111:role/r', approvers: [U0A], eligible: 'workload.subject != \"\"', workloads: {auto_approve: 'true'}}}\n"))
	f.Add([]byte("defaults: {remind_after: 10m, escalate_after: 1h, escalation_approvers: ['@leads'], max_lead_time: 3d}\n" +
		"roles: {r: {backend: aws_iam_group, group: g, iam_user: 'user.id', approvers: ['@a'], eligible: 'true', remind_after: 0, escalate_after: 0}, " +
		"s: {backend: aws_iam_group, group: g, iam_user: 'user.id', approvers: ['@a'], eligible: 'true', escalate_after: 2h, escalation_approvers: [U0B], max_lead_time: 1d, end_with_incident: true}}\n"))
	f.Add([]byte("roles: {r: {backend: aws_iam_group, group: g, iam_user: 'user.id', approvers: ['@a'], eligible: 'request.start > now', " +
		"request_for_others: 'grantee.oncall && \"sre\" in user.groups && user != grantee'}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := rules.Parse("fuzz.yaml", data)
		if err != nil {
			var le *rules.LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is not a *LoadError with problems: %v", err)
			}
			return
		}
		// Whatever loads must be a catalog the service can use safely.
		if len(c.Roles) == 0 {
			t.Fatal("loaded a catalog without roles")
		}
		for name, r := range c.Roles {
			switch {
			case !slices.Contains([]string{"aws_sts", "aws_iam_group", "aws_sso", "aws_sso_group"}, r.Backend):
				t.Fatalf("%s: backend %q", name, r.Backend)
			case r.Backend == "aws_sts" && r.RoleARN == "", r.Backend == "aws_iam_group" && (r.Group == "" || r.IAMUser == ""),
				r.Backend == "aws_sso" && (r.PermissionSet == "" || len(r.Accounts) == 0 && r.OrganizationalUnit == ""),
				r.Backend == "aws_sso_group" && r.SSOGroup == "":
				t.Fatalf("%s: target missing", name)
			case r.Backend != "aws_sso" && (len(r.Accounts) > 0 || r.OrganizationalUnit != ""):
				t.Fatalf("%s: accounts on backend %s", name, r.Backend)
			case r.ApprovalsRequired < 1 || len(r.Approvers) == 0 && len(r.ApprovalSteps) == 0:
				t.Fatalf("%s: approvals %d of %v", name, r.ApprovalsRequired, r.Approvers)
			case r.MaxDuration <= 0 || r.DefaultDuration <= 0 || r.DefaultDuration > r.MaxDuration || r.RequestTTL <= 0:
				t.Fatalf("%s: durations %v %v %v", name, r.MaxDuration, r.DefaultDuration, r.RequestTTL)
			}
			checkTiming(t, r)
			checkSteps(t, r)
			// Evaluation never panics, whatever the rule.
			u := rules.User{ID: "U1", Email: "a@b.c", Groups: []string{"sre"}}
			in := rules.Input{Role: name, Duration: time.Hour, Reason: "fuzzing it"}
			_, _ = r.IsEligible(u, in, time.Now())
			_, _ = r.IsAutoApproved(u, in, time.Now())
			_, _ = r.MayRequestFor(u, rules.Prepare(u), in, time.Now())
			checkWorkloadRole(t, c, r, in)
		}
	})
}

// checkWorkloadRole checks what the fuzzed catalog says about workloads: a
// role takes them only with an eligible rule and trusted issuers, each an
// https (or loopback http) URL with an audience, and evaluating the rules
// never panics.
func checkWorkloadRole(t *testing.T, c *rules.Catalog, r *rules.Role, in rules.Input) {
	t.Helper()
	issuers := c.WorkloadIssuers()
	for _, wi := range issuers {
		if wi.Audience == "" || !strings.HasPrefix(strings.ToLower(wi.URL), "https://") && !strings.HasPrefix(strings.ToLower(wi.URL), "http://") {
			t.Fatalf("workload issuer %+v", wi)
		}
	}
	if r.Workloads == nil {
		if ok, err := r.WorkloadEligible(rules.Workload{}, in, time.Now()); ok || err != nil {
			t.Fatalf("%s: no workloads, yet WorkloadEligible = %v, %v", r.Name, ok, err)
		}
		return
	}
	if strings.TrimSpace(r.Workloads.Eligible) == "" || len(issuers) == 0 {
		t.Fatalf("%s: workloads %+v with issuers %v", r.Name, r.Workloads, issuers)
	}
	w := rules.Workload{IssuerName: issuers[0].Name, Issuer: issuers[0].URL, Repository: "acme/infra",
		Claims: map[string]any{"x": 1.0, "l": []any{"a", nil}, "m": map[string]any{"k": true}}}
	_, _ = r.WorkloadEligible(w, in, time.Now())
	_, _ = r.WorkloadAutoApproves(w, in, time.Now())
}

// checkTiming checks the timing keys of a fuzzed role that loaded: no
// negative delay, an escalation with both its delay and its approvers, a
// reminder before it, and a window that may start some time ahead.
func checkTiming(t *testing.T, r *rules.Role) {
	t.Helper()
	switch {
	case r.RemindAfter < 0 || r.EscalateAfter < 0 || r.MaxLeadTime <= 0:
		t.Fatalf("%s: remind_after %v, escalate_after %v, max_lead_time %v", r.Name, r.RemindAfter, r.EscalateAfter, r.MaxLeadTime)
	case (r.EscalateAfter > 0) != (len(r.EscalationApprovers) > 0):
		t.Fatalf("%s: escalate_after %v with escalation_approvers %v", r.Name, r.EscalateAfter, r.EscalationApprovers)
	case r.RemindAfter > 0 && r.EscalateAfter > 0 && r.RemindAfter >= r.EscalateAfter:
		t.Fatalf("%s: remind_after %v not before escalate_after %v", r.Name, r.RemindAfter, r.EscalateAfter)
	}
}

// checkSteps checks a loaded role's approval steps: none, or two or more
// that replace its approvers, each with someone to ask and a count of at
// least one, adding up to approvals_required.
func checkSteps(t *testing.T, r *rules.Role) {
	t.Helper()
	if len(r.ApprovalSteps) == 0 {
		return
	}
	if len(r.ApprovalSteps) < 2 || len(r.Approvers) > 0 || len(r.AccountApprovers) > 0 {
		t.Fatalf("%s: %d steps beside approvers %v and account approvers %v", r.Name, len(r.ApprovalSteps), r.Approvers, r.AccountApprovers)
	}
	sum := 0
	for i, s := range r.ApprovalSteps {
		if len(s.Approvers) == 0 || s.ApprovalsRequired < 1 {
			t.Fatalf("%s: step %d is %+v", r.Name, i+1, s)
		}
		sum += s.ApprovalsRequired
	}
	if sum != r.ApprovalsRequired {
		t.Fatalf("%s: steps need %d approvals, approvals_required says %d", r.Name, sum, r.ApprovalsRequired)
	}
}
