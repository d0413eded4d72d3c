package awslimit

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retry settings of NewRetryer.
const (
	// MaxAttempts is how many times one call is tried. The SDK's 3 give a
	// throttled call under a burst two more tries within about 3 s, which
	// a burst of revocations outlasts. With 8, backoff grows 1, 2, 4 s
	// and then MaxBackoff, jittered: up to about half a minute, which is
	// more than the call's deadline (half of JIT_LEASE, 15 s by default)
	// so the deadline, not the count, is what ends a long throttle.
	MaxAttempts = 8
	// MaxBackoff caps one wait between attempts. The SDK's 20 s is longer
	// than most calls' deadline; IAM's throttling clears within seconds.
	MaxBackoff = 5 * time.Second
)

// NewRetryer is the SDK's standard retryer (exponential backoff with full
// jitter; throttles back off from 1 s, other errors from 50 ms) with more
// attempts, shorter waits, and retries of throttles taken out of the
// retry quota. The quota (a bucket of 500 tokens per client, 5 per
// throttled retry, earned back one per first-try success) stops a client
// from multiplying its load on a failing service; under a burst of
// throttles it empties and the SDK then fails each throttled call at once
// with "retry quota exceeded". jitbot's Limiter already holds every
// attempt, retries included, to the service's rate, so throttled retries
// cannot multiply the load and cost nothing here; other retryable errors
// (5xx, network) still draw on the quota.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.ThrottlingRetryCost = 0
	})
}
