package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

func loadCatalog(t *testing.T, path string) *rules.Catalog {
	t.Helper()
	c, err := rules.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestRuleTestsLoad(t *testing.T) {
	f, err := rules.LoadTests("testdata/ruletest/pass.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("testdata", "ruletest", "catalog.yaml"); f.Catalog != want {
		t.Errorf("Catalog = %q, want %q: relative to the test file", f.Catalog, want)
	}
	if !f.Now.Equal(rules.DefaultTestTime) {
		t.Errorf("Now = %v, want DefaultTestTime", f.Now)
	}
	if len(f.Cases) != 3 {
		t.Fatalf("%d cases, want 3", len(f.Cases))
	}
	alice := f.Cases[0]
	wantUser := rules.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"sre", "oncall"}, OnCall: true, OnCallSchedules: []string{"Primary"}}
	switch {
	case alice.Name != "sre on call during an incident" || alice.Line != 3:
		t.Errorf("case 1 = %q at line %d", alice.Name, alice.Line)
	case !equalUser(alice.User, wantUser):
		t.Errorf("user = %+v, want %+v", alice.User, wantUser)
	case alice.Request != rules.Input{Role: "readonly", Duration: 15 * time.Minute, Reason: "fixing INC-42 replica lag", Incident: "INC-42"}:
		t.Errorf("request = %+v", alice.Request)
	case alice.Expect.Eligible == nil || !*alice.Expect.Eligible || alice.Expect.AutoApprove == nil || !*alice.Expect.AutoApprove:
		t.Errorf("expect = %+v", alice.Expect)
	case !equalUser(f.Cases[1].User, wantUser):
		t.Errorf("an alias gives user %+v, want %+v", f.Cases[1].User, wantUser)
	case f.Cases[2].Expect.AutoApprove != nil || !f.Cases[2].User.IsExternal:
		t.Errorf("case 3 = %+v", f.Cases[2])
	}
	c := loadCatalog(t, f.Catalog)
	if err := f.Check(c); err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, r := range f.Run(c) {
		if !r.Pass || r.Failures != nil {
			t.Errorf("%s: %v", r.Name, r.Failures)
		}
	}
}

