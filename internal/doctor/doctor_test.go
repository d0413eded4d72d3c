package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

func TestHealthyPostureFailsNothing(t *testing.T) {
	fs := healthy(t).Run(t.Context())
	if Failed(fs) {
		t.Fatalf("a healthy posture failed: %+v", fs)
	}
	for _, f := range fs {
		if f.Status == Warn {
			t.Errorf("warning on a healthy posture: %+v", f)
		}
	}
	wantOne(t, fs, Info, "role admin", "AdministratorAccess")
}

func TestTrustPolicyNamesEveryOtherPrincipal(t *testing.T) {
	c := healthy(t)
	r := c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"]
	r.TrustPolicy = strings.Replace(goodTrust, `"Principal":{"AWS":"`+jitbotARN+`"}`,
		`"Principal":{"AWS":["`+jitbotARN+`","arn:aws:iam::222222222222:root"]}`, 1)
	c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"] = r
	fs := c.Run(t.Context())
	if !Failed(fs) {
		t.Fatal("a trust policy with a second account did not fail the run")
	}
	wantOne(t, fs, Wrong, "role ops", "standing path", "222222222222")
}

func TestTrustPolicyChecks(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		words     []string
	}{
		{"a service", `{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}`,
			[]string{"Service ec2.amazonaws.com"}},
		{"everyone", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"}]}`, []string{"everyone"}},
		{"NotPrincipal", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"*"}]}`, []string{"everyone but"}},
		{"no source identity", strings.Replace(goodTrust, `"sts:SourceIdentity":"false",`, "", 1), []string{"without a source identity"}},
		{"no SetSourceIdentity", strings.Replace(goodTrust, `,"sts:SetSourceIdentity"`, "", 1), []string{"sts:SetSourceIdentity"}},
		{"not jitbot", strings.ReplaceAll(goodTrust, jitbotARN, "arn:aws:iam::111111111111:role/other"), []string{"other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := healthy(t)
			r := c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"]
			r.TrustPolicy = tc.doc
			c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"] = r
			fs := only(c.Run(t.Context()), Wrong, "role ops")
			text := ""
			for _, f := range fs {
				text += f.Finding + "\n"
			}
			for _, w := range tc.words {
				if !strings.Contains(text, w) {
					t.Errorf("findings %q do not say %q", text, w)
				}
			}
		})
	}
}

func TestShortMaxSessionDuration(t *testing.T) {
	c := healthy(t)
	r := c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"]
	r.MaxSession = time.Hour
	c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"] = r
	fs := c.Run(t.Context())
	wantOne(t, fs, Wrong, "role ops", "MaxSessionDuration 1h0m0s", "max_duration 4h0m0s")
	if f := only(fs, Wrong, "role ops")[0]; !strings.Contains(f.Fix, "14400") {
		t.Errorf("fix %q does not name 14400 seconds", f.Fix)
	}
}

// TestRoleChaining: jitbot on a role session (IRSA, an ECS task role)
// cannot issue sessions longer than 1h.
func TestRoleChaining(t *testing.T) {
	c := healthy(t)
	c.AWS.(*fakeAWS).caller = "arn:aws:sts::111111111111:assumed-role/jitbot/pod-1"
	wantOne(t, c.Run(t.Context()), Wrong, "role ops", "role chaining", "1h")
}

func TestBoundaryAndMissingRole(t *testing.T) {
	c := healthy(t)
	r := c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"]
	r.Boundary = ""
	c.AWS.(*fakeAWS).roles["arn:aws:iam::111111111111:role/jit-ops"] = r
	wantOne(t, c.Run(t.Context()), Wrong, "role ops", "no permissions boundary")

	delete(c.AWS.(*fakeAWS).roles, "arn:aws:iam::111111111111:role/jit-ops")
	wantOne(t, c.Run(t.Context()), Wrong, "role ops", "does not exist")
}

func TestGroupMemberWithoutGrantIsStanding(t *testing.T) {
	c := healthy(t)
	c.Members[grants.BackendGroup] = fakeMembers{"jit-admin": {"alice", "mallory"}}
	// A grant of another group, or one that has ended, is no cover.
	ended := grant(grants.BackendGroup, "jit-admin", "mallory")
	ended.State = grants.Revoked
	c.Records = append(c.Records.(fakeRecords), grant(grants.BackendGroup, "jit-other", "mallory"), ended)
	fs := c.Run(t.Context())
	wantOne(t, fs, Wrong, "role admin", "mallory", "no live grant")

	c.Members[grants.BackendGroup] = fakeMembers{}
	wantOne(t, c.Run(t.Context()), Wrong, "role admin", "IAM group jit-admin does not exist")
}

func TestIdentityCenterAssignments(t *testing.T) {
	c := healthy(t)
	c.Catalog = catalog(t, `
roles:
  sso:
    backend: aws_sso
    permission_set: Admin
    accounts: ["222222222222"]
    approvers: [ULEAD1]
    eligible: 'true'
  ssog:
    backend: aws_sso_group
    sso_group: admins
    approvers: [ULEAD1]
    eligible: 'true'
