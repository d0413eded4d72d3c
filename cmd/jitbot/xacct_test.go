package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/testenv"
)

// memberAccount is another account of the organisation. moto acts in the
// account of the role whose AssumeRole issued an access key, so
// credentials of any role there reach that account's IAM.
const memberAccount = "222222222222"

// memberRoles is a catalog role in memberAccount, on top of slackCatalog.
const memberRoles = `  member-readonly:
    description: Read-only access to the member account
    backend: aws_sts
    role_arn: arn:aws:iam::` + memberAccount + `:role/jit-readonly
    max_duration: 2h
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
`

// restartWithRoles restarts the bot with roles added to slackCatalog, for
// roles whose AWS fixtures the test makes after startBot.
func (b *bot) restartWithRoles(t *testing.T, roles string) {
	t.Helper()
	catalog := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, catalog, slackCatalog+roles)
	b.env, b.catalog = append(b.env, "JIT_RULES="+catalog), catalog
	b.cmd.Process.Kill()
	b.cmd.Wait()
	b.start(t)
}

// revokeDenyNames reports whether role's jit-revoked policy, as client
// sees it, names the request.
func revokeDenyNames(t *testing.T, client *iam.Client, role, id string) bool {
	t.Helper()
	out, err := client.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("jit-revoked")})
	if err != nil {
		return false
	}
	text, err := url.PathUnescape(aws.ToString(out.PolicyDocument))
	return err == nil && strings.Contains(text, `"`+id+`"`)
}

// TestSlackSTSInAMemberAccount: a catalog role in another account of the
// organisation, through the binary: requested, approved, its credentials
// DM'd act as that account's role, and /jit revoke writes the revoke deny
// on that account's role (through jitbot-member), not on the role of the
// same name in jitbot's own account.
func TestSlackSTSInAMemberAccount(t *testing.T) {
	b := startBot(t)
	member := iam.NewFromConfig(b.moto.AccountConfig(t, memberAccount))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	out, err := member.CreateRole(t.Context(), &iam.CreateRoleInput{RoleName: aws.String("jit-readonly"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatal(err)
	}
	if arn := aws.ToString(out.Role.Arn); arn != "arn:aws:iam::"+memberAccount+":role/jit-readonly" {
		t.Fatalf("the fixture role is %s: moto no longer acts in the assumed role's account", arn)
	}
	b.restartWithRoles(t, memberRoles)

	g := b.grantSTS(t, "request member-readonly 1h checking the member account's replica")
	cfg := testenv.AWSConfig(t, b.moto.URL())
	cfg.Credentials = credentials.NewStaticCredentialsProvider(exportValue(t, g.msg, "AWS_ACCESS_KEY_ID"), g.secret, g.token)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the DM'd credentials: %v", err)
	}
	if arn := aws.ToString(who.Arn); !strings.HasPrefix(arn, "arn:aws:sts::"+memberAccount+":assumed-role/jit-readonly/") {
		t.Errorf("the DM'd credentials are %s; want the member account's jit-readonly", arn)
	}

	if got := b.command(t, "UALICE", "revoke "+g.id); strings.Contains(got, "not") {
		t.Fatalf("/jit revoke answered %q", got)
	}
	b.slack.WaitFor(t, "the revoke deny on the member account's role", 20*time.Second, func() bool {
		return revokeDenyNames(t, member, "jit-readonly", g.id)
	})
	if revokeDenyNames(t, b.iam, "jit-readonly", g.id) {
		t.Errorf("jitbot's own account's jit-readonly denies %s, a grant of the member account's role", g.id)
	}
	var viaMember int
	for _, c := range b.proxy.Calls("AssumeRole") {
		if c.Params.Get("RoleArn") == "arn:aws:iam::"+memberAccount+":role/jitbot-member" && c.Params.Get("RoleSessionName") == "jitbot" {
			viaMember++
		}
	}
	if viaMember == 0 {
		t.Errorf("jitbot never assumed the member account's jitbot-member; AssumeRole calls: %d", b.proxy.Count("AssumeRole"))
	}
}