func TestRuleTestsFailingFile(t *testing.T) {
	f, err := rules.LoadTests("testdata/ruletest/fail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := f.Run(loadCatalog(t, f.Catalog))
	want := []rules.TestResult{
		{Name: "passes", Pass: true},
		{Name: "engineer is admin", Failures: []string{`eligible = false, want true (eligible: '"sre" in user.groups')`}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Pass != want[i].Pass || strings.Join(got[i].Failures, "\n") != strings.Join(want[i].Failures, "\n") {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func equalUser(a, b rules.User) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Email == b.Email && strings.Join(a.Groups, ",") == strings.Join(b.Groups, ",") &&
		a.IsGuest == b.IsGuest && a.IsExternal == b.IsExternal && a.OnCall == b.OnCall &&
		strings.Join(a.OnCallSchedules, ",") == strings.Join(b.OnCallSchedules, ",")
}

// TestRuleTestsRun runs one case at a time against testdata/ruletest/catalog.yaml;
// want is the case's failures, nil when it passes.
func TestRuleTestsRun(t *testing.T) {
	c := loadCatalog(t, "testdata/ruletest/catalog.yaml")
	tests := []struct {
		name string
		in   string // a case, under "cases:"
		now  string // the file's now, if any
		want []string
	}{
		{name: "pass", in: `{name: c, user: {groups: [sre]}, request: {role: admin}, expect: {eligible: true, auto_approve: false}}`},
		{name: "eligible wrong", in: `{name: c, user: {groups: [engineering]}, request: {role: admin}, expect: {eligible: true}}`,
			want: []string{`eligible = false, want true (eligible: '"sre" in user.groups')`}},
		{name: "auto_approve wrong, rule over lines", in: `{name: c, user: {email: a@example.com, groups: [oncall]}, request: {role: readonly, duration: 15m, incident: INC-1}, expect: {eligible: true, auto_approve: false}}`,
			want: []string{`auto_approve = true, want false (auto_approve: 'request.incident != "" && "oncall" in user.groups && request.duration <= duration("30m")')`}},
		{name: "both wrong", in: `{name: c, user: {email: a@example.org}, request: {role: readonly, incident: INC-1}, expect: {eligible: true, auto_approve: true}}`,
			want: []string{
				`eligible = false, want true (eligible: 'user.email.endsWith("@example.com")')`,
				`auto_approve = false, want true (auto_approve: 'request.incident != "" && "oncall" in user.groups && request.duration <= duration("30m")')`,
			}},
		{name: "role without auto_approve", in: `{name: c, user: {groups: [sre, oncall]}, request: {role: admin, incident: INC-1}, expect: {auto_approve: true}}`,
			want: []string{`auto_approve = false, want true (admin has no auto_approve rule)`}},
		{name: "missing duration is the role's default", in: `{name: c, user: {email: a@example.com, groups: [oncall]}, request: {role: readonly, incident: INC-1}, expect: {auto_approve: true}}`},
		{name: "duration over the rule's limit", in: `{name: c, user: {email: a@example.com, groups: [oncall]}, request: {role: readonly, duration: 31m, incident: INC-1}, expect: {auto_approve: true}}`,
			want: []string{`auto_approve = false, want true (auto_approve: 'request.incident != "" && "oncall" in user.groups && request.duration <= duration("30m")')`}},
		{name: "evaluation error", in: `{name: c, user: {email: nobody}, request: {role: domain}, expect: {eligible: false}}`,
			want: []string{`eligible: evaluate "user.email.split(\"@\")[1] == \"example.com\"": index out of bounds: 1`}},
		{name: "default now is office hours", in: `{name: c, user: {}, request: {role: office}, expect: {eligible: true}}`},
		{name: "file's now", now: "2026-11-23T20:00:00Z", in: `{name: c, user: {}, request: {role: office}, expect: {eligible: true}}`,
			want: []string{`eligible = false, want true (eligible: 'now.getHours("UTC") >= 7 && now.getHours("UTC") < 19')`}},
		{name: "case's now overrides the file's", now: "2026-11-23T20:00:00Z", in: `{name: c, now: "2026-11-23T08:00:00+01:00", user: {}, request: {role: office}, expect: {eligible: true}}`},
		{name: "merge key", in: `{name: c, user: {<<: {email: a@example.org, groups: [sre]}, email: a@example.com}, request: {role: readonly}, expect: {eligible: true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "cases:\n  - " + tt.in + "\n"
			if tt.now != "" {
				src = "now: " + tt.now + "\n" + src
			}
			f, err := rules.ParseTests("t.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Check(c); err != nil {
				t.Fatal(err)
			}
			got := f.Run(c)
			if len(got) != 1 {
				t.Fatalf("%d results, want 1", len(got))
			}
			if got[0].Name != "c" || got[0].Pass != (tt.want == nil) || strings.Join(got[0].Failures, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %+v\nwant failures:\n%s", got[0], strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestRuleTestsProblems checks that mistakes in a test file are problems
// at their line, like the catalog's.
func TestRuleTestsProblems(t *testing.T) {
	const good = `catalog: roles.yaml
now: 2026-11-23T10:00:00Z
cases:
  - name: sre asks for admin
    user: {id: U0ALICE, email: alice@example.com, groups: [sre]}
    request: {role: admin, duration: 1h, reason: "fixing INC-42", incident: INC-42}
    expect: {eligible: true, auto_approve: false}
`
	tests := []struct {
		name     string
		old, new string // replaced in good
		file     string // a whole file instead of an edit of good
		want     string // a problem, as file:line: message
	}{
		{name: "unknown top-level key", old: "catalog:", new: "catalogue:", want: `t.yaml:1: unknown key "catalogue" (known: catalog, now, cases)`},
		{name: "bad now", old: "2026-11-23T10:00:00Z", new: "monday", want: `t.yaml:2: now: "monday" is not a time: use RFC 3339, e.g. 2026-11-23T10:00:00Z`},
		{name: "unknown case key", old: "    expect:", new: "    expected:", want: `t.yaml:7: case "sre asks for admin": unknown key "expected" (known: name, now, user, workload, approver, grantee, request, expect)`},
		{name: "unknown user key", old: "email:", new: "emial:", want: `t.yaml:5: case "sre asks for admin": user: unknown key "emial" (known: id, name, email, groups, is_guest, is_external, oncall, oncall_schedules)`},
		{name: "groups not a list", old: "groups: [sre]", new: "groups: sre", want: `t.yaml:5: case "sre asks for admin": user: groups must be a list, e.g. [sre, oncall]`},
		{name: "is_guest not a bool", old: "groups: [sre]", new: "is_guest: no way", want: `t.yaml:5: case "sre asks for admin": user: is_guest must be true or false, got "no way"`},
		{name: "unknown request key", old: "incident: INC-42", new: "ticket: INC-42", want: `t.yaml:6: case "sre asks for admin": request: unknown key "ticket" (known: role, duration, reason, incident, start)`},
		{name: "bad duration", old: "duration: 1h", new: "duration: an hour", want: `t.yaml:6: case "sre asks for admin": request: duration: "an hour" is not a duration (use e.g. 90s, 15m, 1h30m, 1d)`},
		{name: "negative duration", old: "duration: 1h", new: "duration: -1h", want: `t.yaml:6: case "sre asks for admin": request: duration: "-1h" is not a duration`},
		{name: "missing role", old: "role: admin, ", new: "", want: `t.yaml:6: case "sre asks for admin": request: missing role`},
		{name: "unknown expect key", old: "auto_approve: false", new: "approved: false", want: `t.yaml:7: case "sre asks for admin": expect: unknown key "approved" (known: eligible, auto_approve, may_approve, may_request_for)`},
		{name: "expect not a bool", old: "eligible: true", new: "eligible: yes please", want: `t.yaml:7: case "sre asks for admin": expect: eligible must be true or false, got "yes please"`},
		{name: "expect empty", old: "{eligible: true, auto_approve: false}", new: "{}", want: `t.yaml:7: case "sre asks for admin": expect: give eligible, auto_approve, may_approve, may_request_for or several (true or false)`},
		{name: "missing name", old: "  - name: sre asks for admin\n    user:", new: "  - user:", want: `t.yaml:4: case 1: missing name`},
		{name: "missing user", old: "    user: {id: U0ALICE, email: alice@example.com, groups: [sre]}\n", new: "", want: `t.yaml:4: case "sre asks for admin": missing user`},
		{name: "duplicate name", old: "cases:\n", new: "cases:\n  - {name: sre asks for admin, user: {}, request: {role: admin}, expect: {eligible: true}}\n",
			want: `t.yaml:5: case "sre asks for admin": the name is used before, at line 4`},
		{name: "unknown alias", old: "user: {id: U0ALICE, email: alice@example.com, groups: [sre]}", new: "user: *alice", want: `t.yaml:5: case "sre asks for admin": user: alias *alice names no anchor`},
		{name: "merge refers to itself", old: "user: {id: U0ALICE", new: "user: &u {<<: *u, id: U0ALICE", want: `t.yaml:5: case "sre asks for admin": user: merge keys (<<) nest too deeply, refer to themselves or pull in too much`},
		{name: "case not a mapping", file: "cases:\n  - just a string\n", want: `t.yaml:2: case 1 must be a mapping of keys to values`},
		{name: "cases not a list", file: "cases: {name: x}\n", want: `t.yaml:1: cases must be a list of cases`},
		{name: "no cases", file: "now: 2026-11-23T10:00:00Z\n", want: `t.yaml:1: missing cases`},
		{name: "empty cases", file: "cases: []\n", want: `t.yaml:1: cases is empty`},
		{name: "empty file", file: "# nothing yet\n", want: `t.yaml:1: the test file is empty`},
		{name: "not a mapping", file: "- a\n- b\n", want: `t.yaml:1: the test file must be a mapping of keys to values`},
		{name: "yaml syntax", file: "cases:\n  - name: [x\n", want: `t.yaml:2: YAML syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.file
			if src == "" {
				if !strings.Contains(good, tt.old) {
					t.Fatalf("test edit %q does not apply", tt.old)
				}
				src = strings.Replace(good, tt.old, tt.new, 1)
			}
			_, err := rules.ParseTests("t.yaml", []byte(src))
			var le *rules.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want *LoadError", err)
			}
			for _, p := range le.Problems {
				if strings.HasPrefix(p.String(), tt.want) {
					return
				}
			}
			t.Errorf("problems:\n%v\nwant one starting with:\n%s", err, tt.want)
		})
	}
	if _, err := rules.ParseTests("t.yaml", []byte(good)); err != nil {
		t.Errorf("good: %v", err)
	}
}

func TestRuleTestsUnknownRole(t *testing.T) {
	c := loadCatalog(t, "testdata/ruletest/catalog.yaml")
	f, err := rules.ParseTests("t.yaml", []byte(`cases:
  - name: typo
    user: {}
    request: {role: admni}
    expect: {eligible: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Check(c)
	var le *rules.LoadError
	want := `t.yaml:4: case "typo": unknown role "admni" (testdata/ruletest/catalog.yaml has admin, domain, office, readonly)`
	if !errors.As(err, &le) || err.Error() != want {
		t.Errorf("Check = %v\nwant %s", err, want)
	}
	// Run does not trust that Check was called.
	if r := f.Run(c); r[0].Pass || len(r[0].Failures) != 1 || !strings.Contains(r[0].Failures[0], `role "admni" is not in`) {
		t.Errorf("Run = %+v", r)
	}
}

func TestRuleTestsMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := rules.LoadTests(path)
	var le *rules.LoadError
	if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), path+": cannot read the rule test file") {
		t.Errorf("err = %v", err)
	}
}

// TestExampleRuleTests runs rules/roles_test.yaml against rules/roles.yaml:
// the example catalog and its tests must agree.
func TestExampleRuleTests(t *testing.T) {
	f, c := exampleTests(t)
	for _, r := range f.Run(c) {
		if !r.Pass {
			t.Errorf("FAIL %s: %s", r.Name, strings.Join(r.Failures, "; "))
		}
	}
}

func exampleTests(t *testing.T) (*rules.TestFile, *rules.Catalog) {
	t.Helper()
	f, err := rules.LoadTests("../../rules/roles_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("..", "..", "rules", "roles.yaml"); f.Catalog != want {
		t.Fatalf("roles_test.yaml tests %q, want %q", f.Catalog, want)
	}
	c := loadCatalog(t, f.Catalog)
	if err := f.Check(c); err != nil {
		t.Fatal(err)
	}
	return f, c
}

// TestExampleRuleTestsCatchChangedRules proves that rules/roles_test.yaml
// pins every rule of rules/roles.yaml: each change below, made to a copy
// of the catalog, must fail at least one case.
func TestExampleRuleTestsCatchChangedRules(t *testing.T) {
	f, c := exampleTests(t)
	data, err := os.ReadFile(f.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	// The control: the catalog as it is, through the same path, passes.
	changes := []change{{name: "unchanged", catalog: src}}
	// A rule that always or never holds: caught only if the role has cases
	// on both sides of each rule. Roles without auto_approve get one, which
	// must be caught by a case that says they are never auto-approved.
	for _, role := range c.Names() {
		for _, key := range []string{"eligible", "auto_approve"} {
			for _, expr := range []string{"true", "false"} {
				r, _ := c.Role(role)
				if key == "auto_approve" && r.AutoApprove == "" && expr == "false" {
					continue // the same as having none
				}
				changes = append(changes, change{name: role + " " + key + " " + expr, catalog: setRule(t, src, role, key, expr), role: role, key: key, expr: expr})
			}
		}
	}
	// Plausible mistakes, one clause at a time.
	edit := func(name, old, new string) {
		if strings.Count(src, old) != 1 {
			t.Fatalf("%s: %q is not in roles.yaml exactly once", name, old)
		}
		changes = append(changes, change{name: name, catalog: strings.Replace(src, old, new, 1)})
	}
	edit("prod-readonly: domain check loosened", `user.email.endsWith("@example.com")`, `user.email.contains("@example.com")`)
	edit("prod-readonly: break-glass without an incident", `auto_approve: 'request.incident != "" && "oncall" in user.groups'`, `auto_approve: '"oncall" in user.groups'`)
	edit("prod-readonly: break-glass for anyone in an incident", `auto_approve: 'request.incident != "" && "oncall" in user.groups'`, `auto_approve: 'request.incident != ""'`)
	edit("prod-readonly: break-glass on PagerDuty's word", `auto_approve: 'request.incident != "" && "oncall" in user.groups'`, `auto_approve: 'request.incident != "" && user.oncall'`)
	edit("prod-admin: on-call engineers admitted", `eligible: '"sre" in user.groups'`, `eligible: '"sre" in user.groups || "oncall" in user.groups'`)
	edit("db-breakglass: dba dropped", `'"sre" in user.groups || "dba" in user.groups'`, `'"sre" in user.groups'`)
	edit("db-breakglass: any incident text", `request.incident.matches("^INC-[0-9]+$")`, `request.incident.matches("INC-[0-9]+")`)
	edit("db-breakglass: case-insensitive incident", `request.incident.matches("^INC-[0-9]+$")`, `request.incident.upperAscii().matches("^INC-[0-9]+$")`)
	edit("db-breakglass: on-call check dropped", "\"oncall\" in user.groups &&\n      request.duration", "request.duration")
	edit("db-breakglass: longer break-glass", `request.duration <= duration("1h")`, `request.duration <= duration("2h")`)
	edit("db-breakglass: off by one", `request.duration <= duration("1h")`, `request.duration < duration("1h")`)
	edit("billing-readonly: opens earlier", `now.getHours("UTC") >= 7`, `now.getHours("UTC") >= 6`)
	edit("billing-readonly: closes later", `now.getHours("UTC") < 19`, `now.getHours("UTC") <= 19`)
	edit("billing-readonly: local time", `now.getHours("UTC") >= 7 && now.getHours("UTC") < 19`, `now.getHours("Europe/Berlin") >= 7 && now.getHours("Europe/Berlin") < 19`)
	edit("staging-admin: sre dropped", `'"engineering" in user.groups || "sre" in user.groups'`, `'"engineering" in user.groups'`)
	edit("staging-admin: anyone at example.com", `'"engineering" in user.groups || "sre" in user.groups'`, `'user.email.endsWith("@example.com")'`)

	for _, ch := range changes {
		t.Run(ch.name, func(t *testing.T) {
			changed, err := rules.Parse("roles.yaml", []byte(ch.catalog))
			if err != nil {
				t.Fatalf("changed catalog does not load: %v", err)
			}
			if r, ok := changed.Role(ch.role); ok {
				if got := map[string]string{"eligible": r.Eligible, "auto_approve": r.AutoApprove}[ch.key]; got != ch.expr {
					t.Fatalf("setRule left %s: %q, want %q", ch.key, got, ch.expr)
				}
			}
			var failed []string
			for _, r := range f.Run(changed) {
				if !r.Pass {
					failed = append(failed, r.Name)
				}
			}
			switch {
			case ch.name == "unchanged" && failed != nil:
				t.Errorf("the unchanged catalog fails %q", failed)
			case ch.name != "unchanged" && failed == nil:
				t.Errorf("no case of roles_test.yaml fails")
			}
		})
	}
}

type change struct {
	name, catalog   string
	role, key, expr string // for a rule set by setRule, to check it was
}

// setRule returns the catalog src with role's key set to the CEL
// expression expr: the key's old value (one line, or a block scalar's
// lines) is replaced, or the key is added when the role has none.
func setRule(t *testing.T, src, role, key, expr string) string {
	t.Helper()
	lines := strings.Split(src, "\n")
	start := -1
	for i, l := range lines {
		if l == "  "+role+":" {
			start = i
		}
	}
	if start < 0 {
		t.Fatalf("role %s not found in roles.yaml", role)
	}
	set := "    " + key + ": '" + expr + "'"
	for i := start + 1; i < len(lines) && (lines[i] == "" || strings.HasPrefix(lines[i], "    ")); i++ {
		if !strings.HasPrefix(lines[i], "    "+key+":") {
			continue
		}
		end := i + 1
		for end < len(lines) && strings.HasPrefix(lines[end], "     ") {
			end++ // a block scalar's continuation lines
		}
		return strings.Join(append(append(lines[:i:i], set), lines[end:]...), "\n")
	}
	return strings.Join(append(append(lines[:start+1:start+1], set), lines[start+1:]...), "\n")
}

func FuzzParseTests(f *testing.F) {
	for _, path := range []string{"../../rules/roles_test.yaml", "testdata/ruletest/pass.yaml", "testdata/ruletest/fail.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("cases:\n  - &c {name: a, user: {<<: *c}, request: {role: x}, expect: {eligible: true}}\n"))
	f.Add([]byte("cases: &x [*x]\n"))
	f.Add([]byte("cases:\n  - {name: w, workload: {issuer_name: github, ref: refs/heads/main, claims: &c {a: [1, {b: *c}]}}, request: {role: admin}, expect: {eligible: false}}\n"))
	f.Add([]byte("cases:\n  - {name: w, workload: {<<: {issuer: 'https://x'}, claims: {n: 1e3, s: x, z: null}}, request: {role: readonly}, expect: {auto_approve: false}}\n"))
	f.Add([]byte("cases:\n  - {name: g, user: &u {id: U0A, groups: [sre]}, grantee: {<<: *u, oncall: true}, request: {role: admin, start: 2026-11-23T22:00:00Z}, expect: {may_request_for: false}}\n"))
	c, err := rules.Load("testdata/ruletest/catalog.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := rules.ParseTests("fuzz.yaml", data)
		if err != nil {
			var le *rules.LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is not a *LoadError with problems: %v", err)
			}
			return
		}
		if len(tf.Cases) == 0 {
			t.Fatal("no error and no cases")
		}
		tf.Run(c) // must not panic, whatever the roles
	})
}
