package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/jitbot/jitbot/internal/awslimit"
	"github.com/jitbot/jitbot/internal/cloudtrail/cloudtrailfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// Real SDK clients against moto: the middleware sees each operation once,
// under the client's service ID and the operation's name, with AWS's own
// error code as the result.
func TestAWSCallsAgainstMoto(t *testing.T) {
	moto := testenv.StartMoto(t)
	m := New()
	cfg := testenv.AWSConfig(t, moto.URL())
	m.InstrumentAWS(&cfg)
	m.InstrumentAWS(&cfg) // a second call must not count twice
	ctx := t.Context()
	client := iam.NewFromConfig(cfg)

	if _, err := client.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("jit-admins")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("jit-admins"), UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	_, err := client.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("jit-admins"), UserName: aws.String("carol")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("RemoveUserFromGroup of a missing user: %v, want NoSuchEntity", err)
	}
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		service, op, result string
	}{
		{"IAM", "CreateUser", "ok"},
		{"IAM", "AddUserToGroup", "ok"},
		{"IAM", "RemoveUserFromGroup", "NoSuchEntity"},
		{"STS", "GetCallerIdentity", "ok"},
	} {
		labels := map[string]string{"service": tt.service, "operation": tt.op, "result": tt.result}
		if got := value(t, m, "jitbot_aws_api_calls_total", labels); got != 1 {
			t.Errorf("jitbot_aws_api_calls_total%v = %v, want 1", labels, got)
		}
		if s, _ := find(t, m, "jitbot_aws_api_duration_seconds", map[string]string{"service": tt.service, "operation": tt.op}); s.count != 1 || s.sum <= 0 {
			t.Errorf("jitbot_aws_api_duration_seconds{%s %s}: count %d sum %v, want one positive observation", tt.service, tt.op, s.count, s.sum)
		}
	}
}

// A service whose client registers its names only inside the stack
// (CloudTrail, an older generated client) is named all the same.
func TestAWSOlderClientIsNamed(t *testing.T) {
	ct := cloudtrailfake.Start(t)
	m := New()
	cfg := testenv.AWSConfig(t, ct.URL())
	m.InstrumentAWS(&cfg)
	if _, err := cloudtrail.NewFromConfig(cfg).LookupEvents(t.Context(), &cloudtrail.LookupEventsInput{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"service": "CloudTrail", "operation": "LookupEvents", "result": "ok"}
	if got := value(t, m, "jitbot_aws_api_calls_total", labels); got != 1 {
		t.Errorf("jitbot_aws_api_calls_total%v = %v, want 1", labels, got)
	}
}

// No answer: every attempt the SDK makes is one operation, network_error;
// a call given up by jitbot is cancelled.
func TestAWSNetworkErrorIsOneOperation(t *testing.T) {
	m := New()
	cfg := testenv.AWSConfig(t, fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
	m.InstrumentAWS(&cfg)
	client := iam.NewFromConfig(cfg)
	retries := 0
	_, err := client.GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String("alice")}, func(o *iam.Options) {
		o.Retryer = countAttempts{Retryer: o.Retryer, n: &retries}
	})
	if err == nil {
		t.Fatal("GetUser succeeded with nothing listening")
	}
	if retries < 1 {
		t.Errorf("the SDK retried %d times; the test needs retries to prove they are one operation", retries)
	}
	if got := value(t, m, "jitbot_aws_api_calls_total", map[string]string{"operation": "GetUser", "result": "network_error"}); got != 1 {
		t.Errorf("network_error = %v after %d retries, want 1 operation", got, retries)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")}); err == nil {
		t.Fatal("a cancelled GetUser succeeded")
	}
	if got := value(t, m, "jitbot_aws_api_calls_total", map[string]string{"operation": "GetUser", "result": "cancelled"}); got != 1 {
		t.Errorf("cancelled = %v, want 1", got)
	}
}

// countAttempts counts the retries the SDK asks its retryer for.
type countAttempts struct {
	aws.Retryer
	n *int
}

