package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/jitbot/jitbot/internal/grants"
)

// MemberRoleName is the role jitbot assumes in every other account of the
// organisation whose roles the catalog names:
// arn:aws:iam::<account>:role/jitbot-member. jitbot's own credentials
// reach IAM in jitbot's account only, so the IAM calls on a member
// account's role (GetRole before a grant, the revoke deny) are made as
// jitbot-member; deploy/iam/terraform/member creates it. The AssumeRole
// that issues a grant is still jitbot's own: the target role trusts
// jitbot's role directly.
const MemberRoleName = "jitbot-member"

// memberSessionName names jitbot's sessions of jitbot-member, so the
// member account's CloudTrail shows which calls were jitbot's.
const memberSessionName = "jitbot"

// accounts hands out the IAM client that reaches a role's account:
// jitbot's own for its own account, jitbot-member's for the others. It is
// safe for concurrent use.
type accounts struct {
	cfg aws.Config
	sts *sts.Client
	own *iam.Client

	mu      sync.Mutex
	ownID   string             // jitbot's account, once GetCallerIdentity has answered
	members map[string]*member // by account ID, built on first use
}

// member is jitbot-member of one account: its cached credentials, renewed
// by AssumeRole shortly before they expire, and an IAM client using them.
type member struct {
	arn   string
	creds *aws.CredentialsCache
	iam   *iam.Client
}

func newAccounts(cfg aws.Config, stsClient *sts.Client) *accounts {
	return &accounts{cfg: cfg, sts: stsClient, own: iam.NewFromConfig(cfg), members: map[string]*member{}}
}

// iamFor returns the IAM client for role's account. A member account
// whose jitbot-member jitbot cannot assume is an error that says so. When
// STS refused (AccessDenied: no such role, or it does not trust jitbot)
// it wraps grants.ErrInvalidTarget and says what to deploy, since
// retrying cannot help until someone does; any other failure (STS out of
// reach, say) is a plain error.
func (a *accounts) iamFor(ctx context.Context, role roleARN) (*iam.Client, error) {
	own, err := a.ownAccount(ctx)
	if err != nil {
		return nil, err
	}
	if role.account == own {
		return a.own, nil
	}
	m := a.member(role)
	if _, err := m.creds.Retrieve(ctx); err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "AccessDenied" {
			return nil, fmt.Errorf("%w: jitbot cannot reach account %s: assume %s: %v; deploy the member-account module (deploy/iam/terraform/member) there",
				grants.ErrInvalidTarget, role.account, m.arn, err)
		}
		return nil, fmt.Errorf("jitbot cannot reach account %s: assume %s: %w", role.account, m.arn, err)
	}
	return m.iam, nil
}

// ownAccount is jitbot's own account ID, asked of STS once. A failure is
// not remembered: the next call asks again.
func (a *accounts) ownAccount(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ownID != "" {
		return a.ownID, nil
	}
	// GetCallerIdentity needs no permission, and no policy can deny it.
	out, err := a.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("find jitbot's own AWS account: %w", err)
	}
	if aws.ToString(out.Account) == "" {
		return "", errors.New("find jitbot's own AWS account: GetCallerIdentity named none")
	}
	a.ownID = aws.ToString(out.Account)
	return a.ownID, nil
}

// member returns jitbot-member of role's account, made on first use. Its
// credentials are fetched on first use too, outside the lock.
func (a *accounts) member(role roleARN) *member {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.members[role.account]; m != nil {
		return m
	}
	arn := memberRoleARN(role)
	creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(a.sts, arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = memberSessionName
	}))
	cfg := a.cfg.Copy()
	cfg.Credentials = creds
	m := &member{arn: arn, creds: creds, iam: iam.NewFromConfig(cfg)}
	a.members[role.account] = m
	return m
}

// memberRoleARN is jitbot-member's ARN in role's account and partition.
func memberRoleARN(role roleARN) string {
	return "arn:" + role.partition + ":iam::" + role.account + ":role/" + MemberRoleName
}
