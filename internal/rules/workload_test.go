package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// workloadCatalog trusts GitHub Actions and a Kubernetes cluster, and has
// a role for each of the examples the workload rules are for.
const workloadCatalog = `workload_issuers:
  github:
    issuer: https://token.actions.githubusercontent.com
    audience: https://jitbot.example.com
  k8s-prod:
    issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE
    audience: jitbot
roles:
  infra-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/infra-readonly
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    workloads:
      eligible: 'workload.issuer_name == "github" && workload.repository.startsWith("acme/")'
      auto_approve: 'workload.repository == "acme/infra" && workload.ref == "refs/heads/main"'
  prod-deploy:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-deploy
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    workloads:
      eligible: 'workload.environment == "production"'
  k8s-deploy:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/k8s-deploy
    approvers: ["@platform-leads"]
    eligible: 'false'
    workloads:
      eligible: 'workload.namespace == "deploy" && workload.service_account == "deployer" && request.duration <= duration("1h")'
  deploy-workflow:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/deploy-workflow
    approvers: ["@platform-leads"]
    eligible: 'false'
    workloads:
      eligible: 'workload.claims["job_workflow_ref"].startsWith("acme/infra/.github/workflows/deploy.yml@")'
      auto_approve: 'has(workload.claims.run_attempt) && workload.claims.run_attempt == "1" && now.getHours("UTC") < 18'
  people-only:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/people-only
    approvers: ["@platform-leads"]
    eligible: 'true'
    auto_approve: 'true'
`

func TestWorkloadIssuers(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(workloadCatalog))
	if err != nil {
		t.Fatal(err)
	}
	want := []rules.WorkloadIssuer{
		{Name: "github", URL: "https://token.actions.githubusercontent.com", Audience: "https://jitbot.example.com"},
		{Name: "k8s-prod", URL: "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", Audience: "jitbot"},
	}
	got := c.WorkloadIssuers()
	if !slices.Equal(got, want) {
		t.Errorf("WorkloadIssuers = %+v\nwant %+v", got, want)
	}
	got[0].Audience = "changed"
	if c.WorkloadIssuers()[0].Audience != want[0].Audience {
		t.Errorf("WorkloadIssuers hands out the catalog's own list")
	}
	if ro := c.Roles["infra-readonly"].Workloads; ro == nil || !strings.Contains(ro.AutoApprove, `"acme/infra"`) {
		t.Errorf("infra-readonly Workloads = %+v", ro)
	}
	if c.Roles["people-only"].Workloads != nil {
		t.Errorf("a role without workloads has Workloads")
	}
	plain, err := rules.Parse("roles.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.WorkloadIssuers(); len(got) != 0 {
		t.Errorf("a catalog without workload_issuers trusts %v", got)
	}
	// A catalog with OU accounts is the same catalog to workloads.
	if got := c.WithOrganizationalUnits(nil).WorkloadIssuers(); !slices.Equal(got, want) {
		t.Errorf("WithOrganizationalUnits dropped the issuers: %v", got)
	}
	for _, url := range []string{"http://127.0.0.1:8080/issuer", "http://[::1]:8080", "http://127.0.0.2"} {
		local := strings.Replace(workloadCatalog, "https://token.actions.githubusercontent.com", url, 1)
		if _, err := rules.Parse("roles.yaml", []byte(local)); err != nil {
			t.Errorf("an http issuer on a loopback address, for tests, %s: %v", url, err)
		}
	}
}

