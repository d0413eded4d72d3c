package rules_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/rules"
)

// issuerRole is a role whose workload rule reads both issuer fields, to
// show that a case naming one of them gets the other from the catalog.
const issuerRole = `  from-github:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/from-github
    approvers: ["@platform-leads"]
    eligible: 'false'
    workloads:
      eligible: 'workload.issuer == "https://token.actions.githubusercontent.com" && workload.issuer_name == "github"'
`

// TestRuleTestsWorkload runs workload cases against workloadCatalog: each
// of the rule examples passes, and wrong expectations fail naming the
// workloads rule.
func TestRuleTestsWorkload(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "roles.yaml"), workloadCatalog+issuerRole)
	tests := filepath.Join(dir, "t.yaml")
	writeTestFile(t, tests, `catalog: roles.yaml
cases:
  - name: infra main is auto-approved read-only
    workload: &main {issuer_name: github, repository: acme/infra, ref: refs/heads/main}
    request: {role: infra-readonly}
    expect: {eligible: true, auto_approve: true}
  - name: production deploys ask a person
    workload: {issuer_name: github, repository: acme/app, environment: production}
    request: {role: prod-deploy}
    expect: {eligible: true, auto_approve: false}
  - name: the deploy namespace of the cluster
    workload: {issuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", namespace: deploy, service_account: deployer}
    request: {role: k8s-deploy, duration: 1h}
    expect: {eligible: true}
  - name: the deploy workflow, by its claims
    workload:
      <<: *main
      claims:
        job_workflow_ref: acme/infra/.github/workflows/deploy.yml@refs/heads/main
        run_attempt: "1"
        run_number: 42
        nested: {list: [1, 2.5, true, null, x]}
    request: {role: deploy-workflow}
    expect: {eligible: true, auto_approve: true}
  - name: an issuer name gets its URL and a URL its name
    workload: {issuer_name: github}
    request: {role: from-github}
    expect: {eligible: true}
  - name: a role without workloads
    workload: *main
    request: {role: people-only}
    expect: {eligible: true, auto_approve: false}
  - name: production is never automatic
    workload: {issuer_name: github, environment: production}
    request: {role: prod-deploy}
    expect: {auto_approve: true}
  - name: people still get the human rules
    user: {groups: [sre]}
    request: {role: infra-readonly}
    expect: {eligible: true, auto_approve: false}
`)
	f, err := rules.LoadTests(tests)
	if err != nil {
		t.Fatal(err)
	}
	wantClaims := map[string]any{"job_workflow_ref": "acme/infra/.github/workflows/deploy.yml@refs/heads/main", "run_attempt": "1",
		"run_number": float64(42), "nested": map[string]any{"list": []any{float64(1), 2.5, true, nil, "x"}}}
	if w := f.Cases[3].Workload; w == nil || w.Repository != "acme/infra" || !reflect.DeepEqual(w.Claims, wantClaims) {
		t.Errorf("workload with merge key and claims = %+v\nwant claims %#v", w, wantClaims)
	}
	if f.Cases[7].Workload != nil {
		t.Errorf("a person's case has a workload")
	}
	c := loadCatalog(t, f.Catalog)
	if err := f.Check(c); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a role without workloads":      "workloads.eligible = false, want true (people-only has no workloads.eligible rule)",
		"production is never automatic": "workloads.auto_approve = false, want true (prod-deploy has no workloads.auto_approve rule)",
	}
	for _, r := range f.Run(c) {
		if got := strings.Join(r.Failures, "; "); got != want[r.Name] || r.Pass != (got == "") {
			t.Errorf("%s: pass %v, failures %q; want %q", r.Name, r.Pass, got, want[r.Name])
		}
	}
}

