package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/awsgrant"
)

// SDKAWS is AWS on the SDK. Like the aws_sts backend, it reads a role in
// another account as that account's jitbot-member
// (awsgrant.MemberRoleName), since jitbot's own credentials reach IAM in
// its own account only.
type SDKAWS struct {
	cfg aws.Config
	sts *sts.Client
	own *iam.Client
	ic  *identityCenter

	mu      sync.Mutex
	account string                 // jitbot's own, once known
	members map[string]*iam.Client // by account ID
}

var _ AWS = (*SDKAWS)(nil)

// NewSDKAWS returns AWS on cfg. ssoInstance is JIT_SSO_INSTANCE_ARN; ""
// finds the account's one Identity Center instance, as the backends do.
func NewSDKAWS(cfg aws.Config, ssoInstance string) *SDKAWS {
	return &SDKAWS{cfg: cfg, sts: sts.NewFromConfig(cfg), own: iam.NewFromConfig(cfg), members: map[string]*iam.Client{},
		ic: &identityCenter{admin: ssoadmin.NewFromConfig(cfg), instance: ssoInstance}}
}

// CallerARN asks STS who the credentials are (GetCallerIdentity needs no
// permission).
func (a *SDKAWS) CallerARN(ctx context.Context) (string, error) {
	out, err := a.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts GetCallerIdentity: %w", err)
	}
	a.mu.Lock()
	a.account = aws.ToString(out.Account)
	a.mu.Unlock()
	return aws.ToString(out.Arn), nil
}

// Role reads the role named by arn.
func (a *SDKAWS) Role(ctx context.Context, arn string) (Role, error) {
	account, name, err := splitRoleARN(arn)
	if err != nil {
		return Role{}, err
	}
	client, err := a.iamFor(ctx, arn, account)
	if err != nil {
		return Role{}, err
	}
	out, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return Role{}, fmt.Errorf("IAM role %s: %w", arn, ErrNotFound)
	}
	if err != nil {
		return Role{}, fmt.Errorf("iam GetRole %s: %w", name, err)
	}
	r := Role{MaxSession: time.Duration(aws.ToInt32(out.Role.MaxSessionDuration)) * time.Second}
	if r.MaxSession == 0 {
		r.MaxSession = time.Hour // IAM's default, when the answer leaves it out
	}
	if doc, err := url.QueryUnescape(aws.ToString(out.Role.AssumeRolePolicyDocument)); err == nil {
		r.TrustPolicy = doc
	} else {
		r.TrustPolicy = aws.ToString(out.Role.AssumeRolePolicyDocument)
	}
	if b := out.Role.PermissionsBoundary; b != nil {
		r.Boundary = aws.ToString(b.PermissionsBoundaryArn)
	}
	return r, nil
}

// GroupPolicies lists the group's attached and inline policies, in jitbot's
// own account (where aws_iam_group roles live).
func (a *SDKAWS) GroupPolicies(ctx context.Context, group string) (attached, inline []string, err error) {
	ap := iam.NewListAttachedGroupPoliciesPaginator(a.own, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String(group)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("iam ListAttachedGroupPolicies %s: %w", group, err)
		}
		for _, p := range page.AttachedPolicies {
			attached = append(attached, aws.ToString(p.PolicyArn))
		}
	}
	ip := iam.NewListGroupPoliciesPaginator(a.own, &iam.ListGroupPoliciesInput{GroupName: aws.String(group)})
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("iam ListGroupPolicies %s: %w", group, err)
		}
		inline = append(inline, page.PolicyNames...)
	}
	return attached, inline, nil
}

// iamFor is the IAM client for account: jitbot's own, or jitbot-member's.
func (a *SDKAWS) iamFor(ctx context.Context, arn, account string) (*iam.Client, error) {
	a.mu.Lock()
	own := a.account
	a.mu.Unlock()
	if own == "" {
		if _, err := a.CallerARN(ctx); err != nil {
			return nil, err
		}
		a.mu.Lock()
		own = a.account
		a.mu.Unlock()
	}
	if account == own {
		return a.own, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.members[account]; c != nil {
		return c, nil
	}
	partition := strings.SplitN(arn, ":", 3)[1]
	member := "arn:" + partition + ":iam::" + account + ":role/" + awsgrant.MemberRoleName
	cfg := a.cfg.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(a.sts, member, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "jitbot-doctor"
	}))
	c := iam.NewFromConfig(cfg)
	a.members[account] = c
	return c, nil
}

// splitRoleARN reads arn:<partition>:iam::<account>:role/<path/><name>.
func splitRoleARN(arn string) (account, name string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return "", "", fmt.Errorf("%q is not an IAM role ARN", arn)
	}
	res := parts[5]
	return parts[4], res[strings.LastIndexByte(res, '/')+1:], nil
}
