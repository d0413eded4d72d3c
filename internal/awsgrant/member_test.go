package awsgrant_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
)

// memberAccount is another account of the organisation. moto keeps one
// IAM per account and acts in the account of the role whose AssumeRole
// issued the access key (it neither needs the role to exist nor checks
// its trust policy), so credentials of any role there act in it.
const memberAccount = "222222222222"

const memberRole = "arn:aws:iam::" + memberAccount + ":role/" + awsgrant.MemberRoleName

// memberAdmin returns an IAM client acting in account, straight to moto,
// as an administrator of that account would.
func (e *env) memberAdmin(t *testing.T, account string) *iam.Client {
	t.Helper()
	return iam.NewFromConfig(e.moto.AccountConfig(t, account))
}

// createRoleIn creates a role named name in account with the test trust
// policy and a 12 h MaxSessionDuration, and returns its ARN.
func createRoleIn(t *testing.T, admin *iam.Client, name string) string {
	t.Helper()
	out, err := admin.CreateRole(t.Context(), &iam.CreateRoleInput{
		RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trustPolicy), MaxSessionDuration: aws.Int32(int32(maxSession / time.Second))})
	if err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	return aws.ToString(out.Role.Arn)
}

// hasRevokeDeny reports whether the role has the jit-revoked policy and
// it names the request, as admin sees it.
func hasRevokeDeny(t *testing.T, admin *iam.Client, role string, id grants.RequestID) (exists, names bool) {
	t.Helper()
	out, err := admin.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("jit-revoked")})
	if err != nil {
		return false, false
	}
	text, err := url.PathUnescape(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatalf("policy jit-revoked of %s: %v", role, err)
	}
	return true, strings.Contains(text, `"`+string(id)+`"`)
}

// TestSTSMemberAccountGrantAndRevoke: a role in another account of the
// organisation is granted with credentials that are that account's
// assumed role, and an early revocation writes the revoke deny on that
// account's role, through jitbot-member, and not on the role of the same
// name in jitbot's own account.
func TestSTSMemberAccountGrantAndRevoke(t *testing.T) {
	e := newEnv(t)
	locks := &keyRecorder{}
	b := awsgrant.NewSTS(e.cfg, testLogger(t), awsgrant.WithLocker(locks))
	member := e.memberAdmin(t, memberAccount)
	target := createRoleIn(t, member, "jit-shared-name")
	ownTwin := createRoleIn(t, e.admin, "jit-shared-name")
	if !strings.HasPrefix(target, "arn:aws:iam::"+memberAccount+":") || !strings.HasPrefix(ownTwin, "arn:aws:iam::"+motoAccount+":") {
		t.Fatalf("fixture roles %s and %s are not in %s and %s: moto no longer separates accounts by access key", target, ownTwin, memberAccount, motoAccount)
	}

	g := stsGrant(target)
	issued, err := b.Grant(t.Context(), g)
	if err != nil {
		t.Fatalf("Grant of %s: %v", target, err)
	}
	want := "arn:aws:sts::" + memberAccount + ":assumed-role/jit-shared-name/" + awsgrant.SessionName(g.RequesterEmail, g.RequestID)
	if got := e.callerARN(t, issued.Credentials); got != want {
		t.Errorf("issued credentials are %s, want %s", got, want)
	}
	var roles []string
	for _, c := range e.proxy.Calls("AssumeRole") {
		roles = append(roles, c.Params.Get("RoleArn")+" as "+c.Params.Get("RoleSessionName"))
	}
	if len(roles) != 2 || roles[0] != memberRole+" as jitbot" || !strings.HasPrefix(roles[1], target+" as ") {
		t.Errorf("AssumeRole calls %q; want jitbot-member (session jitbot) for GetRole, then the target", roles)
	}

	// A twin grant in jitbot's own account, revoked at the same moment:
	// the two denies must land each on its own role.
	twin := stsGrant(ownTwin)
	if _, err := b.Grant(t.Context(), twin); err != nil {
		t.Fatalf("Grant of %s: %v", ownTwin, err)
	}
	var wg sync.WaitGroup
	for _, g := range []grants.Grant{g, twin} {
		wg.Go(func() {
			if _, err := b.Revoke(t.Context(), g); err != nil {
				t.Errorf("Revoke of %s: %v", g.Target, err)
			}
		})
	}
	wg.Wait()
	if got, want := locks.sorted(), []string{"revoke-deny:" + memberAccount + ":jit-shared-name", "revoke-deny:jit-shared-name"}; !slices.Equal(got, want) {
		t.Errorf("revoke deny locks %q; want %q: one per role, the own account's as before", got, want)
	}
	if _, names := hasRevokeDeny(t, member, "jit-shared-name", g.RequestID); !names {
		t.Errorf("the member account's role has no revoke deny of %s", g.RequestID)
	}
	if _, names := hasRevokeDeny(t, member, "jit-shared-name", twin.RequestID); names {
		t.Errorf("the member account's role denies %s, a grant of jitbot's own account's role", twin.RequestID)
	}
	if _, names := hasRevokeDeny(t, e.admin, "jit-shared-name", g.RequestID); names {
		t.Errorf("jitbot's own account's role denies %s, a grant of the member account's role", g.RequestID)
	}
	if _, names := hasRevokeDeny(t, e.admin, "jit-shared-name", twin.RequestID); !names {
		t.Errorf("jitbot's own account's role has no revoke deny of %s", twin.RequestID)
	}

	if err := b.Cleanup(t.Context(), g); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if exists, _ := hasRevokeDeny(t, member, "jit-shared-name", g.RequestID); exists {
		t.Errorf("the member account's revoke deny is still there after Cleanup")
	}
	if n := e.proxy.Count("GetCallerIdentity"); n != 1 {
		t.Errorf("%d GetCallerIdentity calls; jitbot's own account should be asked once", n)
	}
	for _, c := range e.proxy.Calls("AssumeRole") {
		if arn := c.Params.Get("RoleArn"); strings.HasSuffix(arn, ":role/"+awsgrant.MemberRoleName) && arn != memberRole {
			t.Errorf("jitbot assumed %s; jitbot-member only of %s", arn, memberAccount)
		}
	}
	if n := len(e.proxy.Calls("AssumeRole")); n != 3 {
		t.Errorf("%d AssumeRole calls; want 3: jitbot-member once (its credentials are cached) and the two grants", n)
	}
}

