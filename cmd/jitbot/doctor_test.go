package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/doctor"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// doctorRole is a catalog entry; body is its backend's lines.
func doctorRole(name, body string) string {
	return "  " + name + ":\n" + body + "    max_duration: 4h\n    approvers: [ULEAD1]\n    eligible: 'true'\n"
}

var doctorRoles = map[string]string{
	"good":     doctorRole("good", "    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/jit-good\n"),
	"open":     doctorRole("open", "    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/jit-open\n"),
	"short":    doctorRole("short", "    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/jit-short\n"),
	"member":   doctorRole("member", "    backend: aws_sts\n    role_arn: arn:aws:iam::222222222222:role/jit-member\n"),
	"group":    doctorRole("group", "    backend: aws_iam_group\n    group: jit-granted\n    iam_user: user.name\n"),
	"standing": doctorRole("standing", "    backend: aws_iam_group\n    group: jit-standing\n    iam_user: user.name\n"),
}

// doctorFixtures sets up moto's account 123456789012 as doctor should
// find it: jit-good trusted by the caller alone with a source identity,
// jit-open also trusting another account, jit-short allowing 1 h sessions
// for a role of 4 h, all bounded by jit-boundary; jit-granted whose member
// alice holds a grant, jit-standing whose member mallory holds none.
func doctorFixtures(t *testing.T, moto *testenv.Moto, store *redisstore.Store) {
	t.Helper()
	ctx := t.Context()
	cfg := testenv.AWSConfig(t, moto.URL())
	c := iam.NewFromConfig(cfg)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	self := doctor.PrincipalARN(aws.ToString(who.Arn))
	trust := func(principals string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[` + principals + `]},` +
			`"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"Null":{"sts:SourceIdentity":"false"}}}]}`
	}
	boundary, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("jit-boundary"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name, trust string
		maxSession  int32
	}{
		{"jit-good", trust(`"` + self + `"`), 4 * 3600},
		{"jit-open", trust(`"` + self + `","arn:aws:iam::999999999999:root"`), 4 * 3600},
		{"jit-short", trust(`"` + self + `"`), 3600},
	} {
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(r.name), AssumeRolePolicyDocument: aws.String(r.trust),
			MaxSessionDuration: aws.Int32(r.maxSession), PermissionsBoundary: boundary.Policy.Arn}); err != nil {
			t.Fatal(err)
		}
	}
	// jit-member is in another account, which doctor reads as its
	// jitbot-member, as the aws_sts backend does.
	other := iam.NewFromConfig(moto.AccountConfig(t, "222222222222"))
	otherBoundary, err := other.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("jit-boundary"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("jit-member"), AssumeRolePolicyDocument: aws.String(trust(`"` + self + `"`)),
		MaxSessionDuration: aws.Int32(4 * 3600), PermissionsBoundary: otherBoundary.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct{ group, user string }{{"jit-granted", "alice"}, {"jit-standing", "mallory"}} {
		if _, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(g.group)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String(g.group), PolicyName: aws.String("read"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(g.user)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(g.group), UserName: aws.String(g.user)}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if err := store.Create(ctx, &grants.Request{ID: "rdoctor1", State: grants.Active, Requester: rules.User{ID: "UALICE", Name: "alice"},
		Role: "group", Backend: grants.BackendGroup, Target: "jit-granted", Principal: "alice", Duration: time.Hour,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// doctorEnv is jitbot serve's environment on moto, rds and slack, with a
// catalog of roles (catalog lines under roles:).
func doctorEnv(t *testing.T, moto *testenv.Moto, rds *testenv.Redis, slack *slackfake.Server, roles string) []string {
	t.Helper()
	catalog := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, catalog, "roles:\n"+roles)
	return cleanEnv("JIT_RULES="+catalog, "REDIS_URL="+rds.URL(),
		"AWS_ENDPOINT_URL="+moto.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIAJITBOTTESTING", "AWS_SECRET_ACCESS_KEY=testing-secret",
		"SLACK_API_URL="+slack.APIURL(), "SLACK_BOT_TOKEN="+slack.BotToken(), "JIT_AUDIT_CHANNEL="+auditChannel)
}

// doctorSetup starts moto, Redis and the Slack fake with doctorFixtures
// in place. env gives jitbot's environment with a catalog of the named
// doctorRoles.
type doctorSetup struct {
	env   func(roles ...string) []string
	slack *slackfake.Server
	store *redisstore.Store
}

func startDoctorSetup(t *testing.T) doctorSetup {
	t.Helper()
	moto, rds, slack := testenv.StartMoto(t), testenv.StartRedis(t), slackfake.Start(t)
	store, err := redisstore.Open(t.Context(), rds.URL(), redisstore.Options{SigningKeys: [][]byte{[]byte(testSigningKey)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	doctorFixtures(t, moto, store)
	env := func(roles ...string) []string {
		text := ""
		for _, r := range roles {
			text += doctorRoles[r]
		}
		return doctorEnv(t, moto, rds, slack, text)
	}
	return doctorSetup{env: env, slack: slack, store: store}
}

// TestDoctorThroughTheBinary runs jitbot doctor against moto with a
// mis-configured account: it names the extra principal, the short
// MaxSessionDuration and the standing member, passes the roles set up
// right, and exits 1, in the table and in JSON; on a catalog of the right
// roles alone it exits 0.
func TestDoctorThroughTheBinary(t *testing.T) {
	d := startDoctorSetup(t)
	bad := d.env("good", "member", "open", "short", "group", "standing")
	r := runBinary(t, bad, "doctor")
	if r.code != 1 {
		t.Fatalf("doctor on a mis-configured account: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("jitbot doctor:\n%s", r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "STATUS") {
		t.Errorf("no header: %q", lines[0])
	}
	wrong := func(subject string) []string {
		var out []string
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 2 && f[0] == "WRONG" && f[1]+" "+f[2] == subject {
				out = append(out, l)
			}
		}
		return out
	}
	for subject, want := range map[string]string{
		"role open":     "also lets every principal of account 999999999999",
		"role short":    "MaxSessionDuration 1h0m0s is shorter than max_duration 4h0m0s",
		"role standing": "standing access: mallory holds IAM group jit-standing with no live grant",
	} {
		if got := wrong(subject); len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("WRONG lines about %s = %q, want one saying %q", subject, got, want)
		}
	}
	for _, subject := range []string{"role good", "role member", "role group"} {
		if got := wrong(subject); len(got) > 0 {
			t.Errorf("%s is set up right, yet: %q", subject, got)
		}
	}
	if strings.Contains(r.stdout, "ERROR") {
		t.Errorf("a check could not run:\n%s", r.stdout)
	}

	j := runBinary(t, bad, "doctor", "--format", "json")
	var fs []doctor.Finding
	if err := json.Unmarshal([]byte(j.stdout), &fs); err != nil || j.code != 1 {
		t.Fatalf("doctor --format json: exit %d, %v\n%s", j.code, err, j.stdout)
	}
	n := 0
	for _, f := range fs {
		if f.Status == doctor.Wrong {
			n++
			if f.Fix == "" || !strings.HasPrefix(f.Subject, "role ") {
				t.Errorf("finding %+v: want a role with a fix", f)
			}
		}
	}
	if n != 3 {
		t.Errorf("json has %d wrong findings, want 3: %+v", n, fs)
	}

	if ok := runBinary(t, d.env("good", "member", "group"), "doctor"); ok.code != 0 {
		t.Errorf("doctor on the right roles: exit %d, want 0\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
}

// TestDoctorJitbotSetupThroughTheBinary: with the right roles, the bot
// out of the audit channel and a Redis that may evict records are each
// named, and doctor exits 1.
func TestDoctorJitbotSetupThroughTheBinary(t *testing.T) {
	d := startDoctorSetup(t)
	d.slack.Leave(auditChannel)
	if err := d.store.Client().ConfigSet(t.Context(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, d.env("good", "group"), "doctor")
	for _, want := range []string{"WRONG   slack", "not a member of the audit channel " + auditChannel, "WRONG   redis", "maxmemory-policy is allkeys-lru"} {
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("doctor with the bot out of the channel and allkeys-lru: exit %d, want 1 and %q\n%s", r.code, want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "WRONG   role") {
		t.Errorf("a role set up right is wrong:\n%s", r.stdout)
	}
}
