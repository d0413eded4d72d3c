package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// AWS is what doctor reads of IAM and STS.
type AWS interface {
	// CallerARN is the ARN of jitbot's own credentials, as STS
	// GetCallerIdentity names them (an assumed-role session, a user).
	CallerARN(ctx context.Context) (string, error)
	// Role reads the IAM role arn; an error wrapping ErrNotFound when it
	// does not exist.
	Role(ctx context.Context, arn string) (Role, error)
	// GroupPolicies lists the managed policies attached to an IAM group
	// (ARNs) and its inline policies (names).
	GroupPolicies(ctx context.Context, group string) (attached, inline []string, err error)
	// PermissionSetPolicies lists what an Identity Center permission set
	// (name or ARN) gives: its policies, one description each.
	PermissionSetPolicies(ctx context.Context, permissionSet string) ([]string, error)
}

// Role is what doctor checks of an IAM role.
type Role struct {
	TrustPolicy string // the assume-role policy document
	MaxSession  time.Duration
	Boundary    string // the permissions boundary's ARN; "" when none
}

// ErrNotFound marks an AWS entity that does not exist.
var ErrNotFound = errors.New("does not exist")

// BoundaryName is the permissions boundary every aws_sts role must carry
// (deploy/iam/boundary-policy.json): jitbot's policy writes its revoke
// deny only on roles bounded by it.
const BoundaryName = "jit-boundary"

// maxSTSSession is the longest session AWS allows a role, and
// chainedSession the longest when the caller is itself a role session.
const (
	maxSTSSession  = 12 * time.Hour
	chainedSession = time.Hour
)

func roleSubject(name string) string { return "role " + name }

func (c *Checker) checkRoles(ctx context.Context) []Finding {
	if c.Catalog == nil {
		return nil
	}
	var fs []Finding
	st := &roleState{c: c}
	for _, name := range c.Catalog.Names() {
		role, _ := c.Catalog.Role(name)
		switch role.Backend {
		case grants.BackendSTS:
			fs = append(fs, st.checkSTS(ctx, role)...)
		case grants.BackendGroup:
			fs = append(fs, st.checkGroup(ctx, role)...)
		case grants.BackendSSO, grants.BackendSSOGroup:
			fs = append(fs, st.checkIdentityCenter(ctx, role)...)
		default:
			fs = append(fs, Finding{Status: Warn, Subject: roleSubject(name), Finding: "backend " + role.Backend + " is not checked by doctor"})
		}
	}
	return fs
}

// roleState is what the role checks read once for all roles: jitbot's
// principal and the live grants.
type roleState struct {
	c *Checker

	callerDone bool
	caller     string
	callerErr  error

	holdsDone bool
	holds     map[grants.Hold]bool
	holdsErr  error
}

func (st *roleState) callerARN(ctx context.Context) (string, error) {
	if !st.callerDone {
		st.callerDone = true
		if st.c.AWS == nil {
			st.callerErr = errors.New("no AWS configuration")
		} else {
			st.caller, st.callerErr = st.c.AWS.CallerARN(ctx)
		}
	}
	return st.caller, st.callerErr
}

// live returns the holds of the grants that are live now (granting,
// active or revoking), read once. A record that fails its MAC is no
// grant: a Redis writer could otherwise cover a standing member with a
// forged one.
func (st *roleState) live(ctx context.Context) (map[grants.Hold]bool, error) {
	if st.holdsDone {
		return st.holds, st.holdsErr
	}
	st.holdsDone = true
	if st.c.Records == nil {
		st.holdsErr = errors.New("REDIS_URL is not set, so no grant is known")
		return nil, st.holdsErr
	}
	recs, err := st.c.Records.Open(ctx)
	if err != nil {
		st.holdsErr = fmt.Errorf("read the open records: %w", err)
		return nil, st.holdsErr
	}
	st.holds = map[grants.Hold]bool{}
	for _, r := range recs {
		if r.Tampered {
			continue
		}
		if h, ok := grants.HoldOf(r); ok {
			st.holds[h] = true
		}
	}
	return st.holds, nil
}