// TestRuleTestsWorkloadFailsOnChangedRule: a workload case catches a
// loosened workload rule, with the rule in the message.
func TestRuleTestsWorkloadFailsOnChangedRule(t *testing.T) {
	loose := strings.Replace(workloadCatalog, `workload.repository == "acme/infra" && workload.ref == "refs/heads/main"`, `workload.repository == "acme/infra"`, 1)
	c, err := rules.Parse("roles.yaml", []byte(loose))
	if err != nil {
		t.Fatal(err)
	}
	f, err := rules.ParseTests("t.yaml", []byte(`cases:
  - {name: a branch asks, workload: {issuer_name: github, repository: acme/infra, ref: refs/heads/x}, request: {role: infra-readonly}, expect: {auto_approve: false}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Run(c)[0]
	if want := `workloads.auto_approve = true, want false (workloads.auto_approve: 'workload.repository == "acme/infra"')`; r.Pass || strings.Join(r.Failures, "; ") != want {
		t.Errorf("result = %+v, want the failure %s", r, want)
	}
}

func TestRuleTestsWorkloadProblems(t *testing.T) {
	const good = `cases:
  - name: ci
    workload: {issuer_name: github, repository: acme/infra, claims: {a: b}}
    request: {role: infra-readonly}
    expect: {eligible: true}
`
	for _, tt := range []struct{ name, old, new, want string }{
		{"unknown key", "repository:", "repo:", `t.yaml:3: case "ci": workload: unknown key "repo" (known: issuer, issuer_name, subject, repository, ref, environment, workflow, run_id, actor, namespace, service_account, claims)`},
		{"no issuer", "issuer_name: github, ", "", `t.yaml:3: case "ci": workload: missing issuer_name`},
		{"claims not a mapping", "claims: {a: b}", "claims: [a]", `t.yaml:3: case "ci": workload: claims must be a mapping`},
		{"claim of a wrong kind", "claims: {a: b}", "claims: {a: .inf}", `t.yaml:3: case "ci": workload: claims: a claim must be a string`},
		{"claims refer to themselves", "claims: {a: b}", "claims: &c {a: *c}", `t.yaml:3: case "ci": workload: claims: claims nest too deeply`},
		{"claims name no anchor", "claims: {a: b}", "claims: {a: *nope}", `t.yaml:3: case "ci": workload: claims: alias *nope names no anchor`},
		{"user and workload", "    request:", "    user: {id: U1}\n    request:", `t.yaml:3: case "ci": give user or workload, not both`},
		{"neither", "    workload: {issuer_name: github, repository: acme/infra, claims: {a: b}}\n", "", `t.yaml:2: case "ci": missing user (or workload, for a CI job or agent)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(good, tt.old, tt.new, 1)
			if src == good {
				t.Fatalf("the edit %q changed nothing", tt.old)
			}
			_, err := rules.ParseTests("t.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant a problem %s", err, tt.want)
			}
		})
	}

	c, err := rules.Parse("roles.yaml", []byte(workloadCatalog))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rules.Parse("plain.yaml", []byte(`roles: {infra-readonly: {backend: aws_sts, role_arn: "arn:aws:iam::111111111111:role/r", approvers: [U0AAA], eligible: 'true'}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, workload string
		c              *rules.Catalog
		want           string
	}{
		{"unknown issuer name", "{issuer_name: gitub}", c, `t.yaml:3: case "ci": workload: issuer_name "gitub" and issuer "" are not a workload issuer of roles.yaml (it has github (https://token.actions.githubusercontent.com), k8s-prod`},
		{"unknown issuer", "{issuer: https://gitlab.com}", c, `issuer_name "" and issuer "https://gitlab.com" are not a workload issuer`},
		{"name and URL disagree", "{issuer_name: github, issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE}", c, `issuer_name "github" and issuer "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE" are not`},
		{"catalog without issuers", "{issuer_name: github}", plain, `t.yaml:3: case "ci": workload: plain.yaml has no workload_issuers, so no workload reaches its rules`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := rules.ParseTests("t.yaml", []byte(strings.Replace(good, "{issuer_name: github, repository: acme/infra, claims: {a: b}}", tt.workload, 1)))
			if err != nil {
				t.Fatal(err)
			}
			err = f.Check(tt.c)
			var le *rules.LoadError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v\nwant a problem %s", err, tt.want)
			}
		})
	}
}