// keyRecorder is a Locker that locks nothing and records the keys asked.
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) Lock(_ context.Context, key string) (func(), error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
	return func() {}, nil
}

func (k *keyRecorder) sorted() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Sorted(slices.Values(k.keys))
}

// TestSTSMemberAccountUnreachable: without a jitbot-member jitbot may
// assume, a grant fails with a message that says what to deploy, before
// anything is issued, and an early revocation fails (to be retried)
// instead of writing the deny elsewhere.
func TestSTSMemberAccountUnreachable(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	target := createRoleIn(t, e.memberAdmin(t, memberAccount), "jit-orphan")
	createRoleIn(t, e.admin, "jit-orphan")
	e.proxy.Refuse("AssumeRole", func(v url.Values) bool { return v.Get("RoleArn") == memberRole })

	g := stsGrant(target)
	_, err := b.Grant(t.Context(), g)
	if !errors.Is(err, grants.ErrInvalidTarget) {
		t.Fatalf("Grant = %v, want ErrInvalidTarget", err)
	}
	for _, want := range []string{"jitbot cannot reach account " + memberAccount + ": assume " + memberRole + ": ", "AccessDenied", "; deploy the member-account module"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Grant error %q lacks %q", err, want)
		}
	}
	for _, c := range e.proxy.Calls("AssumeRole") {
		if c.Params.Get("RoleArn") == target {
			t.Errorf("the target was assumed although its account is out of reach")
		}
	}

	_, err = b.Revoke(t.Context(), g)
	if err == nil || !strings.Contains(err.Error(), "jitbot cannot reach account "+memberAccount) {
		t.Errorf("Revoke = %v, want the account out of reach", err)
	}
	if n := e.proxy.Count("PutRolePolicy"); n != 0 {
		t.Errorf("%d PutRolePolicy calls; the deny cannot be written in the member account and must not go elsewhere", n)
	}

	// The failed grant was never recorded as issued: once any session it
	// could have made has ended by itself, its revocation is done, and an
	// account out of reach no longer holds it up.
	stale := g
	stale.Expires, stale.CredsExpire = time.Time{}, time.Time{}
	stale.IssuedBy = time.Now().Add(-13 * time.Hour)
	if _, err := b.Revoke(t.Context(), stale); err != nil {
		t.Errorf("Revoke of a failed grant whose sessions have all ended = %v, want done", err)
	}
	recent := stale
	recent.IssuedBy = time.Now().Add(-time.Hour)
	if _, err := b.Revoke(t.Context(), recent); err == nil {
		t.Errorf("Revoke of a failed grant whose session may still run succeeded without writing its deny")
	}
}

// TestSTSOwnAccountNeverAssumesMember: a role in jitbot's own account is
// checked and revoked with jitbot's own credentials.
func TestSTSOwnAccountNeverAssumesMember(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	g := stsGrant(e.createRole(t, "jit-own", maxSession))
	if _, err := b.Grant(t.Context(), g); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if _, err := b.Revoke(t.Context(), g); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if !e.denied(t, "jit-own", g.RequestID) {
		t.Errorf("no revoke deny of %s on jit-own", g.RequestID)
	}
	for _, c := range e.proxy.Calls("AssumeRole") {
		if c.Params.Get("RoleArn") != g.Target {
			t.Errorf("AssumeRole of %s for a role in jitbot's own account", c.Params.Get("RoleArn"))
		}
	}
}

// TestSTSMemberAccountOutage: STS failing to answer jitbot-member's
// AssumeRole is no reason to blame the member account: the grant fails
// without ErrInvalidTarget and without the advice to deploy anything,
// and the next attempt assumes jitbot-member afresh.
func TestSTSMemberAccountOutage(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	target := createRoleIn(t, e.memberAdmin(t, memberAccount), "jit-flaky")
	if _, err := b.Grant(t.Context(), stsGrant(e.createRole(t, "jit-own", maxSession))); err != nil {
		t.Fatalf("Grant in jitbot's own account: %v", err) // its account is known before the outage
	}
	e.proxy.FailNext("AssumeRole", 3) // every attempt the SDK makes
	_, err := b.Grant(t.Context(), stsGrant(target))
	if err == nil || errors.Is(err, grants.ErrInvalidTarget) || strings.Contains(err.Error(), "deploy") ||
		!strings.Contains(err.Error(), "jitbot cannot reach account "+memberAccount+": assume "+memberRole) {
		t.Fatalf("Grant during an STS outage = %v; want a plain error naming the account", err)
	}
	if _, err := b.Grant(t.Context(), stsGrant(target)); err != nil {
		t.Fatalf("Grant once STS answers again: %v", err)
	}
}
