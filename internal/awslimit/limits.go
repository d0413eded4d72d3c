// Package awslimit keeps jitbot's AWS calls under each service's request
// rate: a token bucket per service that every attempt, the SDK's retries
// included, waits on before it is signed and sent, and a retryer that
// treats the throttles that still happen as a reason to wait and try
// again rather than to fail. Both plug into aws.Config, so every client
// built from it, whatever its service, is covered.
//
// The buckets are per process. AWS counts per account: replicas sharing
// an account share its limit, so with several replicas each one's limit
// is the account's divided among them (the scheduler's work is spread
// across them, not repeated).
package awslimit

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Limit is one service's steady rate, in requests per second, and its
// burst, the calls that may go at once after a quiet spell. A zero Rate
// means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// Limits are the limits by service key: the SDK's service ID in lower
// case, spaces as dashes (iam, sts, sso-admin, identitystore, ...).
type Limits map[string]Limit

// Defaults are the limits a service has unless JIT_AWS_RATE_LIMITS names
// it. They sit below what AWS allows an account, because jitbot shares
// the account with everything else that calls it:
//
//   - iam: IAM's control plane is one endpoint per account (us-east-1)
//     and throttles mutating calls at around 10 to 20 a second in
//     practice; AWS publishes no figure. 10 leaves room for the rest of
//     the account.
//   - sts: AssumeRole is allowed hundreds a second per account and
//     region; 50 is far more than jitbot needs.
//   - sso-admin, identitystore: Identity Center's APIs throttle around
//     20 a second per account; half of that.
//   - organizations: throttled at a few a second per account; jitbot reads
//     OUs only when the catalog changes.
//   - cloudtrail: LookupEvents is documented at 2 a second per account
//     and region.
//   - s3: PutObject allows thousands a second per prefix; the audit
//     export makes a few a minute.
var Defaults = Limits{
	"iam":           {Rate: 10, Burst: 10},
	"sts":           {Rate: 50, Burst: 50},
	"sso-admin":     {Rate: 10, Burst: 10},
	"identitystore": {Rate: 10, Burst: 10},
	"organizations": {Rate: 5, Burst: 5},
	"cloudtrail":    {Rate: 2, Burst: 2},
	"s3":            {Rate: 100, Burst: 100},
}

// ServiceKey is the key of the service whose SDK service ID is id: "IAM"
// is iam, "SSO Admin" is sso-admin.
func ServiceKey(id string) string {
	return strings.ReplaceAll(strings.ToLower(id), " ", "-")
}

// Parse reads JIT_AWS_RATE_LIMITS: comma-separated service=rate pairs,
// such as "iam=10,sts=50,sso-admin=10", each rate in requests per second
// (a fraction is fine: cloudtrail=0.5), 0 or off for no limit. Services
// it does not name keep their Defaults; the empty string is the
// Defaults. A service's burst is its rate rounded up: a second's worth.
func Parse(s string) (Limits, error) {
	limits := maps.Clone(Defaults)
	if strings.TrimSpace(s) == "" {
		return limits, nil
	}
	seen := map[string]bool{}
	for entry := range strings.SplitSeq(s, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(entry), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok || key == "":
			return nil, fmt.Errorf("expected service=rate pairs separated by commas, such as iam=10,sts=50; got %q in %q", entry, s)
		case Defaults[key] == (Limit{}):
			return nil, fmt.Errorf("unknown service %q; expected one of %s", key, strings.Join(slices.Sorted(maps.Keys(Defaults)), ", "))
		case seen[key]:
			return nil, fmt.Errorf("%s is named twice", key)
		}
		seen[key] = true
		l, err := parseRate(value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		limits[key] = l
	}
	return limits, nil
}

// parseRate reads one rate: requests per second, or off.
func parseRate(v string) (Limit, error) {
	if strings.EqualFold(v, "off") {
		return Limit{}, nil
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return Limit{}, fmt.Errorf("expected requests per second (such as 10 or 0.5), or 0 or off for no limit; got %q", v)
	}
	if r == 0 {
		return Limit{}, nil
	}
	return Limit{Rate: r, Burst: int(math.Ceil(r))}, nil
}

// String gives the limits in Parse's form, services in order, for the
// start-up log.
func (l Limits) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		v := "off"
		if l[k].Rate > 0 {
			v = strconv.FormatFloat(l[k].Rate, 'g', -1, 64)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}
