package rules_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/rules"
)

// TestRuleTestsMayRequestFor: a rules test case may name a grantee and
// expect may_request_for, which runs request_for_others for the case's
// user filing for the grantee, and may set request.start, which is the
// case's now when it does not.
func TestRuleTestsMayRequestFor(t *testing.T) {
	f, res := runTestFile(t, forOthersRole+
		`    request_for_others: 'grantee.oncall && "sre" in user.groups && request.start.getHours("UTC") < 22'
`, `catalog: roles.yaml
now: 2026-11-23T10:00:00Z
cases:
  - name: an sre for the on-call engineer
    user: &lead {id: U0LEAD, groups: [sre]}
    grantee: &bob {id: U0BOB, oncall: true}
    request: {role: r}
    expect: {may_request_for: true}
  - name: a window at night, wrongly expected
    user: *lead
    grantee: *bob
    request: {role: r, start: 2026-11-23T22:30:00Z}
    expect: {may_request_for: true}
  - name: not when the case is at night
    now: 2026-11-23T23:00:00Z
    user: *lead
    grantee: *bob
    request: {role: r}
    expect: {may_request_for: false}
  - name: someone off call, wrongly expected
    user: *lead
    grantee: {id: U0CAROL}
    request: {role: r}
    expect: {may_request_for: true}
`)
	if got := f.Cases[1].Request.Start.Format("15:04"); got != "22:30" {
		t.Errorf("case 2 start = %s, want 22:30", got)
	}
	var passed []bool
	for _, r := range res {
		passed = append(passed, r.Pass)
	}
	want := `request_for_others = false, want true (request_for_others: 'grantee.oncall && "sre" in user.groups && request.start.getHours("UTC") < 22')`
	if !slices.Equal(passed, []bool{true, false, true, false}) || len(res[1].Failures) != 1 || res[1].Failures[0] != want {
		t.Errorf("results = %+v", res)
	}
}

// TestRuleTestsMayRequestForNoRule: a role without request_for_others
// lets nobody file for another, and the failure says it has no rule.
func TestRuleTestsMayRequestForNoRule(t *testing.T) {
	_, res := runTestFile(t, forOthersRole, `catalog: roles.yaml
cases:
  - name: for bob
    user: {id: U0LEAD}
    grantee: {id: U0BOB}
    request: {role: r}
    expect: {may_request_for: true}
`)
	if res[0].Pass || len(res[0].Failures) != 1 || res[0].Failures[0] != "request_for_others = false, want true (r has no request_for_others rule)" {
		t.Errorf("results = %+v", res)
	}
}

// runTestFile writes catalog as roles.yaml and tests beside it, and runs
// them.
func runTestFile(t *testing.T, catalog, tests string) (*rules.TestFile, []rules.TestResult) {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "roles.yaml"), catalog)
	writeTestFile(t, filepath.Join(dir, "t.yaml"), tests)
	f, err := rules.LoadTests(filepath.Join(dir, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return f, f.Run(loadCatalog(t, f.Catalog))
}

// TestRuleTestsGranteeProblems: the keys for request_for_others are
// checked like the others.
func TestRuleTestsGranteeProblems(t *testing.T) {
	const good = `cases:
  - name: for bob
    user: {id: U0LEAD, groups: [sre]}
    grantee: {id: U0BOB, oncall: true}
    request: {role: r, start: 2026-11-23T22:00:00Z}
    expect: {may_request_for: true}
`
	for _, tt := range []struct{ old, new, want string }{
		{"", "", ""},
		{"    grantee: {id: U0BOB, oncall: true}\n", "", `t.yaml:2: case "for bob": expect: may_request_for needs a grantee (who the user files the request for)`},
		{"oncall: true}", "on_call: true}", `t.yaml:4: case "for bob": grantee: unknown key "on_call" (known: id, name, email, groups, is_guest, is_external, oncall, oncall_schedules)`},
		{"2026-11-23T22:00:00Z", "tonight", `t.yaml:5: case "for bob": request: start: "tonight" is not a time: use RFC 3339, e.g. 2026-11-23T10:00:00Z`},
		{"may_request_for: true", "may_request_for: sure", `t.yaml:6: case "for bob": expect: may_request_for must be true or false, got "sure"`},
		{"    user: {id: U0LEAD, groups: [sre]}\n", "    workload: {issuer_name: github}\n",
			`t.yaml:3: case "for bob": expect: may_request_for is about a person filing for another, not a workload`},
	} {
		_, err := rules.ParseTests("t.yaml", []byte(strings.Replace(good, tt.old, tt.new, 1)))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("good file: %v", err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q → %q: err = %v\nwant %s", tt.old, tt.new, err, tt.want)
		}
	}
}