`)
	target := grants.SSOTarget("222222222222", "Admin")
	c.Members = map[string]grants.Lister{
		grants.BackendSSO:      fakeMembers{target: {"bob@example.com", "eve@example.com"}},
		grants.BackendSSOGroup: fakeMembers{"admins": {"bob@example.com"}},
	}
	c.Records = fakeRecords{grant(grants.BackendSSO, target, "bob@example.com")}
	c.AWS.(*fakeAWS).sets = map[string][]string{"Admin": {"arn:aws:iam::aws:policy/AdministratorAccess"}}
	fs := c.Run(t.Context())
	wantOne(t, fs, Info, "role sso", "permission set Admin gives: arn:aws:iam::aws:policy/AdministratorAccess")
	wantOne(t, fs, Wrong, "role sso", "eve@example.com", "Admin", "222222222222")
	wantOne(t, fs, Wrong, "role ssog", "bob@example.com", "admins")
}

func TestChecksThatCannotRunAreFindings(t *testing.T) {
	c := healthy(t)
	c.AWS.(*fakeAWS).fail = errUnreachable
	c.Records = nil
	c.Slack = &fakeSlack{err: errUnreachable}
	fs := c.Run(t.Context())
	if !Failed(fs) {
		t.Fatal("checks that could not run did not fail the run")
	}
	for _, subject := range []string{"role ops", "slack"} {
		for _, f := range only(fs, Error, subject) {
			if !strings.Contains(f.Finding, "connection refused") {
				t.Errorf("error finding %q does not carry the error", f.Finding)
			}
		}
		if len(only(fs, Error, subject)) == 0 {
			t.Errorf("no error finding about %s: %+v", subject, fs)
		}
	}
	if got := only(fs, Error, "role admin"); len(got) != 2 || !strings.Contains(got[0].Finding, "REDIS_URL") {
		t.Errorf("role admin without Redis or AWS: %+v, want the members and the policies unchecked", got)
	}
}

func TestJitbotChecks(t *testing.T) {
	c := healthy(t)
	c.SigningKeySet = false
	c.Redis = fakeRedis{"appendonly": "no", "save": "", "maxmemory-policy": "allkeys-lru"}
	c.Slack = &fakeSlack{scopes: append([]string{"admin"}, Scopes[1:]...), members: map[string]bool{}}
	fs := c.Run(t.Context())
	wantOne(t, fs, Wrong, "signing key", "JIT_SIGNING_KEY is not set")
	if got := only(fs, Wrong, "redis"); len(got) != 2 {
		t.Errorf("redis findings = %+v, want no persistence and allkeys-lru", got)
	}
	wantOne(t, fs, Warn, "slack", "admin")
	if got := only(fs, Wrong, "slack"); len(got) != 2 || !strings.Contains(got[0].Finding, "commands") || !strings.Contains(got[1].Finding, "CAUDIT") {
		t.Errorf("slack findings = %+v, want the missing scope commands and the audit channel", got)
	}
	c.Redis = fakeRedis{}
	fs = c.Run(t.Context())
	if got := only(fs, Warn, "redis"); len(got) != 2 {
		t.Errorf("a Redis without CONFIG: %+v, want two warnings", got)
	}
}

func TestOutput(t *testing.T) {
	fs := []Finding{
		{Status: OK, Subject: "redis", Finding: "maxmemory-policy noeviction"},
		{Status: Wrong, Subject: "role ops", Finding: "line one\nline two", Fix: "do it"},
	}
	var table bytes.Buffer
	if err := WriteTable(&table, fs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "STATUS") || !strings.Contains(lines[2], "line one line two") {
		t.Fatalf("table:\n%s", table.String())
	}
	if strings.HasSuffix(lines[1], " ") {
		t.Errorf("a finding without a fix ends in spaces: %q", lines[1])
	}
	if col := strings.Index(lines[0], "SUBJECT"); strings.Index(lines[1], "redis") != col || strings.Index(lines[2], "role ops") != col {
		t.Errorf("columns not aligned:\n%s", table.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, fs); err != nil {
		t.Fatal(err)
	}
	var back []map[string]string
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 2 || back[1]["status"] != "wrong" || back[1]["fix"] != "do it" || back[0]["subject"] != "redis" {
		t.Errorf("json %s: %v", js.String(), err)
	}
	for _, f := range back {
		if len(f) != 4 {
			t.Errorf("json object %v: want the keys status, subject, finding and fix, always", f)
		}
	}
	js.Reset()
	WriteJSON(&js, nil)
	if strings.TrimSpace(js.String()) != "[]" {
		t.Errorf("no findings = %s, want []", js.String())
	}
}

func TestPrincipalARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::111111111111:assumed-role/jitbot/i-123": "arn:aws:iam::111111111111:role/jitbot",
		"arn:aws:sts::123456789012:user/moto":                 "arn:aws:iam::123456789012:user/moto",
		"arn:aws:iam::111111111111:user/ci":                   "arn:aws:iam::111111111111:user/ci",
	} {
		if got := PrincipalARN(in); got != want {
			t.Errorf("PrincipalARN(%s) = %s, want %s", in, got, want)
		}
	}
	if !samePrincipal("AWS:arn:aws:iam::1:role/team/jitbot", "arn:aws:iam::1:role/jitbot") {
		t.Error("a role with a path is not its session's role")
	}
	if samePrincipal("AWS:arn:aws:iam::1:root", "arn:aws:iam::1:role/jitbot") {
		t.Error("an account root counts as jitbot")
	}
}
