package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"golang.org/x/sync/errgroup"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/testenv"
)

// The aws_sso world of the bench: one permission set, assigned in
// ssoAccounts accounts to the Identity Center users of the engineers
// (user name = Slack email, the catalog's default sso_user). A grant is an
// (account, user) pair, so no two seeded grants share an assignment.
const (
	ssoRole          = "sso"
	ssoPermissionSet = "JitBench"
	ssoAccounts      = 10
	// ssoRevocationCalls is how many AWS calls, one after another, the
	// aws_sso backend makes to revoke a grant against moto: GetUserId
	// (the user's ID is not cached), ListAccountAssignments (is it still
	// assigned?) and DeleteAccountAssignment, which moto answers
	// SUCCEEDED at once, so that no deletion status is polled. Against
	// AWS the status is polled, the first time 100 ms later.
	ssoRevocationCalls = 3
	// ssoOwnShare is the bot's own time allowed per AWS call of a
	// revocation, beyond moto's round trip.
	ssoOwnShare = 50.0 // ms
)

func ssoAccount(i int) string { return fmt.Sprintf("1000000000%02d", i) }

// ssoPair is the account and engineer of aws_sso pair k.
func ssoPair(k int) (account, user int) { return k % ssoAccounts, k / ssoAccounts }

// ssoUsers is how many engineers n aws_sso pairs take.
func ssoUsers(n int) int { return (n + ssoAccounts - 1) / ssoAccounts }

// ssoWorld is moto's Identity Center as the bench set it up.
type ssoWorld struct {
	admin    *ssoadmin.Client // straight to moto
	instance string
	psARN    string
	users    []string // Identity Center user ID of engineer i
}

// ssoFixtures creates the permission set and the Identity Center users of
// the template and of engineers [0, users).
func (s *stack) ssoFixtures(ctx context.Context, users int) (*ssoWorld, error) {
	cfg := testenv.StaticAWSConfig(s.moto.URL())
	w := &ssoWorld{admin: ssoadmin.NewFromConfig(cfg), users: make([]string, users)}
	ids := identitystore.NewFromConfig(cfg)
	inst, err := w.admin.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
	if err != nil || len(inst.Instances) != 1 {
		return nil, fmt.Errorf("moto's Identity Center instance: %v, %v", inst, err)
	}
	w.instance = aws.ToString(inst.Instances[0].InstanceArn)
	storeID := inst.Instances[0].IdentityStoreId
	ps, err := w.admin.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{
		InstanceArn: aws.String(w.instance), Name: aws.String(ssoPermissionSet),
		SessionDuration: aws.String("PT1H"), // moto's default, 3600, does not decode
	})
	if err != nil {
		return nil, fmt.Errorf("create permission set %s: %w", ssoPermissionSet, err)
	}
	w.psARN = aws.ToString(ps.PermissionSet.PermissionSetArn)
	create := func(ctx context.Context, name string) (string, error) {
		out, err := ids.CreateUser(ctx, &identitystore.CreateUserInput{
			IdentityStoreId: storeID, UserName: aws.String(name), DisplayName: aws.String(name),
			Name: &idtypes.Name{GivenName: aws.String("Bench"), FamilyName: aws.String(name)},
		})
		if err != nil {
			return "", fmt.Errorf("create Identity Center user %s: %w", name, err)
		}
		return aws.ToString(out.UserId), nil
	}
	if _, err := create(ctx, templateIAM+"@example.com"); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fixtureWorkers)
	for i := range users {
		g.Go(func() (err error) {
			w.users[i], err = create(gctx, email(i))
			return err
		})
	}
	return w, g.Wait()
}

