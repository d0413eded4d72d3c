package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/jitbot/jitbot/internal/grants"
)

// STS limits, from the AssumeRole API reference.
const (
	minSessionSeconds = 900
	maxSessionSeconds = 43200
	maxSessionPolicy  = 2048 // characters of the plain-text session policy
)

// cleanupMargin keeps a revocation's deny statement in place a little past
// the moment the credentials expire, for clock skew between jitbot and AWS.
const cleanupMargin = time.Minute

// Tag keys of the STS session. The revoke deny statement matches
// jit-request, so it hits exactly one grant's sessions. jit-repository and
// jit-run name the CI job behind a workload's session (workloadTags), so
// CloudTrail shows which repository and which run made each call. They
// are all here because deploy's tests read this block to check that the
// trust policy allows exactly these keys.
const (
	tagRequest    = "jit-request"
	tagApprover   = "jit-approver"
	tagRepository = "jit-repository"
	tagRun        = "jit-run"
)

// STS is the aws_sts backend. It needs sts:AssumeRole (with sts:TagSession
// and sts:SetSourceIdentity allowed by each target role's trust policy) and,
// on the target roles, iam:GetRole, iam:GetRolePolicy, iam:PutRolePolicy
// and iam:DeleteRolePolicy. A target role in another account of the
// organisation gets those IAM calls as that account's jitbot-member (see
// MemberRoleName), since an early revocation writes an inline policy on
// the role.
type STS struct {
	sts      *sts.Client
	accounts *accounts
	log      *slog.Logger
	now      func() time.Time
	locker   Locker // nil: this process is the only writer

	mu     sync.Mutex
	queues map[string]*roleQueue // by denyTarget.key
}

var _ grants.Backend = (*STS)(nil)

// STSOption configures an STS backend.
type STSOption func(*STS)

// WithLocker has the backend hold l's lock of a role while it rewrites the
// role's revoke deny, for deployments where several jitbot processes may
// revoke grants of the same role at once.
func WithLocker(l Locker) STSOption { return func(s *STS) { s.locker = l } }

