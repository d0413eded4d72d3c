package grants

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// ErrInvalidTarget marks a backend failure that retrying cannot fix: the IAM
// user, group or role named by the request does not exist. Backends wrap it
// with a message fit for the requester.
var ErrInvalidTarget = errors.New("invalid target")

// Grant is what a backend needs to issue or remove one grant.
type Grant struct {
	RequestID      RequestID
	Backend        string // BackendSTS or BackendGroup
	Target         string // role ARN or IAM group
	Principal      string // IAM user (aws_iam_group)
	RequesterEmail string
	SessionName    string
	SessionPolicy  string
	Approvers      []string // Slack IDs of who approved; "auto" for break-glass
	Start          time.Time
	Expires        time.Time
	// CredsExpire is when issued STS credentials stop working by
	// themselves (zero for IAM groups).
	CredsExpire time.Time
	// IssuedBy is the latest moment a grant never recorded as issued (a
	// failed grant, whose AWS call may have succeeded unseen) could have
	// been: its decision plus the time a granting record may still be
	// issued. Zero when unknown. Whatever it issued has ended by IssuedBy
	// plus the longest session.
	IssuedBy time.Time
	// AllowRoleChaining lets an STS session assume further roles.
	AllowRoleChaining bool
	// Workload is the CI job or agent the grant is for, nil for a person.
	// The backend binds the credentials to it (aws_sts: SourceIdentity
	// and session tags), so CloudTrail names the job as it names a
	// person by email.
	Workload *rules.Workload
}

// Credentials are STS session credentials. They travel once, from the
// backend to the requester's DM, and are never stored or logged. The
// secret fields never serialise: JSON leaves them out, and fmt and slog
// print "[redacted]" for the whole value, so an Event or Issued that
// carries them can be marshalled or logged by mistake without harm.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string `json:"-"`
	SessionToken    string `json:"-"`
	Expiration      time.Time
}

const redacted = "[redacted]"

// LogValue keeps credentials out of logs whatever logs them.
func (Credentials) LogValue() slog.Value { return slog.StringValue(redacted) }

// String keeps credentials out of fmt output.
func (Credentials) String() string { return redacted }

// GoString keeps credentials out of %#v.
func (Credentials) GoString() string { return redacted }

// Format keeps credentials out of every fmt verb, %d and %x included,
// which would otherwise print the fields one by one.
func (Credentials) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// Issued is the outcome of a successful Grant.
type Issued struct {
	// Credentials is nil for backends that change membership rather than
	// hand out keys.
	Credentials *Credentials
	// CredsExpire is when the credentials stop working by themselves.
	CredsExpire time.Time
	// AWSRequestID identifies the AWS call in CloudTrail.
	AWSRequestID string
	// DryRun, from a dry-run backend only, lists the AWS calls it would
	// have made, one line each.
	DryRun []string
}

// Revocation is the outcome of a successful Revoke.
type Revocation struct {
	// CleanupAt, when set, is the time after which Cleanup must be called
	// to remove what Revoke left behind (an STS deny statement is needed
	// only until the session's own credentials expire).
	CleanupAt    time.Time
	AWSRequestID string
	// DryRun, from a dry-run backend only, lists the AWS calls it would
	// have made, one line each.
	DryRun []string
}

// Backend issues and removes access in AWS.
type Backend interface {
	// Grant issues access for g. Calling it again for the same grant must
	// not widen access (adding a member twice is one membership).
	Grant(ctx context.Context, g Grant) (Issued, error)
	// Revoke makes sure the access of g is gone. It must succeed if the
	// access is already gone, so it can be retried after a crash.
	Revoke(ctx context.Context, g Grant) (Revocation, error)
	// Cleanup removes what Revoke left behind once it is no longer needed.
	// It must succeed if there is nothing to remove.
	Cleanup(ctx context.Context, g Grant) error
}