// assign assigns the permission set for pairs [0, n), straight in moto,
// and returns the request ID of each CreateAccountAssignment.
func (w *ssoWorld) assign(ctx context.Context, n int) ([]string, error) {
	ids := make([]string, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(fixtureWorkers)
	for k := range n {
		ai, ui := ssoPair(k)
		g.Go(func() error {
			out, err := w.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
				InstanceArn: aws.String(w.instance), PermissionSetArn: aws.String(w.psARN),
				TargetType: ssotypes.TargetTypeAwsAccount, TargetId: aws.String(ssoAccount(ai)),
				PrincipalType: ssotypes.PrincipalTypeUser, PrincipalId: aws.String(w.users[ui]),
			})
			if err != nil {
				return fmt.Errorf("assign %s in account %s to %s: %w", ssoPermissionSet, ssoAccount(ai), email(ui), err)
			}
			if st := out.AccountAssignmentCreationStatus; st != nil {
				ids[k] = aws.ToString(st.RequestId)
			}
			return nil
		})
	}
	return ids, g.Wait()
}

// ssoGrants are aws_sso grants, one per (account, user) pair, revoked by
// a successful DeleteAccountAssignment.
func (b *bench) ssoGrants() grantKind {
	return grantKind{
		access: "account assignments", tmpl: b.ssoTemplate, add: b.sso.assign,
		spec: func(k int) grantSpec {
			ai, ui := ssoPair(k)
			return grantSpec{role: ssoRole, requester: ui, principal: email(ui), account: ssoAccount(ai),
				target: grants.SSOTarget(ssoAccount(ai), ssoPermissionSet), key: ssoAccount(ai) + "/" + b.sso.users[ui]}
		},
		revocation: "DeleteAccountAssignment",
		revoked: func(c testenv.Call) (string, bool) {
			return c.Params.Get("TargetId") + "/" + c.Params.Get("PrincipalId"), c.Status == http.StatusOK
		},
	}
}

// ssoRevocationLag is revocation_lag for aws_sso grants: -sso-grants
// grants expiring evenly over -sso-window, without a restart. The lag of
// a grant is the end of its DeleteAccountAssignment at the proxy, whose
// answer is, from moto, the SUCCEEDED deletion status, minus its expiry.
func (b *bench) ssoRevocationLag(ctx context.Context) error {
	n, window := b.cfg.ssoGrants, b.cfg.ssoWindow
	t0, gs, err := b.seedExpiring(ctx, "aws_sso revocation lag", b.ssoGrants(), n, spread(n, window))
	if err != nil {
		return err
	}
	b.profileCPU("revocation-sso", time.Until(t0.Add(window))+5*time.Second)
	done := b.waitRevoked(ctx, b.ssoGrants(), gs)
	lags, missing := lagsOf(gs, done)
	target := math.Round(min(250, ssoRevocationCalls*(b.motoRTT.P50+ssoOwnShare))) // whole ms: the run's own RTT sets it
	f := figure{Name: "revocation_lag_sso", Unit: unitMS, Sum: summarize(lags), Target: target, Emulator: b.motoRTT,
		What: fmt.Sprintf("expiry → DeleteAccountAssignment done at the proxy, whose answer from moto is the deletion status SUCCEEDED; "+
			"%d aws_sso grants (one permission set, %d accounts) expiring over %v; target: the lesser of 250 ms and "+
			"%d calls × (moto's p50 round trip + %g ms), as a revocation makes %d AWS calls one after another "+
			"(GetUserId, ListAccountAssignments, DeleteAccountAssignment) and each may take moto's round trip plus a share of the bot's own; "+
			"against AWS, which answers IN_PROGRESS, the status poll adds at least 100 ms and a call",
			n, ssoAccounts, window, ssoRevocationCalls, ssoOwnShare, ssoRevocationCalls)}
	if missing > 0 {
		f.Note = fmt.Sprintf("%d grants not revoked when the bench gave up waiting; counted as revoked then", missing)
	}
	b.addPace(&f, t0, lags, done)
	// How much of the lag is moto's: the AWS calls of the phase, their
	// number and their time at the proxy, per revocation.
	calls := b.st.aws.Calls("")
	var inAWS time.Duration
	for _, c := range calls {
		inAWS += c.End.Sub(c.Start)
	}
	f.addExtra("aws_calls_per_revocation", float64(len(calls))/float64(n))
	f.addExtra("aws_ms_per_revocation", ms(inAWS)/float64(n))
	b.add(f)
	return nil
}
