package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRulesTestExample(t *testing.T) {
	r := runBinary(t, cleanEnv(), "rules", "test", "rules/roles_test.yaml")
	if r.code != 0 || r.stderr != "" || !regexp.MustCompile(`\n[1-9][0-9]* passed, 0 failed\n$`).MatchString(r.stdout) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "PASS  ") {
			t.Errorf("line %q, want PASS  <name>", l)
		}
	}
}

func TestRulesTestFailing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "roles.yaml"), `roles:
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email'
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
`)
	tests := filepath.Join(dir, "roles_test.yaml")
	writeFile(t, tests, `catalog: roles.yaml
cases:
  - name: sre is eligible
    user: {email: bob@example.com, groups: [sre]}
    request: {role: prod-admin}
    expect: {eligible: true, auto_approve: false}
  - name: engineer is eligible
    user: {email: erin@example.com, groups: [engineering]}
    request: {role: prod-admin, duration: 1h, reason: "load-testing the queue"}
    expect: {eligible: true}
`)
	r := runBinary(t, cleanEnv(), "rules", "test", tests)
	want := `PASS  sre is eligible
FAIL  engineer is eligible: eligible = false, want true (eligible: '"sre" in user.groups')
1 passed, 1 failed
`
	if r.code != 1 || r.stdout != want || r.stderr != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and\n%s", r.code, r.stdout, r.stderr, want)
	}
}

// TestRulesTestDefaultCatalog: a file that names no catalog tests the one
// serve would load, $JIT_RULES or rules/roles.yaml.
func TestRulesTestDefaultCatalog(t *testing.T) {
	dir := t.TempDir()
	tests := filepath.Join(dir, "t.yaml")
	writeFile(t, tests, `cases:
  - name: finance may not touch staging
    user: {groups: [finance]}
    request: {role: staging-admin}
    expect: {eligible: false}
`)
	r := runBinary(t, cleanEnv(), "rules", "test", tests)
	if r.code != 0 || r.stdout != "PASS  finance may not touch staging\n1 passed, 0 failed\n" {
		t.Errorf("rules/roles.yaml: %+v", r)
	}
	other := filepath.Join(dir, "other.yaml")
	writeFile(t, other, `roles:
  staging-admin:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/staging-admin
    approvers: [U0AAA]
    eligible: 'true'
`)
	r = runBinary(t, cleanEnv("JIT_RULES="+other), "rules", "test", tests)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  finance may not touch staging: eligible = true, want false (eligible: 'true')") {
		t.Errorf("JIT_RULES not honoured: %+v", r)
	}
}

func TestRulesTestCannotRun(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	badKey := filepath.Join(dir, "bad.yaml")
	writeFile(t, badKey, `cases:
  - name: typo
    user: {emial: bob@example.com}
    request: {role: prod-admin, duration: 1 hour}
    expect: {eligible: true}
`)
	unknownRole := filepath.Join(dir, "role.yaml")
	writeFile(t, unknownRole, `cases:
  - name: typo
    user: {}
    request: {role: prod-admni}
    expect: {eligible: true}
`)
	noCatalog := filepath.Join(dir, "nocatalog.yaml")
	writeFile(t, noCatalog, `catalog: nope.yaml
cases:
  - {name: a, user: {}, request: {role: prod-admin}, expect: {eligible: true}}
`)
	tests := []struct {
		name string
		args []string
		want string // stderr
	}{
		{name: "no file", args: []string{"rules", "test"}, want: "usage: jitbot rules test FILE\n"},
		{name: "two files", args: []string{"rules", "test", "a.yaml", "b.yaml"}, want: "usage: jitbot rules test FILE\n"},
		{name: "unknown sub-command", args: []string{"rules", "lint"}, want: "usage: jitbot rules check [FILE]\n       jitbot rules test FILE\n       jitbot rules suggest ROLE [--since DURATION]\n"},
		{name: "missing file", args: []string{"rules", "test", missing}, want: missing + ": cannot read the rule test file: no such file or directory\n1 problem\n"},
		{name: "bad keys", args: []string{"rules", "test", badKey}, want: badKey + `:3: case "typo": user: unknown key "emial" (known: id, name, email, groups, is_guest, is_external, oncall, oncall_schedules)
` + badKey + `:4: case "typo": request: duration: "1 hour" is not a duration (use e.g. 90s, 15m, 1h30m, 1d): invalid duration "1 hour": use units s, m, h or d, as in 90s, 15m, 1h30m or 1d
2 problems
`},
		{name: "unknown role", args: []string{"rules", "test", unknownRole}, want: unknownRole + `:4: case "typo": unknown role "prod-admni" (rules/roles.yaml has billing-readonly, db-breakglass, prod-admin, prod-readonly, staging-admin)
1 problem
`},
		{name: "catalog missing", args: []string{"rules", "test", noCatalog}, want: filepath.Join(dir, "nope.yaml") + ": cannot read the role catalog: no such file or directory\n1 problem\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, cleanEnv(), tt.args...)
			if r.code != 2 || r.stderr != tt.want || r.stdout != "" {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 2 and stderr:\n%s", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

// TestRulesTestWorkload: a workload case runs the role's workloads rules,
// a wrong expectation fails (exit 1) naming them, and a workload from an
// issuer the catalog does not trust is a problem of the file (exit 2).
func TestRulesTestWorkload(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "roles.yaml"), `workload_issuers:
  github: {issuer: "https://token.actions.githubusercontent.com", audience: jitbot}
roles:
  infra-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/infra-readonly
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    workloads:
      eligible: 'workload.repository == "acme/infra"'
      auto_approve: 'workload.ref == "refs/heads/main"'
`)
	tests := filepath.Join(dir, "roles_test.yaml")
	writeFile(t, tests, `catalog: roles.yaml
cases:
  - name: main is read-only at once
    workload: {issuer_name: github, repository: acme/infra, ref: refs/heads/main}
    request: {role: infra-readonly}
    expect: {eligible: true, auto_approve: true}
  - name: a branch too
    workload: {issuer_name: github, repository: acme/infra, ref: refs/heads/x}
    request: {role: infra-readonly}
    expect: {auto_approve: true}
`)
	r := runBinary(t, cleanEnv(), "rules", "test", tests)
	want := `PASS  main is read-only at once
FAIL  a branch too: workloads.auto_approve = false, want true (workloads.auto_approve: 'workload.ref == "refs/heads/main"')
1 passed, 1 failed
`
	if r.code != 1 || r.stdout != want || r.stderr != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and\n%s", r.code, r.stdout, r.stderr, want)
	}

	writeFile(t, tests, `catalog: roles.yaml
cases:
  - name: gitlab is not trusted
    workload: {issuer_name: gitlab, repository: acme/infra}
    request: {role: infra-readonly}
    expect: {eligible: false}
`)
	r = runBinary(t, cleanEnv(), "rules", "test", tests)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tests+`:4: case "gitlab is not trusted": workload: issuer_name "gitlab" and issuer "" are not a workload issuer of `) {
		t.Errorf("untrusted issuer: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
