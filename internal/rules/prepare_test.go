package rules

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
)

// preparedRules use every variable and every field of user, the list
// operations CEL offers, the user as a whole, and rules that fail at run
// time, so that a Prepared user is seen to decide exactly as a plain one.
var preparedRules = []string{
	`user.id == "U0ALICE"`,
	`user.name.startsWith("al")`,
	`user.email.endsWith("@example.com")`,
	`"sre" in user.groups`,
	`"sre" in user.groups || "dba" in user.groups`,
	`user.groups.size() > 2`,
	`user.groups.exists(g, g.startsWith("eng"))`,
	`user.groups.all(g, g != "")`,
	`user.groups.map(g, g.upperAscii()).exists(g, g == "SRE")`,
	`user.groups.filter(g, g.size() > 3).size() == 1`,
	`user.groups == ["engineering", "sre"]`,
	`size(user.groups) > 0 && user.groups[0] == "engineering"`,
	`user.groups.join(",") == "engineering,sre"`,
	`user.groups + ["x"] == ["x"]`,
	`dyn(user.groups)[0] == "engineering"`,
	`"%s".format([user.groups]) == "[engineering, sre]"`,
	`"Primary" in user.oncall_schedules`,
	`user.oncall && !user.is_guest && !user.is_external`,
	`user.is_guest || user.is_external`,
	`has(user.email) && has(user.groups)`,
	`user == user`,
	`type(user) == rules.celUser`,
	`user == rules.celUser{id: user.id, name: user.name, email: user.email, groups: user.groups,
	  is_guest: user.is_guest, is_external: user.is_external, oncall: user.oncall, oncall_schedules: user.oncall_schedules}`,
	`[user].exists(u, u.email == user.email && u.groups == user.groups)`,
	`request.role == "prod-admin"`,
	`request.duration <= duration("1h")`,
	`request.reason.contains("INC")`,
	`request.role == "prod-admin" && request.duration <= duration("1h")`,
	`[request].exists(r, r.role == "prod-admin")`,
	`has(request.reason) && request.incident != ""`,
	`request.incident.matches("^INC-[0-9]+$") && "oncall" in user.groups`,
	`user.email.matches(user.name)`,
	`now.getHours("UTC") >= 7 && now.getHours("UTC") < 19`,
	`now > timestamp("2026-03-10T12:00:00Z")`,
	`request.start.getHours("UTC") >= 22`,
	`request.start - now < duration("72h")`,
	`request.start == now`,
	`user.groups[5] == "x"`,                                                       // index out of range for most users
	`user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != "")))`, // over the cost limit for many groups
}

// preparedStringRules are iam_user rules.
var preparedStringRules = []string{
	`user.email.split("@")[0]`,
	`user.email.split("@")[0].lowerAscii()`,
	`user.groups.join("-")`,
	`"%s-%s".format([user.id, user.groups])`,
}

func preparedUsers() []User {
	many := make([]string, 30)
	for i := range many {
		many[i] = fmt.Sprintf("team-%02d", i)
	}
	return []User{
		{ID: "U0ALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"engineering", "sre"}},
		{ID: "U0BOB", Name: "b.b", Email: "Bob@Example.com"},
		{ID: "U0CAROL", Name: "carol", Email: "carol@example.org", Groups: many},
		{ID: "W0GUEST", Name: "gäst ☃", Email: "guest@other.example", Groups: []string{}, IsGuest: true, IsExternal: true},
		{ID: "U0DAN", Name: "dan", Email: "dan@example.com", Groups: []string{"oncall", "sre", "dba"}, OnCall: true,
			OnCallSchedules: []string{"Primary", "DB"}},
	}
}

var (
	// Each input differs from the one before in one field, so a decision
	// remembered for a field the rule reads would show.
	preparedInputs = []Input{
		{Role: "prod-admin", Duration: 30 * time.Minute, Reason: "fixing INC-42 replica lag", Incident: "INC-42"},
		{Role: "prod-readonly", Duration: 30 * time.Minute, Reason: "fixing INC-42 replica lag", Incident: "INC-42"},
		{Role: "prod-readonly", Duration: 2 * time.Hour, Reason: "fixing INC-42 replica lag", Incident: "INC-42"},
		{Role: "prod-readonly", Duration: 2 * time.Hour, Reason: "rotating the keys", Incident: "INC-42"},
		{Role: "prod-readonly", Duration: 2 * time.Hour, Reason: "rotating the keys", Incident: ""},
		{Role: "prod-readonly", Duration: 2 * time.Hour, Reason: "rotating the keys", Start: time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC)},
		{Role: "prod-readonly", Duration: 2 * time.Hour, Reason: "rotating the keys", Start: time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)},
	}
	preparedNows = []time.Time{
		time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC),
	}
)

