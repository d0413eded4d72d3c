package awsgrant

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/grants"
)

// DryRun is the backend of a pilot (JIT_DRY_RUN): for each grant it works
// out the AWS calls that the aws_sts or aws_iam_group backend would make,
// with the same functions that build them there, logs them and returns
// them in Issued.DryRun and Revocation.DryRun, and calls nothing. It needs
// no AWS credentials and issues none. Grants that the real backends refuse
// before calling AWS (a target that is not a role ARN, a session policy
// too large) it refuses the same way; what only AWS can tell (a missing
// role, user or group) it cannot.
type DryRun struct {
	log *slog.Logger
	now func() time.Time
}

var _ grants.Backend = (*DryRun)(nil)

// NewDryRun returns the dry-run backend.
func NewDryRun(log *slog.Logger) *DryRun {
	return &DryRun{log: log, now: time.Now}
}

// Grant returns the calls that would issue g, and for aws_sts the time the
// credentials would expire; it returns no credentials.
func (d *DryRun) Grant(ctx context.Context, g grants.Grant) (grants.Issued, error) {
	switch g.Backend {
	case grants.BackendSTS:
		role, in, err := assumeRoleInput(g)
		if err != nil {
			return grants.Issued{}, err
		}
		secs := aws.ToInt32(in.DurationSeconds)
		calls := []string{
			fmt.Sprintf("iam:GetRole RoleName=%s (checks that the role exists and allows %d s sessions; in another account of the organisation as its jitbot-member)", role.name, secs),
			describeAssumeRole(in, g.SessionPolicy != ""),
		}
		d.record(ctx, g, calls, "role_arn", g.Target, "session", aws.ToString(in.RoleSessionName),
			"duration_seconds", secs, "source_identity", aws.ToString(in.SourceIdentity), "policy", aws.ToString(in.Policy))
		return grants.Issued{CredsExpire: g.Start.Add(time.Duration(secs) * time.Second), DryRun: calls}, nil
	case grants.BackendGroup:
		in, err := addInput(g)
		if err != nil {
			return grants.Issued{}, err
		}
		calls := []string{fmt.Sprintf("iam:AddUserToGroup GroupName=%s UserName=%s", aws.ToString(in.GroupName), aws.ToString(in.UserName))}
		d.record(ctx, g, calls, "group", g.Target, "user", g.Principal)
		return grants.Issued{DryRun: calls}, nil
	case grants.BackendSSO, grants.BackendSSOGroup:
		calls, err := ssoDryCalls(g, true)
		if err != nil {
			return grants.Issued{}, err
		}
		d.record(ctx, g, calls, "target", g.Target, "user", g.Principal)
		return grants.Issued{DryRun: calls}, nil
	}
	return grants.Issued{}, fmt.Errorf("dry run of %s: unknown backend %q", g.RequestID, g.Backend)
}

// Revoke returns the calls that would end g. For aws_sts at or after its
// expiry there are none, as for the real backend: the session policy has
// ended the access.
func (d *DryRun) Revoke(ctx context.Context, g grants.Grant) (grants.Revocation, error) {
	var (
		calls   []string
		cleanup time.Time
	)
	switch g.Backend {
	case grants.BackendSTS:
		rd := denyOf(g, d.now())
		if rd == nil {
			calls = []string{"no AWS call: the session policy ended the access at " + g.Expires.UTC().Format(time.RFC3339)}
			break
		}
		calls = []string{
			fmt.Sprintf("iam:GetRolePolicy RoleName=%s PolicyName=%s (reads the role's revoke deny)", rd.role.name, revokedPolicyName),
			fmt.Sprintf("iam:PutRolePolicy RoleName=%s PolicyName=%s (adds %s=%s to the sessions it denies everything, in statement %s%s)",
				rd.role.name, revokedPolicyName, tagRequest, rd.id, sidPrefix, rd.hour.UTC().Format(hourLayout)),
		}
		cleanup = rd.cleanup
	case grants.BackendGroup:
		in := removeInput(g)
		if in == nil {
			break
		}
		calls = []string{fmt.Sprintf("iam:RemoveUserFromGroup GroupName=%s UserName=%s", aws.ToString(in.GroupName), aws.ToString(in.UserName))}
	case grants.BackendSSO, grants.BackendSSOGroup:
		var err error
		if calls, err = ssoDryCalls(g, false); err != nil {
			return grants.Revocation{}, err
		}
	default:
		return grants.Revocation{}, fmt.Errorf("dry run of %s: unknown backend %q", g.RequestID, g.Backend)
	}
	d.record(ctx, g, calls)
	return grants.Revocation{CleanupAt: cleanup, DryRun: calls}, nil
}