// NewSTS returns the aws_sts backend. cfg is the SDK configuration (in
// production from config.LoadDefaultConfig, which honours AWS_ENDPOINT_URL).
func NewSTS(cfg aws.Config, log *slog.Logger, opts ...STSOption) *STS {
	client := sts.NewFromConfig(cfg)
	s := &STS{sts: client, accounts: newAccounts(cfg, client), log: log, now: time.Now, queues: map[string]*roleQueue{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Grant assumes g.Target for the requester. The session lasts the grant's
// length rounded up to whole seconds and to STS's 900 s minimum, and its
// session policy denies everything after g.Expires, so AWS itself ends the
// access at the exact second even for grants shorter than 15 minutes and
// even if jitbot is down. A role that does not exist, is in an account
// whose jitbot-member jitbot cannot assume, cannot be assumed by jitbot or
// allows shorter sessions than the grant needs is an error wrapping
// grants.ErrInvalidTarget, with a message fit for the requester.
func (s *STS) Grant(ctx context.Context, g grants.Grant) (grants.Issued, error) {
	role, in, err := assumeRoleInput(g)
	if err != nil {
		return grants.Issued{}, err
	}
	if err := s.checkRole(ctx, role, aws.ToInt32(in.DurationSeconds)); err != nil {
		return grants.Issued{}, err
	}
	name := aws.ToString(in.RoleSessionName)
	out, err := s.sts.AssumeRole(ctx, in)
	if err != nil {
		return grants.Issued{}, s.assumeError(ctx, g, err)
	}
	c := out.Credentials
	if c == nil {
		return grants.Issued{}, fmt.Errorf("assume role %s for %s: response has no credentials", g.Target, g.RequestID)
	}
	creds := &grants.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      aws.ToTime(c.Expiration),
	}
	reqID := requestID(out.ResultMetadata)
	s.log.InfoContext(ctx, "assumed role", "request_id", g.RequestID, "role_arn", g.Target, "session", name,
		"access_key_id", creds.AccessKeyID, "creds_expire", creds.Expiration, "aws_request_id", reqID)
	return grants.Issued{Credentials: creds, CredsExpire: creds.Expiration, AWSRequestID: reqID}, nil
}

// assumeRoleInput is the AssumeRole call that issues g, and the role it
// names. Grant sends it; DryRun shows it.
func assumeRoleInput(g grants.Grant) (roleARN, *sts.AssumeRoleInput, error) {
	role, err := parseRoleARN(g.Target)
	if err != nil {
		return roleARN{}, nil, err
	}
	secs, err := sessionSeconds(g.Start, g.Expires)
	if err != nil {
		return roleARN{}, nil, fmt.Errorf("grant %s: %w", g.RequestID, err)
	}
	policy, err := sessionPolicy(g)
	if err != nil {
		return roleARN{}, nil, err
	}
	name := sanitizeName(g.SessionName, maxSessionName)
	if name == "" && g.Workload != nil {
		name = WorkloadSessionName(g.Workload.IssuerName, g.Workload.Subject, g.RequestID)
	} else if name == "" {
		name = SessionName(g.RequesterEmail, g.RequestID)
	}
	approvers := strings.Join(g.Approvers, " ")
	if approvers == "" {
		approvers = "none"
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(g.Target),
		RoleSessionName: aws.String(name),
		DurationSeconds: aws.Int32(secs),
		Policy:          aws.String(policy),
		Tags: []ststypes.Tag{
			{Key: aws.String(tagRequest), Value: aws.String(tagValue(string(g.RequestID)))},
			{Key: aws.String(tagApprover), Value: aws.String(tagValue(approvers))},
		},
	}
	if g.AllowRoleChaining {
		// A transitive tag survives every AssumeRole down the chain and
		// cannot be overridden there, so a deny keyed on jit-request (the
		// revoke deny, or an SCP) reaches the chained sessions too.
		in.TransitiveTagKeys = []string{tagRequest}
	}
	in.Tags = append(in.Tags, workloadTags(g)...)
	if id := sourceIdentity(g); id != "" {
		in.SourceIdentity = aws.String(id)
	}
	return role, in, nil
}

// Revoke ends the access of g early. Issued STS credentials cannot be
// recalled, so it adds the request to the role's revoke deny, the inline
// policy jit-revoked that denies everything to sessions tagged with any of
// the requests it names; Cleanup takes the request out once the
// credentials have expired by themselves. At or after g.Expires the
// session policy has already ended the access, so there is nothing to do
// and no AWS call is made. A role that no longer exists counts as revoked:
// its sessions lost every permission with it.
func (s *STS) Revoke(ctx context.Context, g grants.Grant) (grants.Revocation, error) {
	d := denyOf(g, s.now())
	if d == nil {
		return grants.Revocation{}, nil
	}
	target, err := s.denyTarget(ctx, d.role)
	if err != nil {
		return grants.Revocation{}, fmt.Errorf("deny session of %s on role %s: %w", g.RequestID, d.role.arn, err)
	}
	r := s.edit(ctx, target, &change{id: d.id, hour: d.hour})
	if r.gone {
		s.log.InfoContext(ctx, "role is gone, so is the session", "request_id", g.RequestID, "role_arn", g.Target)
		return grants.Revocation{}, nil
	}
	if r.err != nil {
		return grants.Revocation{}, fmt.Errorf("deny session of %s on role %s: %w", g.RequestID, d.role.arn, r.err)
	}
	s.log.InfoContext(ctx, "denied session on role", "request_id", g.RequestID, "role_arn", g.Target,
		"policy", revokedPolicyName, "until", d.hour, "aws_request_id", r.reqID)
	return grants.Revocation{CleanupAt: d.cleanup, AWSRequestID: r.reqID}, nil
}

// revokeDeny is what an early revocation of a grant adds to its role's
// revoke deny.
type revokeDeny struct {
	role    roleARN
	id      string    // the jit-request tag value of the grant's sessions
	cleanup time.Time // when the credentials have expired, with a margin
	hour    time.Time // the statement it goes in: untilHour(cleanup)
}

// denyOf is what Revoke adds to end g early, or nil when nothing is
// needed: at or after g's expiry the session policy has already ended the
// access, and a target that is not a role ARN was never issued (Grant
// refuses it before calling AWS). Revoke makes it; DryRun shows it.
func denyOf(g grants.Grant, now time.Time) *revokeDeny {
	// A zero Expires means the grant was never recorded as issued (a failed
	// Grant whose AssumeRole may still have succeeded unseen), so the deny
	// is written to be safe until such a session would have ended
	// (credsEnd).
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return nil
	}
	if !g.CredsExpire.IsZero() && !now.Before(g.CredsExpire) {
		return nil
	}
	role, err := parseRoleARN(g.Target)
	if err != nil {
		return nil
	}
	end := credsEnd(g, now)
	if !now.Before(end) {
		// A failed grant's session, if its AssumeRole succeeded unseen,
		// has ended by itself: a member account jitbot can no longer
		// reach does not hold its revocation up for ever.
		return nil
	}
	cleanup := end.Add(cleanupMargin)
	return &revokeDeny{role: role, id: tagValue(string(g.RequestID)), cleanup: cleanup, hour: untilHour(cleanup)}
}

// Cleanup takes g's request out of the role's revoke deny, deleting the
// policy when it was the last, and deletes the policy of its own that a
// jitbot before jit-revoked wrote for an early revocation, if any. A
// policy or role that is already gone counts as cleaned up.
func (s *STS) Cleanup(ctx context.Context, g grants.Grant) error {
	role, err := parseRoleARN(g.Target)
	if err != nil {
		return nil // nothing was ever written on it
	}
	target, err := s.denyTarget(ctx, role)
	if err != nil {
		return fmt.Errorf("lift the deny of %s on role %s: %w", g.RequestID, role.arn, err)
	}
	if r := s.edit(ctx, target, &change{id: tagValue(string(g.RequestID))}); r.err != nil {
		return fmt.Errorf("lift the deny of %s on role %s: %w", g.RequestID, role.arn, r.err)
	}
	_, err = target.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role.name), PolicyName: aws.String(legacyPolicyName(g.RequestID))})
	var nse *iamtypes.NoSuchEntityException
	if err != nil && !errors.As(err, &nse) {
		return fmt.Errorf("delete the old deny policy of %s from role %s: %w", g.RequestID, role.arn, err)
	}
	return nil
}

