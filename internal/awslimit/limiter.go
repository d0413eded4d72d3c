package awslimit

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/jitbot/jitbot/internal/wait"
)

// Observer hears what the limiter does, for the metrics. service is the
// SDK's service ID (IAM, SSO Admin), as in jitbot's other AWS metrics.
type Observer interface {
	// RateLimitWaited is called before every attempt with the time it
	// waited for its service's bucket, zero included.
	RateLimitWaited(service string, d time.Duration)
	// Throttled is called for every attempt AWS answered with a
	// throttling error.
	Throttled(service, operation string)
}

// Limiter holds a token bucket per limited service.
type Limiter struct {
	buckets map[string]*rate.Limiter // by ServiceKey
	limits  Limits
	obs     Observer

	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// New makes a limiter with limits; obs may be nil.
func New(limits Limits, obs Observer) *Limiter {
	l := &Limiter{buckets: map[string]*rate.Limiter{}, limits: limits, obs: obs, now: time.Now, sleep: wait.Sleep}
	for k, v := range limits {
		if v.Rate > 0 {
			l.buckets[k] = rate.NewLimiter(rate.Limit(v.Rate), max(v.Burst, 1))
		}
	}
	return l
}

// middlewareID names the limiter's middleware in the SDK's stacks.
const middlewareID = "jitbot/awslimit"

// Apply makes every client later built from cfg wait on the limiter
// before each attempt and retry throttles with NewRetryer. The wait sits
// in the Finalize step right after the SDK's Retry middleware, so each
// retry takes a token too (a retry is a request to AWS like any other),
// and before signing, so a long wait does not age the signature.
func (l *Limiter) Apply(cfg *aws.Config) {
	cfg.Retryer = NewRetryer
	mw := middleware.FinalizeMiddlewareFunc(middlewareID, l.handle)
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		if _, ok := s.Finalize.Get(middlewareID); ok {
			return nil
		}
		if _, ok := s.Finalize.Get((&retry.Attempt{}).ID()); !ok {
			// A stack without retries (a presigner's) sends nothing.
			return nil
		}
		return s.Finalize.Insert(mw, (&retry.Attempt{}).ID(), middleware.After)
	})
}

// isThrottle is the SDK's own test of a throttling error, the one its
// retryer backs off on: Throttling, ThrottlingException,
// RequestLimitExceeded, TooManyRequestsException, SlowDown, an
// unmodelled HTTP 429 and the like.
var isThrottle = retry.IsErrorThrottles(retry.DefaultThrottles)

func (l *Limiter) handle(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	service, op := names(ctx)
	waited, err := l.Wait(ctx, ServiceKey(service))
	if l.obs != nil {
		l.obs.RateLimitWaited(service, waited)
	}
	if err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	out, md, err := next.HandleFinalize(ctx, in)
	if err != nil && l.obs != nil && isThrottle.IsErrorThrottle(err) == aws.TrueTernary {
		l.obs.Throttled(service, op)
	}
	return out, md, err
}

// names returns the service ID and operation of the call running in ctx;
// see metrics.awsNames for why smithy's copy is the fallback.
func names(ctx context.Context) (service, operation string) {
	return cmp.Or(awsmiddleware.GetServiceID(ctx), middleware.GetServiceID(ctx)),
		cmp.Or(awsmiddleware.GetOperationName(ctx), middleware.GetOperationName(ctx))
}

// HeldError is the error of a call jitbot's own limit did not let start:
// its turn would have come after its deadline. AWS never saw it.
type HeldError struct {
	Service string
	Rate    float64       // the service's limit, calls a second
	Wait    time.Duration // how long the call would have waited
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("jitbot's %s rate limit (%g requests/s, JIT_AWS_RATE_LIMITS) would hold this call %v, past its deadline", e.Service, e.Rate, e.Wait)
}

// NotStarted reports that the call was never made, so that a caller may
// simply try again later: nothing at AWS needs undoing.
func (e *HeldError) NotStarted() bool { return true }

// Wait takes a token from service's bucket (a ServiceKey), waiting for
// one as long as it takes, and says how long it waited. A service without
// a limit does not wait. When the wait would run past ctx's deadline it
// does not start: the call fails at once, its token given back, as the
// SDK fails a call that runs out of time, and the caller's own retry
// (the scheduler's, for a revocation) tries again later.
func (l *Limiter) Wait(ctx context.Context, service string) (time.Duration, error) {
	b := l.buckets[service]
	if b == nil {
		return 0, nil
	}
	now := l.now()
	r := b.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d == 0 {
		return 0, nil
	}
	if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
		r.CancelAt(now)
		return 0, &HeldError{Service: service, Rate: l.limits[service].Rate, Wait: d.Round(time.Millisecond)}
	}
	if err := l.sleep(ctx, d); err != nil {
		r.CancelAt(l.now())
		return l.now().Sub(now), err
	}
	return d, nil
}
