package metrics

import (
	"cmp"
	"context"
	"errors"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// awsMiddlewareID names the middleware in the SDK's stacks.
const awsMiddlewareID = "jitbot/metrics"

// InstrumentAWS makes every client later built from cfg count and time its
// operations. It adds a middleware through cfg.APIOptions, the SDK's hook
// for this, at the start of the Initialize step: one count per operation,
// the SDK's retries and their backoff inside it, so the result is what
// jitbot saw. Calling it twice on one config is harmless.
func (m *Metrics) InstrumentAWS(cfg *aws.Config) {
	mw := middleware.InitializeMiddlewareFunc(awsMiddlewareID, m.handleAWS)
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		if _, ok := s.Initialize.Get(awsMiddlewareID); ok {
			return nil
		}
		return s.Initialize.Add(mw, middleware.Before)
	})
}

func (m *Metrics) handleAWS(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	start := time.Now()
	out, md, err := next.HandleInitialize(ctx, in)
	service, op := awsNames(ctx)
	m.awsDuration.WithLabelValues(service, op).Observe(time.Since(start).Seconds())
	m.awsCalls.WithLabelValues(service, op, awsResult(err)).Inc()
	return out, md, err
}

// awsNames returns the service ID (IAM, STS) and operation name
// (AddUserToGroup) of the operation running in ctx. Newer clients put them
// in the context before the stack runs; older ones (CloudTrail here) only
// through a RegisterServiceMetadata middleware further down the Initialize
// step, which this one precedes, so smithy's own copy of the names, set by
// every client, fills the gap.
func awsNames(ctx context.Context) (service, operation string) {
	return cmp.Or(awsmiddleware.GetServiceID(ctx), middleware.GetServiceID(ctx)),
		cmp.Or(awsmiddleware.GetOperationName(ctx), middleware.GetOperationName(ctx))
}

// awsResult classifies an operation's outcome: "ok"; AWS's error code when
// AWS answered with one (also when it is wrapped, as in a credentials
// provider's own STS call); "network_error" when no answer came back;
// "cancelled" when jitbot gave up (shutdown); "client_error" for the rest,
// failures before any request was sent (no credentials, bad input).
func awsResult(err error) string {
	var apiErr smithy.APIError
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &apiErr) && apiErr.ErrorCode() != "":
		return apiErr.ErrorCode()
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &sendErr), errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return "network_error"
	}
	return "client_error"
}

// Throttled counts an attempt AWS throttled; see awslimit.Observer.
func (m *Metrics) Throttled(service, operation string) {
	m.awsThrottled.WithLabelValues(service, operation).Inc()
}

// RateLimitWaited records the time an attempt waited for jitbot's own
// rate limit of its service; see awslimit.Observer.
func (m *Metrics) RateLimitWaited(service string, d time.Duration) {
	m.awsLimitWait.WithLabelValues(service).Observe(d.Seconds())
}