// checkRole makes sure that jitbot reaches the role's account (or an
// early revocation could not write on it), and that the role exists there
// and allows sessions as long as the grant's, so the requester gets a
// clear reason instead of AWS's.
func (s *STS) checkRole(ctx context.Context, role roleARN, secs int32) error {
	client, err := s.accounts.iamFor(ctx, role)
	if err != nil {
		return err
	}
	out, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.name)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return fmt.Errorf("%w: IAM role %q does not exist", grants.ErrInvalidTarget, role.arn)
	}
	if err != nil {
		return fmt.Errorf("look up role %s: %w", role.name, err)
	}
	if out.Role.PermissionsBoundary == nil {
		// deploy/iam lets jitbot write its revoke deny only on roles
		// bounded by jit-boundary: this grant could not be ended early.
		s.log.WarnContext(ctx, "role has no permissions boundary; an early revocation will be refused by IAM", "role_arn", role.arn)
	}
	if got, err := parseRoleARN(aws.ToString(out.Role.Arn)); err == nil && got.account != role.account {
		// The revoke deny would be written on a namesake in the wrong
		// account and end nothing.
		return fmt.Errorf("%w: IAM role %q: jitbot's credentials for account %s reach account %s", grants.ErrInvalidTarget, role.arn, role.account, got.account)
	}
	if limit := aws.ToInt32(out.Role.MaxSessionDuration); limit > 0 && secs > limit {
		return fmt.Errorf("%w: IAM role %q allows sessions of at most %s (its MaxSessionDuration) but this grant needs %s",
			grants.ErrInvalidTarget, role.arn, time.Duration(limit)*time.Second, time.Duration(secs)*time.Second)
	}
	return nil
}

