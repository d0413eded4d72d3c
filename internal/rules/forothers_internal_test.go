package rules

import "testing"

// forOthersRules read user and grantee every way preparedRules read user:
// fields, lists, the people as a whole and against each other.
var forOthersRules = []string{
	`grantee.oncall && "sre" in user.groups`,
	`"sre" in grantee.groups`,
	`grantee.groups.exists(g, g in user.groups)`,
	`grantee.id != user.id && !grantee.is_guest && !grantee.is_external`,
	`grantee.email.endsWith("@example.com") && grantee.name.startsWith("d")`,
	`"Primary" in grantee.oncall_schedules`,
	`grantee.groups == user.groups`,
	`user == grantee`,
	`[user, grantee].exists(p, p.is_guest)`,
	`type(grantee) == rules.celUser`,
	`grantee == rules.celUser{id: grantee.id, name: grantee.name, email: grantee.email, groups: grantee.groups,
	  is_guest: grantee.is_guest, is_external: grantee.is_external, oncall: grantee.oncall, oncall_schedules: grantee.oncall_schedules}`,
	`request.start - now < duration("72h") && grantee.oncall`,
	`request.role == "prod-admin" && grantee.groups.size() > 1`,
	`grantee.groups[2] == "dba"`, // index out of range for most people
}

// TestForOthersPreparedDecidesAlike: request_for_others decides alike
// whether the filer, the grantee, both or neither are Prepared, for every
// pair of people, the same person on both sides included.
func TestForOthersPreparedDecidesAlike(t *testing.T) {
	env, err := celForOthersEnv()
	if err != nil {
		t.Fatal(err)
	}
	ps := compileAll(t, env, forOthersRules)
	users := preparedUsers()
	prepared := make([]User, len(users))
	for i, u := range users {
		prepared[i] = Prepare(u)
	}
	now := preparedNows[0]
	seen := map[string]bool{}
	for i, filer := range users {
		for j, grantee := range users {
			for _, in := range preparedInputs {
				for _, p := range ps {
					want := outcome(p.evalForOthers(filer, grantee, in, now))
					for _, pair := range [][2]User{{prepared[i], grantee}, {filer, prepared[j]}, {prepared[i], prepared[j]}} {
						if got := outcome(p.evalForOthers(pair[0], pair[1], in, now)); got != want {
							t.Errorf("%s\nfiler %s (prepared %v), grantee %s (prepared %v), request %+v:\ngot  %s\nwant %s",
								p.src, filer.ID, pair[0].prepared != nil, grantee.ID, pair[1].prepared != nil, in, got, want)
						}
					}
					seen[p.src+" "+want] = true
				}
			}
		}
	}
	wantSeen(t, seen, []string{
		`user == grantee bool true`, `user == grantee bool false`,
		`grantee.oncall && "sre" in user.groups bool true`, `grantee.oncall && "sre" in user.groups bool false`,
		`request.start - now < duration("72h") && grantee.oncall bool true`,
		`grantee.groups[2] == "dba" error`,
	})
}

// TestForOthersChangedCopy: a Prepared grantee changed afterwards is
// judged as it is now.
func TestForOthersChangedCopy(t *testing.T) {
	env, err := celForOthersEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile(env, `"sre" in grantee.groups`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	g := Prepare(User{ID: "U0BOB", Groups: []string{"sre"}})
	if ok, err := p.evalForOthers(User{}, g, Input{}, preparedNows[0]); !ok || err != nil {
		t.Fatalf("prepared grantee = %v, %v; want true", ok, err)
	}
	g.Groups[0] = "finance"
	if ok, err := p.evalForOthers(User{}, g, Input{}, preparedNows[0]); ok || err != nil {
		t.Errorf("after the groups changed in place = %v, %v; want false", ok, err)
	}
}