// Cleanup logs the calls that would lift an early revocation's deny.
func (d *DryRun) Cleanup(ctx context.Context, g grants.Grant) error {
	if g.Backend != grants.BackendSTS {
		return nil
	}
	role, err := parseRoleARN(g.Target)
	if err != nil {
		return nil
	}
	d.record(ctx, g, []string{
		fmt.Sprintf("iam:GetRolePolicy RoleName=%s PolicyName=%s (reads the role's revoke deny)", role.name, revokedPolicyName),
		fmt.Sprintf("iam:PutRolePolicy RoleName=%s PolicyName=%s (takes %s=%s out; iam:DeleteRolePolicy instead when it was the last)",
			role.name, revokedPolicyName, tagRequest, tagValue(string(g.RequestID))),
		fmt.Sprintf("iam:DeleteRolePolicy RoleName=%s PolicyName=%s (the deny of a revocation made before %s, if any)",
			role.name, legacyPolicyName(g.RequestID), revokedPolicyName),
	})
	return nil
}

// record logs each call that was not made.
func (d *DryRun) record(ctx context.Context, g grants.Grant, calls []string, attrs ...any) {
	for _, c := range calls {
		d.log.InfoContext(ctx, "DRY RUN: AWS not called", append([]any{"request_id", g.RequestID, "would_call", c}, attrs...)...)
	}
}

// describeAssumeRole writes an AssumeRole call on one line: every
// parameter as sent, except the session policy, of which it gives what it
// does and when it ends the access.
func describeAssumeRole(in *sts.AssumeRoleInput, narrowed bool) string {
	var tags []string
	for _, t := range in.Tags {
		tags = append(tags, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	s := fmt.Sprintf("sts:AssumeRole RoleArn=%s RoleSessionName=%s DurationSeconds=%d",
		aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName), aws.ToInt32(in.DurationSeconds))
	if in.SourceIdentity != nil {
		s += " SourceIdentity=" + aws.ToString(in.SourceIdentity)
	}
	s += " Tags=" + strings.Join(tags, ",")
	escapes := "role chaining and long-lived credentials"
	if len(in.TransitiveTagKeys) > 0 {
		s += " TransitiveTagKeys=" + strings.Join(in.TransitiveTagKeys, ",")
		escapes = "long-lived credentials"
	}
	allows := "allows what the role allows"
	if narrowed {
		allows = "allows what the role's session_policy allows"
	}
	return s + " Policy=(" + allows + ", denies " + escapes + ", and denies everything after " + policyEnd(aws.ToString(in.Policy)) + ")"
}

// policyEnd reads the time after which a session policy denies everything,
// from its last statement, where sessionPolicy puts it.
func policyEnd(policy string) string {
	var doc struct{ Statement []json.RawMessage }
	if json.Unmarshal([]byte(policy), &doc) != nil || len(doc.Statement) == 0 {
		return "an unknown time"
	}
	var last statement
	if json.Unmarshal(doc.Statement[len(doc.Statement)-1], &last) != nil {
		return "an unknown time"
	}
	if t := last.Condition["DateGreaterThan"]["aws:CurrentTime"]; t != "" {
		return t
	}
	return "an unknown time"
}

// ssoDryCalls are the Identity Center calls that would add (or remove) g.
func ssoDryCalls(g grants.Grant, add bool) ([]string, error) {
	user := fmt.Sprintf("identitystore:GetUserId UserName=%s", g.Principal)
	if g.Backend == grants.BackendSSOGroup {
		if add {
			return []string{user, "identitystore:GetGroupId DisplayName=" + g.Target, "identitystore:CreateGroupMembership (the user in the group)"}, nil
		}
		return []string{user, "identitystore:GetGroupId DisplayName=" + g.Target, "identitystore:GetGroupMembershipId, then DeleteGroupMembership"}, nil
	}
	account, ps, err := grants.ParseSSOTarget(g.Target)
	if err != nil {
		return nil, err
	}
	if add {
		return []string{user, fmt.Sprintf("sso:CreateAccountAssignment TargetId=%s PermissionSet=%s PrincipalType=USER, then DescribeAccountAssignmentCreationStatus until it succeeds", account, ps)}, nil
	}
	return []string{user, fmt.Sprintf("sso:DeleteAccountAssignment TargetId=%s PermissionSet=%s PrincipalType=USER, then DescribeAccountAssignmentDeletionStatus until it succeeds", account, ps)}, nil
}