// checkSTS checks an aws_sts role: it exists, only jitbot may assume it
// and only with a source identity, its sessions may last the role's
// max_duration, and jit-boundary bounds it.
func (st *roleState) checkSTS(ctx context.Context, role *rules.Role) []Finding {
	subject := roleSubject(role.Name)
	if st.c.AWS == nil {
		return []Finding{errorFinding(subject, "IAM role "+role.RoleARN, errors.New("no AWS configuration"), "")}
	}
	r, err := st.c.AWS.Role(ctx, role.RoleARN)
	if errors.Is(err, ErrNotFound) {
		return []Finding{{Status: Wrong, Subject: subject, Finding: "IAM role " + role.RoleARN + " does not exist: every grant fails",
			Fix: "create the role (deploy/iam/terraform) or correct role_arn in the catalog"}}
	}
	if err != nil {
		return []Finding{errorFinding(subject, "IAM role "+role.RoleARN, err, "check the AWS credentials and permissions doctor runs with (README, Posture check)")}
	}
	fs := st.trustFindings(ctx, subject, r.TrustPolicy)
	fs = append(fs, sessionFinding(subject, role.MaxDuration, r.MaxSession))
	if caller, err := st.callerARN(ctx); err == nil && strings.Contains(caller, ":assumed-role/") && role.MaxDuration > chainedSession {
		fs = append(fs, Finding{Status: Wrong, Subject: subject,
			Finding: fmt.Sprintf("jitbot runs on a role session (%s), so AWS treats its AssumeRole as role chaining and caps sessions at 1h: grants longer than 1h of max_duration %s fail", caller, role.MaxDuration),
			Fix:     "run jitbot with credentials that are not a role session, or lower max_duration to 1h"})
	}
	switch {
	case r.Boundary == "":
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: "no permissions boundary: jitbot cannot end a grant early, and nothing caps the role",
			Fix: "attach the policy " + BoundaryName + " (deploy/iam/boundary-policy.json) as the role's permissions boundary"})
	case !strings.HasSuffix(r.Boundary, ":policy/"+BoundaryName):
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: "permissions boundary is " + r.Boundary + ", not " + BoundaryName + ": jitbot's policy refuses to write its revoke deny on the role",
			Fix: "make " + BoundaryName + " the role's permissions boundary"})
	default:
		fs = append(fs, Finding{Status: OK, Subject: subject, Finding: "permissions boundary " + r.Boundary})
	}
	return fs
}

func (st *roleState) trustFindings(ctx context.Context, subject, doc string) []Finding {
	caller, err := st.callerARN(ctx)
	self := PrincipalARN(caller)
	if err != nil {
		return []Finding{errorFinding(subject, "the trust policy (jitbot's own principal)", err, "check the AWS credentials doctor runs with")}
	}
	t, err := readTrust(doc, self)
	if err != nil {
		return []Finding{errorFinding(subject, "the trust policy", err, "")}
	}
	var fs []Finding
	for _, o := range t.others {
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: "standing path: the trust policy also lets " + o + " assume the role",
			Fix: "remove that principal so that only " + self + " is trusted (deploy/iam/trust-policy.json)"})
	}
	switch {
	case !t.jitbot:
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: "the trust policy does not let jitbot (" + self + ") assume the role: every grant fails",
			Fix: "trust " + self + " as deploy/iam/trust-policy.json does"})
	case !t.tagSession || !t.setSourceIdentity:
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: "the trust policy does not allow jitbot sts:TagSession and sts:SetSourceIdentity: every grant fails",
			Fix: "allow sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity to " + self + " (deploy/iam/trust-policy.json)"})
	case !t.requireSourceIdentity:
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: "the trust policy lets jitbot's credentials assume the role without a source identity: a session nobody requested would name nobody",
			Fix: "add the condition Null sts:SourceIdentity false (deploy/iam/trust-policy.json)"})
	case len(t.others) == 0:
		fs = append(fs, Finding{Status: OK, Subject: subject, Finding: "trusted by jitbot alone, with a source identity"})
	}
	return fs
}

func sessionFinding(subject string, want, have time.Duration) Finding {
	if want > maxSTSSession {
		return Finding{Status: Wrong, Subject: subject, Finding: fmt.Sprintf("max_duration %s is longer than any AWS role session (12h): longer grants fail", want),
			Fix: "lower max_duration to 12h in the catalog"}
	}
	if have < want {
		return Finding{Status: Wrong, Subject: subject, Finding: fmt.Sprintf("MaxSessionDuration %s is shorter than max_duration %s: grants longer than %s fail", have, want, have),
			Fix: fmt.Sprintf("raise the role's MaxSessionDuration to %d seconds (aws iam update-role --max-session-duration %d)", int(want.Seconds()), int(want.Seconds()))}
	}
	return Finding{Status: OK, Subject: subject, Finding: fmt.Sprintf("MaxSessionDuration %s covers max_duration %s", have, want)}
}
