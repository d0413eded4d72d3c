package rules_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// Benchmarks of the catalog: compile cost, lookup and CEL evaluation. Every
// one checks its result before timing, so a broken rule cannot turn it into
// a benchmark of an error path.

const exampleCatalog = "../../rules/roles.yaml"

// benchUser qualifies for every rule of the example catalog at benchNow.
var (
	benchUser = rules.User{ID: "U0ALICE1", Name: "alice", Email: "alice@example.com",
		Groups: []string{"engineering", "sre", "oncall", "finance"}}
	benchNow = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC) // office hours for billing-readonly
)

func loadExample(b *testing.B) *rules.Catalog {
	b.Helper()
	c, err := rules.Load(exampleCatalog)
	if err != nil {
		b.Fatalf("load %s: %v", exampleCatalog, err)
	}
	return c
}

// BenchmarkEligible evaluates the eligible rule of each example role, as
// a request and every approval do.
func BenchmarkEligible(b *testing.B) {
	c := loadExample(b)
	for _, name := range c.Names() {
		role, _ := c.Role(name)
		in := rules.Input{Role: name, Duration: 30 * time.Minute, Reason: "fixing INC-42 replica lag", Incident: "INC-42"}
		b.Run(name, func(b *testing.B) {
			benchRule(b, role.Eligible, func() (bool, error) { return role.IsEligible(benchUser, in, benchNow) })
		})
	}
}

// BenchmarkAutoApprove evaluates the auto_approve rules, which run on
// every request of their role; db-breakglass's uses a regular expression.
func BenchmarkAutoApprove(b *testing.B) {
	c := loadExample(b)
	for _, name := range []string{"prod-readonly", "db-breakglass"} {
		role, _ := c.Role(name)
		in := rules.Input{Role: name, Duration: 30 * time.Minute, Reason: "fixing INC-42 replica lag", Incident: "INC-42"}
		b.Run(name, func(b *testing.B) {
			benchRule(b, role.AutoApprove, func() (bool, error) { return role.IsAutoApproved(benchUser, in, benchNow) })
		})
	}
}

// BenchmarkEligibleCostLimit is the slowest evaluation the cost limit lets
// through: TestCostLimit's nested comprehension over the largest group
// list that still evaluates. It bounds what one hostile or careless rule
// can cost per request.
func BenchmarkEligibleCostLimit(b *testing.B) {
	const rule = `user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != "")))`
	c, err := rules.Parse("roles.yaml", []byte("roles: {r: {backend: aws_sts, role_arn: 'arn:aws:iam::111111111111:role/r', "+
		"approvers: [U0AAA], eligible: '"+rule+"'}}"))
	if err != nil {
		b.Fatal(err)
	}
	role, _ := c.Role("r")
	// Add groups until the limit refuses the rule, then take one back.
	var u rules.User
	for {
		u.Groups = append(u.Groups, fmt.Sprintf("group-%d", len(u.Groups)))
		_, err := role.IsEligible(u, rules.Input{}, benchNow)
		if err == nil && len(u.Groups) < 1000 {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "cost limit") {
			b.Fatalf("%d groups: %v, want the cost limit to stop the rule", len(u.Groups), err)
		}
		u.Groups = u.Groups[:len(u.Groups)-1]
		break
	}
	benchRule(b, rule, func() (bool, error) { return role.IsEligible(u, rules.Input{}, benchNow) })
	b.ReportMetric(float64(len(u.Groups)), "groups") // after the loop, whose timer reset drops metrics
}