func TestWorkloadRules(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(workloadCatalog))
	if err != nil {
		t.Fatal(err)
	}
	morning := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	gh := func(repo, ref, env string) rules.Workload {
		return rules.Workload{Issuer: "https://token.actions.githubusercontent.com", IssuerName: "github",
			Subject: "repo:" + repo + ":ref:" + ref, Repository: repo, Ref: ref, Environment: env}
	}
	deployRun := gh("acme/infra", "refs/heads/main", "")
	deployRun.Claims = map[string]any{"job_workflow_ref": "acme/infra/.github/workflows/deploy.yml@refs/heads/main", "run_attempt": "1"}
	k8s := rules.Workload{IssuerName: "k8s-prod", Subject: "system:serviceaccount:deploy:deployer", Namespace: "deploy", ServiceAccount: "deployer"}
	tests := []struct {
		name, role     string
		w              rules.Workload
		d              time.Duration
		now            time.Time
		eligible, auto bool
	}{
		{name: "infra main is auto-approved read-only", role: "infra-readonly", w: gh("acme/infra", "refs/heads/main", ""), eligible: true, auto: true},
		{name: "infra branch asks", role: "infra-readonly", w: gh("acme/infra", "refs/heads/feature", ""), eligible: true},
		{name: "other org", role: "infra-readonly", w: gh("evil/infra", "refs/heads/main", "")},
		{name: "production environment is eligible, never auto-approved", role: "prod-deploy", w: gh("acme/app", "refs/heads/main", "production"), eligible: true},
		{name: "staging environment", role: "prod-deploy", w: gh("acme/app", "refs/heads/main", "staging")},
		{name: "kubernetes deploy namespace", role: "k8s-deploy", w: k8s, d: time.Hour, eligible: true},
		{name: "kubernetes too long", role: "k8s-deploy", w: k8s, d: 2 * time.Hour},
		{name: "kubernetes other namespace", role: "k8s-deploy", w: rules.Workload{Namespace: "default", ServiceAccount: "deployer"}, d: time.Hour},
		{name: "deploy workflow", role: "deploy-workflow", w: deployRun, now: morning, eligible: true, auto: true},
		{name: "deploy workflow in the evening", role: "deploy-workflow", w: deployRun, now: morning.Add(10 * time.Hour), eligible: true},
		{name: "a role without workloads refuses them", role: "people-only", w: deployRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Roles[tt.role]
			in := rules.Input{Role: tt.role, Duration: cmpOr(tt.d, time.Hour), Reason: "deploy"}
			now := tt.now
			if now.IsZero() {
				now = morning
			}
			if got, err := r.WorkloadEligible(tt.w, in, now); err != nil || got != tt.eligible {
				t.Errorf("WorkloadEligible = %v, %v; want %v", got, err, tt.eligible)
			}
			if got, err := r.WorkloadAutoApproves(tt.w, in, now); err != nil || got != tt.auto {
				t.Errorf("WorkloadAutoApproves = %v, %v; want %v", got, err, tt.auto)
			}
		})
	}
	// The human rules stay the human rules: a person in no group is not
	// let in by the workload rules, and a workload not by the person's.
	if ok, err := c.Roles["infra-readonly"].IsEligible(rules.User{Email: "x@example.com"}, rules.Input{Role: "infra-readonly"}, morning); ok || err != nil {
		t.Errorf("IsEligible for a person outside sre = %v, %v", ok, err)
	}
	// A claim the token lacks is an evaluation error, which refuses.
	ok, err := c.Roles["deploy-workflow"].WorkloadEligible(gh("acme/infra", "refs/heads/main", ""), rules.Input{}, morning)
	if ok || err == nil || !strings.Contains(err.Error(), "job_workflow_ref") {
		t.Errorf("missing claim = %v, %v; want false and an error naming it", ok, err)
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestWorkloadRulesCostLimit: a workload rule is stopped by the cost
// limit like a person's.
func TestWorkloadRulesCostLimit(t *testing.T) {
	src := strings.Replace(workloadCatalog, `'workload.environment == "production"'`,
		`'workload.claims.groups.all(a, workload.claims.groups.all(b, workload.claims.groups.all(c, a + b + c != "")))'`, 1)
	c, err := rules.Parse("roles.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]any, 200)
	for i := range groups {
		groups[i] = strings.Repeat("g", i%7+1)
	}
	start := time.Now()
	_, err = c.Roles["prod-deploy"].WorkloadEligible(rules.Workload{Claims: map[string]any{"groups": groups}}, rules.Input{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("err = %v, want the cost limit to stop it", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("evaluation ran %v before stopping", d)
	}
}

func TestWorkloadProblems(t *testing.T) {
	checkEdits(t, workloadCatalog, []catalogEdit{
		{"unknown issuer key", "    audience: jitbot\n", "    audiences: [jitbot]\n",
			`roles.yaml:7: workload issuer k8s-prod: unknown key "audiences" (known: issuer, audience)`},
		{"missing audience", "    audience: jitbot\n", "", "roles.yaml:5: workload issuer k8s-prod: missing audience"},
		{"empty audience", "    audience: jitbot\n", "    audience: ''\n", "roles.yaml:7: workload issuer k8s-prod: audience is empty"},
		{"missing issuer", "    issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE\n", "", "roles.yaml:5: workload issuer k8s-prod: missing issuer"},
		{"http issuer", "https://token.actions.githubusercontent.com", "http://token.actions.githubusercontent.com",
			`roles.yaml:3: workload issuer github: issuer "http://token.actions.githubusercontent.com" must be an https URL (http only for a loopback address`},
		{"http on a name, not a loopback address", "https://token.actions.githubusercontent.com", "http://localhost.example.com:8080", "must be an https URL"},
		{"empty issuer", "https://token.actions.githubusercontent.com", "''", `roles.yaml:3: workload issuer github: issuer "" is empty`},
		{"null issuer", "https://token.actions.githubusercontent.com", "", `roles.yaml:3: workload issuer github: issuer "" is empty`},
		{"issuer not a string", "https://token.actions.githubusercontent.com", "[https://x]", `roles.yaml:3: workload issuer github: issuer must be a string`},
		{"http on localhost, a name", "https://token.actions.githubusercontent.com", "http://localhost:8080", "must be an https URL"},
		{"relative issuer", "https://token.actions.githubusercontent.com", "token.actions.githubusercontent.com", "is not an absolute URL with a host"},
		{"issuer with a query", "https://token.actions.githubusercontent.com", "https://token.actions.githubusercontent.com?x=1", "must have no query or fragment"},
		{"issuer with a fragment", "https://token.actions.githubusercontent.com", "https://token.actions.githubusercontent.com#x", "must have no query or fragment"},
		{"issuer with a password", "https://token.actions.githubusercontent.com", "https://u:p@token.actions.githubusercontent.com", "must not hold a user name or password"},
		{"issuer not a URL", "https://token.actions.githubusercontent.com", "https://[::1", "is not a URL"},
		{"one issuer under two names", "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", "https://Token.Actions.GithubUserContent.com/",
			"roles.yaml:6: workload issuer k8s-prod: issuer https://Token.Actions.GithubUserContent.com/ is already that of workload issuer github"},
		{"issuer twice", "  k8s-prod:", "  github:", `roles.yaml:5: YAML syntax: mapping key "github" already defined`},
		{"bad issuer name", "  k8s-prod:", "  K8s_Prod:", `roles.yaml:5: workload issuer name "K8s_Prod" must be lowercase letters, digits and dashes`},
		{"issuer without settings", "  k8s-prod:\n    issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE\n    audience: jitbot\n", "  k8s-prod:\n",
			"roles.yaml:5: workload issuer k8s-prod has no settings"},
		{"issuers empty", workloadCatalog[:strings.Index(workloadCatalog, "roles:")], "workload_issuers: {}\n", "roles.yaml:1: workload_issuers is empty"},
		{"workloads without issuers", "workload_issuers:\n", "unused:\n",
			"roles.yaml:14: role infra-readonly: workloads needs workload_issuers in the catalog"},
		{"workloads without eligible", "      eligible: 'workload.environment == \"production\"'\n", "      auto_approve: 'true'\n",
			"roles.yaml:22: role prod-deploy: workloads: missing eligible"},
		{"workloads empty", "    workloads:\n      eligible: 'workload.environment == \"production\"'\n", "    workloads:\n",
			"roles.yaml:22: role prod-deploy: workloads is empty"},
		{"unknown workloads key", "      eligible: 'workload.environment == \"production\"'\n", "      eligible: 'workload.environment == \"production\"'\n      approvers: [U0AAA]\n",
			`roles.yaml:24: role prod-deploy: workloads: unknown key "approvers" (known: eligible, auto_approve)`},
		{"workloads not a mapping", "    workloads:\n      eligible: 'workload.environment == \"production\"'\n", "    workloads: 'true'\n",
			"roles.yaml:22: role prod-deploy: workloads must be a mapping"},
		{"unknown workload field", `workload.environment == "production"`, `workload.env == "production"`,
			"roles.yaml:23: role prod-deploy: workloads.eligible: undefined field 'env'"},
		{"workload rule not bool", `'workload.environment == "production"'`, `'workload.environment'`,
			"roles.yaml:23: role prod-deploy: workloads.eligible: must give a bool, but gives a string"},
		{"workload rule reads user", `'workload.environment == "production"'`, `'"sre" in user.groups'`,
			"roles.yaml:23: role prod-deploy: workloads.eligible: undeclared reference to 'user'"},
		{"workload auto_approve reads user", `auto_approve: 'workload.repository == "acme/infra" && workload.ref == "refs/heads/main"'`, `auto_approve: 'user.email == ""'`,
			"; the rules under workloads see workload, request and now, not user"},
		{"human rule reads workload", `    eligible: '"sre" in user.groups'
    workloads:
      eligible: 'workload.environment`, `    eligible: 'workload.environment == "production"'
    workloads:
      eligible: 'workload.environment`, "roles.yaml:21: role prod-deploy: eligible: undeclared reference to 'workload'"},
		{"human auto_approve reads workload", "    auto_approve: 'true'\n", "    auto_approve: 'workload.repository == \"acme/infra\"'\n",
			"; only the rules under workloads see workload"},
		{"approver_rule reads workload", "    auto_approve: 'true'\n", "    approver_rule: 'workload.repository == \"acme/infra\"'\n",
			"role people-only: approver_rule: undeclared reference to 'workload'"},
	})
}