// outcome is what an evaluation gave, as text, errors included.
func outcome(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%T %v", v, v)
}

// TestPreparedDecidesAlike evaluates every rule for every user, request
// and moment, with a plain user and with one Prepared user reused
// throughout, as /jit roles reuses it for every role: the outcomes,
// errors included, must be the same. Reusing one prepared user also
// proves that a remembered decision is never given for another request or
// moment when the rule reads them.
func TestPreparedDecidesAlike(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		src string
		p   *program
	}
	var rs []rule
	for _, src := range preparedRules {
		p, err := compile(env, src, boolType)
		if err != nil {
			t.Fatalf("compile %s: %v", src, err)
		}
		rs = append(rs, rule{src, p})
	}
	for _, src := range preparedStringRules {
		p, err := compile(env, src, stringType)
		if err != nil {
			t.Fatalf("compile %s: %v", src, err)
		}
		rs = append(rs, rule{src, p})
	}
	seen := map[string]bool{} // rule and outcome, to check that the cases tell things apart
	for _, u := range preparedUsers() {
		prepared := Prepare(u)
		for _, in := range preparedInputs {
			for _, now := range preparedNows {
				for _, r := range rs {
					want := outcome(r.p.eval(u, in, now))
					got := outcome(r.p.eval(prepared, in, now))
					if got != want {
						t.Errorf("%s\nuser %s, request %+v, now %v:\nprepared: %s\nplain:    %s", r.src, u.ID, in, now, got, want)
					}
					seen[r.src+" "+want] = true
				}
			}
		}
	}
	wantSeen(t, seen, []string{
		`user.groups[5] == "x" error: evaluate "user.groups[5] == \"x\"": index out of bounds`,
		`user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != ""))) error: evaluate "user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != \"\")))": operation cancelled: actual cost limit exceeded`,
		`request.role == "prod-admin" bool true`, `request.role == "prod-admin" bool false`,
		`now > timestamp("2026-03-10T12:00:00Z") bool true`, `now > timestamp("2026-03-10T12:00:00Z") bool false`,
		`user == user bool true`,
		`request.start.getHours("UTC") >= 22 bool true`, `request.start.getHours("UTC") >= 22 bool false`,
		`request.start - now < duration("72h") bool true`, `request.start - now < duration("72h") bool false`,
	})
}

// wantSeen checks that the outcomes seen ("rule outcome") include one
// starting with each of wants, so that the cases of a test tell the
// outcomes apart.
func wantSeen(t *testing.T, seen map[string]bool, wants []string) {
	t.Helper()
	for _, want := range wants {
		found := false
		for k := range seen {
			found = found || strings.HasPrefix(k, want)
		}
		if !found {
			t.Errorf("no case gave %s", want)
		}
	}
}

// TestRequestFieldsRead: a rule's decisions are remembered per value of
// the request fields it reads, so those must be found, and a use of the
// request as a whole must count as reading every field.
func TestRequestFieldsRead(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  string
		want requestFields
	}{
		{`"sre" in user.groups`, 0},
		{`request.role == "prod-admin"`, readsRole},
		{`request.duration <= duration("1h") || "oncall" in user.groups`, readsDuration},
		{`request.reason.contains("INC") && request.incident != ""`, readsReason | readsIncident},
		{`has(request.incident)`, readsIncident},
		{`request.start.getHours("UTC") >= 22`, readsStart},
		{`request.start - now < duration("72h") && request.account == ""`, readsStart | readsAccount},
		{`[request].exists(r, r.role == "prod-admin")`, readsWholeRequest},
		{`request == request`, readsWholeRequest},
		{`request.role == "x" || type(request) == rules.celRequest`, readsWholeRequest},
		{`[1].exists(request, request == 1)`, readsWholeRequest}, // a shadowing variable: counted, harmlessly
	} {
		p, err := compile(env, c.src, boolType)
		if err != nil {
			t.Errorf("compile %s: %v", c.src, err)
			continue
		}
		if p.reads != c.want {
			t.Errorf("%s reads %04b of request, want %04b", c.src, p.reads, c.want)
		}
	}
}