func (c countAttempts) RetryDelay(attempt int, err error) (time.Duration, error) {
	*c.n++
	return c.Retryer.RetryDelay(attempt, err)
}

// Credentials that cannot be had: the operation never reaches AWS. An
// error code from the credentials' own AWS call (an expired web identity
// token under IRSA) is still the result; anything else is client_error.
func TestAWSCredentialFailures(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{name: "expired web identity token", want: "ExpiredTokenException", err: &smithy.OperationError{
			ServiceID: "STS", OperationName: "AssumeRoleWithWebIdentity", Err: &smithy.GenericAPIError{Code: "ExpiredTokenException"}}},
		{name: "no credentials at all", want: "client_error", err: errors.New("no EC2 IMDS role found")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			// Nothing listens there: a call that got past the credentials
			// would be a network_error.
			cfg := testenv.StaticAWSConfig(fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
			cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return aws.Credentials{}, tt.err })
			m.InstrumentAWS(&cfg)
			if _, err := iam.NewFromConfig(cfg).GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String("alice")}); err == nil {
				t.Fatal("GetUser succeeded without credentials")
			}
			if got := value(t, m, "jitbot_aws_api_calls_total", map[string]string{"operation": "GetUser", "result": tt.want}); got != 1 {
				t.Errorf("result %s = %v, want 1", tt.want, got)
			}
		})
	}
}

func TestAWSResultOfOtherErrors(t *testing.T) {
	if got := awsResult(errors.New("failed to retrieve credentials")); got != "client_error" {
		t.Errorf("an error before any request = %q, want client_error", got)
	}
	if got := awsResult(fmt.Errorf("call: %w", context.DeadlineExceeded)); got != "network_error" {
		t.Errorf("a timeout = %q, want network_error", got)
	}
}

var _ awslimit.Observer = (*Metrics)(nil)

// Throttles and the limiter's waits are counted by service (and
// operation), under the SDK's service IDs as the other AWS metrics:
// through moto behind a proxy that throttles IAM after a burst of 2, with
// jitbot's limit far above it, 6 calls are throttled at least once each
// and all succeed.
func TestAWSThrottlesAndLimiterWaits(t *testing.T) {
	moto := testenv.StartMoto(t)
	proxy := testenv.StartProxy(t, moto.URL())
	m := New()
	cfg := testenv.AWSConfig(t, proxy.URL())
	m.InstrumentAWS(&cfg)
	awslimit.New(awslimit.Limits{"iam": {Rate: 1000, Burst: 1000}}, m).Apply(&cfg)
	client := iam.NewFromConfig(cfg)
	proxy.Throttle("iam", 2, 2)
	for i := range 8 {
		if _, err := client.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(fmt.Sprint("u", i))}); err != nil {
			t.Fatalf("CreateUser %d: %v", i, err)
		}
	}
	throttled := proxy.Throttled("CreateUser")
	if throttled == 0 {
		t.Fatal("the proxy throttled no call; the test shows nothing")
	}
	labels := map[string]string{"service": "IAM", "operation": "CreateUser"}
	if got := value(t, m, "jitbot_aws_throttled_total", labels); got != float64(throttled) {
		t.Errorf("jitbot_aws_throttled_total%v = %v; want the proxy's %d", labels, got, throttled)
	}
	if got := value(t, m, "jitbot_aws_api_calls_total", map[string]string{"service": "IAM", "operation": "CreateUser", "result": "ok"}); got != 8 {
		t.Errorf("jitbot_aws_api_calls_total{IAM CreateUser ok} = %v; want all 8, retried past their throttles", got)
	}
	if s, _ := find(t, m, "jitbot_aws_rate_limit_wait_seconds", map[string]string{"service": "IAM"}); s.count != uint64(proxy.Count("CreateUser")) {
		t.Errorf("jitbot_aws_rate_limit_wait_seconds{IAM} has %d observations; want one per attempt, %d", s.count, proxy.Count("CreateUser"))
	}
}