// assumeError tells the requester what is wrong with the role when
// retrying cannot help, and keeps AWS's own words for the log.
func (s *STS) assumeError(ctx context.Context, g grants.Grant, err error) error {
	var (
		api       smithy.APIError
		malformed *ststypes.MalformedPolicyDocumentException
		tooLarge  *ststypes.PackedPolicyTooLargeException
		msg       string
	)
	switch {
	case errors.As(err, &malformed):
		msg = fmt.Sprintf("STS rejected the session policy for %q: %s", g.Target, malformed.ErrorMessage())
	case errors.As(err, &tooLarge):
		msg = fmt.Sprintf("the session policy and tags for %q are too large for STS; shorten the role's session_policy", g.Target)
	case errors.As(err, &api) && api.ErrorCode() == "AccessDenied":
		msg = fmt.Sprintf("jitbot may not assume IAM role %q: its trust policy must allow jitbot sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity", g.Target)
	default:
		return fmt.Errorf("assume role %s for %s: %w", g.Target, g.RequestID, err)
	}
	s.log.WarnContext(ctx, "assume role refused", "request_id", g.RequestID, "role_arn", g.Target, "err", err)
	return fmt.Errorf("%w: %s", grants.ErrInvalidTarget, msg)
}

// sessionSeconds is the STS DurationSeconds for a grant: its length in whole
// seconds, clamped into STS's range of 900 to 43200 seconds. It rounds down
// because the grant's expiry is already rounded up to a whole second: a 1h
// grant starting at 10:00:00.3 expires at 10:00:01 + 1h, and asking for 3601 s
// would fail on every role whose MaxSessionDuration is exactly 1h. The
// credentials then end less than a second early; the session policy, not the
// duration, ends grants shorter than 900 s.
func sessionSeconds(start, expires time.Time) (int32, error) {
	d := expires.Sub(start)
	if d <= 0 {
		return 0, fmt.Errorf("expiry %s is not after start %s", expires.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
	secs := d / time.Second
	return int32(min(max(secs, minSessionSeconds), maxSessionSeconds)), nil
}

// credsEnd is when the credentials of g stop working by themselves: the
// recorded expiry, else what Grant asked STS for, else (the grant was never
// recorded as issued) the longest session STS issues, from the last moment
// it could have been issued if that is known, or from now.
func credsEnd(g grants.Grant, now time.Time) time.Time {
	if !g.CredsExpire.IsZero() {
		return g.CredsExpire
	}
	if secs, err := sessionSeconds(g.Start, g.Expires); err == nil && !g.Start.IsZero() {
		return g.Start.Add(time.Duration(secs) * time.Second)
	}
	longest := now
	if !g.IssuedBy.IsZero() && g.IssuedBy.Before(now) {
		longest = g.IssuedBy
	}
	return longest.Add(maxSessionSeconds * time.Second)
}

// legacyPolicyName is the policy that a jitbot before jit-revoked wrote
// for each early revocation.
func legacyPolicyName(id grants.RequestID) string {
	const prefix = "jit-revoke-"
	return prefix + sanitizeName(string(id), maxPolicyName-len(prefix))
}

type roleARN struct {
	arn, partition, account, name string
}

// parseRoleARN splits arn:PARTITION:iam::ACCOUNT:role/PATH/NAME. IAM APIs
// take the bare name, without the path.
func parseRoleARN(arn string) (roleARN, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[4] == "" || !strings.HasPrefix(parts[5], "role/") {
		return roleARN{}, fmt.Errorf("%w: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", grants.ErrInvalidTarget, arn)
	}
	name := parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	if name == "" {
		return roleARN{}, fmt.Errorf("%w: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", grants.ErrInvalidTarget, arn)
	}
	return roleARN{arn: arn, partition: parts[1], account: parts[4], name: name}, nil
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}