// TestPreparedCostLimit: a rule over the cost limit is stopped for a
// Prepared user too, which has no timer per evaluation.
func TestPreparedCostLimit(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile(env, `user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != "")))`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = strings.Repeat("g", i%7+1)
	}
	start := time.Now()
	_, err = p.eval(Prepare(User{Groups: groups}), Input{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("err = %v, want the cost limit to stop it", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("evaluation ran %v before stopping", d)
	}
}

// TestPreparedChangedCopy: a prepared user changed afterwards, whether a
// field is replaced or a list is changed in place, is judged as it is now,
// never by what was prepared or decided before.
func TestPreparedChangedCopy(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile(env, `"sre" in user.groups && user.email.endsWith("@example.com")`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u := Prepare(User{Email: "alice@example.com", Groups: []string{"sre"}})
	if ok, err := p.evalBool(u, Input{}, now); !ok || err != nil {
		t.Fatalf("prepared alice = %v, %v; want true", ok, err)
	}
	changed := u
	changed.Email = "alice@evil.example"
	if ok, err := p.evalBool(changed, Input{}, now); ok || err != nil {
		t.Errorf("after the email changed = %v, %v; want false", ok, err)
	}
	u.Groups[0] = "finance" // in place: the prepared copy must not be trusted
	if ok, err := p.evalBool(u, Input{}, now); ok || err != nil {
		t.Errorf("after the groups changed in place = %v, %v; want false", ok, err)
	}
}

// FuzzPrepared: whatever rule compiles, a Prepared user gets the outcome a
// plain one gets.
func FuzzPrepared(f *testing.F) {
	for _, src := range append(preparedRules, preparedStringRules...) {
		f.Add(src, "sre,oncall", "alice@example.com", "INC-42")
	}
	f.Add(`user.groups.exists(g, g == request.role)`, "a,b,,c", "", "")
	env, err := celEnv()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, src, groups, email, incident string) {
		p, err := compile(env, src, boolType)
		if err != nil {
			if p, err = compile(env, src, stringType); err != nil {
				return
			}
		}
		u := User{ID: "U1", Name: email, Email: email, Groups: strings.Split(groups, ","), OnCallSchedules: []string{incident}}
		prepared := Prepare(u)
		for _, in := range []Input{{Role: "a", Incident: incident}, {Role: "b", Duration: time.Hour, Reason: groups}} {
			want := outcome(p.eval(u, in, now))
			if strings.Contains(want, "deadline exceeded") {
				continue // the plain user's timer, which a prepared one does not have
			}
			if got := outcome(p.eval(prepared, in, now)); got != want {
				t.Fatalf("%s, request %+v:\nprepared: %s\nplain:    %s", src, in, got, want)
			}
		}
	})
}

// compileAll compiles the bool rules srcs in env.
func compileAll(t *testing.T, env *cel.Env, srcs []string) []*program {
	t.Helper()
	var ps []*program
	for _, src := range srcs {
		p, err := compile(env, src, boolType)
		if err != nil {
			t.Fatalf("compile %s: %v", src, err)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestPreparedConcurrent: one Prepared user judged from several goroutines
// at once decides as a plain one (and, under -race, shares no state
// unsafely).
func TestPreparedConcurrent(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	ps := compileAll(t, env, preparedRules)
	u := preparedUsers()[4]
	prepared := Prepare(u)
	now := preparedNows[0]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range ps {
				p := ps[(i+g)%len(ps)]
				in := preparedInputs[(i+g)%len(preparedInputs)]
				if got, want := outcome(p.eval(prepared, in, now)), outcome(p.eval(u, in, now)); got != want {
					t.Errorf("%s: prepared %s, plain %s", p.src, got, want)
				}
			}
		})
	}
	wg.Wait()
}