// benchRule times eval, which must say true.
func benchRule(b *testing.B, src string, eval func() (bool, error)) {
	b.Helper()
	if ok, err := eval(); err != nil || !ok {
		b.Fatalf("%s = %v, %v; want true", src, ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := eval(); err != nil || !ok {
			b.Fatalf("%s = %v, %v", src, ok, err)
		}
	}
}

// BenchmarkLoadExampleCatalog is the cost of loading rules/roles.yaml:
// parsing, validation and compiling every CEL rule (start-up and every
// reload).
func BenchmarkLoadExampleCatalog(b *testing.B) {
	want := len(loadExample(b).Roles)
	if want < 5 {
		b.Fatalf("example catalog has %d roles", want)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := rules.Load(exampleCatalog)
		if err != nil || len(c.Roles) != want {
			b.Fatalf("load: %v", err)
		}
	}
}

// generated writes a catalog of n roles, half of each backend, whose
// eligible rules are 50 different ones.
func generated(n int) []byte { return generatedRules(n, 50) }

// generatedRules writes a catalog of n roles, half of each backend, whose
// eligible rules are the given number of different ones.
func generatedRules(n, rules int) []byte {
	var sb strings.Builder
	sb.WriteString("defaults:\n  max_duration: 4h\n  default_duration: 1h\nroles:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  role-%04d:\n    description: Generated role number %d for the benchmarks\n", i, i)
		if i%2 == 0 {
			fmt.Fprintf(&sb, "    backend: aws_sts\n    role_arn: arn:aws:iam::111111111111:role/jit-role-%04d\n", i)
		} else {
			fmt.Fprintf(&sb, "    backend: aws_iam_group\n    group: jit-role-%04d\n    iam_user: 'user.email.split(\"@\")[0]'\n", i)
		}
		fmt.Fprintf(&sb, "    approvers: [\"@team-%d\"]\n    eligible: '\"team-%d\" in user.groups || user.email.endsWith(\"@example.com\")'\n", i%50, i%rules)
	}
	return []byte(sb.String())
}

// BenchmarkParseCatalog1000 is the load cost of a 1,000-role catalog, paid
// at start-up and on every reload of a changed file.
func BenchmarkParseCatalog1000(b *testing.B) {
	data := generated(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := rules.Parse("roles.yaml", data)
		if err != nil || len(c.Roles) != 1000 {
			b.Fatalf("parse: %v", err)
		}
	}
}

// BenchmarkRoleLookup1000 finds roles by name in a 1,000-role catalog, as
// every request, click and scheduler job does.
func BenchmarkRoleLookup1000(b *testing.B) {
	c, err := rules.Parse("roles.yaml", generated(1000))
	if err != nil {
		b.Fatal(err)
	}
	names := c.Names()
	if len(names) != 1000 {
		b.Fatalf("%d roles, want 1000", len(names))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		name := names[i%len(names)]
		if r, ok := c.Role(name); !ok || r.Name != name {
			b.Fatalf("Role(%q) = %v, %v", name, r, ok)
		}
		i++
	}
}

// BenchmarkEligibleCatalog1000 judges a user for every role of a 1,000-role
// catalog, as /jit roles does. "distinct" gives every role a rule of its
// own, so a Prepared user evaluates all 1,000; "shared" has 50 rules, which
// it evaluates once each; "unprepared" is distinct with a plain user, as
// each single request is judged.
func BenchmarkEligibleCatalog1000(b *testing.B) {
	u := rules.User{ID: "U0ALICE1", Name: "alice", Email: "alice@example.com", Groups: []string{"engineering", "sre"}}
	for _, tc := range []struct {
		name    string
		rules   int
		prepare bool
	}{
		{name: "distinct", rules: 1000, prepare: true},
		{name: "shared", rules: 50, prepare: true},
		{name: "unprepared", rules: 1000},
	} {
		c, err := rules.Parse("roles.yaml", generatedRules(1000, tc.rules))
		if err != nil {
			b.Fatal(err)
		}
		names := c.Names()
		judge := func() {
			user := u
			if tc.prepare {
				user = rules.Prepare(u)
			}
			for _, name := range names {
				r, _ := c.Role(name)
				if ok, err := r.IsEligible(user, rules.Input{Role: name, Duration: r.DefaultDuration}, benchNow); !ok || err != nil {
					b.Fatalf("%s: %v, %v; want eligible", name, ok, err)
				}
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				judge()
			}
		})
	}
}
