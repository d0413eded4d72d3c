package awslimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"
)

// fakeClock is a clock whose sleeps move it forward at once.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
	return nil
}

func withFakeClock(l *Limiter) *fakeClock {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now, l.sleep = c.now, c.sleep
	return c
}

// TestWaitHoldsTheRate: N calls after a quiet spell take (N-burst)/rate
// of the limiter's clock, one token each; other services are not held.
func TestWaitHoldsTheRate(t *testing.T) {
	l := New(Limits{"iam": {Rate: 10, Burst: 10}, "sts": {}}, nil)
	c := withFakeClock(l)
	for range 200 {
		if _, err := l.Wait(context.Background(), "iam"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Wait(context.Background(), "sts"); err != nil {
			t.Fatal(err)
		}
	}
	if want := 19 * time.Second; c.slept < want-time.Millisecond || c.slept > want+time.Millisecond {
		t.Errorf("200 IAM calls at 10/s, burst 10, took %v of the clock; want %v", c.slept, want)
	}
	d, _ := l.Wait(context.Background(), "iam")
	if d < 99*time.Millisecond || d > 101*time.Millisecond {
		t.Errorf("the 201st call waited %v; want one token's 100ms", d)
	}
}

// TestWaitPastTheDeadline: a wait that would outlast the call's deadline
// fails at once, says why, and gives its token back.
func TestWaitPastTheDeadline(t *testing.T) {
	l := New(Limits{"iam": {Rate: 1, Burst: 1}}, nil)
	c := withFakeClock(l)
	l.Wait(context.Background(), "iam") // the burst
	ctx, cancel := context.WithDeadline(context.Background(), c.now().Add(500*time.Millisecond))
	defer cancel()
	_, err := l.Wait(ctx, "iam")
	if err == nil || !strings.Contains(err.Error(), "iam rate limit (1 requests/s, JIT_AWS_RATE_LIMITS) would hold this call 1s, past its deadline") {
		t.Fatalf("Wait = %v; want the deadline refusal", err)
	}
	if d, _ := l.Wait(context.Background(), "iam"); d != time.Second || c.slept != time.Second {
		t.Errorf("the next call waited %v (clock %v); want 1s, the refused call's token given back", d, c.slept)
	}
}

// recorder is an Observer that counts.
type recorder struct {
	mu        sync.Mutex
	waits     map[string]int
	waited    time.Duration
	throttled map[string]int
}

func (r *recorder) RateLimitWaited(service string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits[service]++
	r.waited += d
}

func (r *recorder) Throttled(service, op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.throttled[service+"/"+op]++
}

// throttlingIAM answers the first attempt of every call as IAM answers a
// throttled one, and the later ones with success.
func throttlingIAM(t *testing.T) (url string, attempts *atomic.Int32) {
	attempts = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if strings.HasPrefix(r.Header.Get("Amz-Sdk-Request"), "attempt=1;") {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AddUserToGroupResponse><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></AddUserToGroupResponse>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, attempts
}

var errStop = errors.New("stack inspected")

func iamClient(url string, l *Limiter) *iam.Client {
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	l.Apply(&cfg)
	return iam.NewFromConfig(cfg)
}

// TestThrottledBurstIsRetried: 300 calls at once, each throttled once,
// all succeed; every attempt waited on the limiter and every throttle is
// counted. With the SDK's own retry quota, the same burst fails calls
// with "retry quota exceeded": the reason NewRetryer frees throttles of it.
func TestThrottledBurstIsRetried(t *testing.T) {
	url, attempts := throttlingIAM(t)
	obs := &recorder{waits: map[string]int{}, throttled: map[string]int{}}
	client := iamClient(url, New(Limits{"iam": {Rate: 1000, Burst: 1000}}, obs))
	const calls = 300
	if failed := burst(client, calls); len(failed) > 0 {
		t.Fatalf("%d of %d calls failed, e.g. %v", len(failed), calls, failed[0])
	}
	if n := attempts.Load(); n != 2*calls {
		t.Errorf("%d attempts; want %d, one throttled and one retry per call", n, 2*calls)
	}
	if obs.waits["IAM"] != 2*calls || obs.throttled["IAM/AddUserToGroup"] != calls {
		t.Errorf("observed %v waits, %v throttles; want %d IAM waits and %d IAM/AddUserToGroup throttles", obs.waits, obs.throttled, 2*calls, calls)
	}

	stock := iam.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	failed := burst(stock, calls)
	t.Logf("the SDK's default retryer failed %d of %d calls", len(failed), calls)
	var quota ratelimit.QuotaExceededError
	if len(failed) == 0 || !errors.As(failed[0], &quota) {
		t.Errorf("the SDK's default retryer failed %d calls of the burst (%v); want some out of retry quota, or this test shows nothing", len(failed), failed)
	}
}

func burst(client *iam.Client, n int) (failed []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := client.AddUserToGroup(context.Background(), &iam.AddUserToGroupInput{
				GroupName: aws.String("g"), UserName: aws.String(fmt.Sprint("u", i))})
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// TestApplyHoldsEveryAttempt: the limiter is in a client's stack after
// the Retry middleware and before signing, once however often Apply runs.
func TestApplyHoldsEveryAttempt(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1"}
	l := New(Defaults, nil)
	l.Apply(&cfg)
	l.Apply(&cfg)
	if _, ok := cfg.Retryer().(*retry.Standard); !ok || cfg.Retryer().MaxAttempts() != MaxAttempts {
		t.Errorf("Retryer %T with %d attempts; want the standard one with %d", cfg.Retryer(), cfg.Retryer().MaxAttempts(), MaxAttempts)
	}
	var order []string
	_, err := iam.NewFromConfig(cfg).GetUser(context.Background(), &iam.GetUserInput{}, func(o *iam.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			order = s.Finalize.List()
			return errStop
		})
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("GetUser = %v", err)
	}
	at := map[string]int{}
	for i, id := range order {
		at[id] = i
	}
	if at[middlewareID] == 0 || at[middlewareID] != at["Retry"]+1 || at["Signing"] < at[middlewareID] || len(order) != len(at) {
		t.Errorf("Finalize step %v; want %s once, right after Retry, before Signing", order, middlewareID)
	}
}

// TestHeldCallSaysItNeverStarted: a call the limiter would hold past its
// deadline reaches the caller through the SDK's errors as a HeldError
// that says AWS never saw it, so the caller may wait instead of failing.
func TestHeldCallSaysItNeverStarted(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AddUserToGroupResponse><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></AddUserToGroupResponse>`)
	}))
	t.Cleanup(srv.Close)
	client := iamClient(srv.URL, New(Limits{"iam": {Rate: 0.1, Burst: 1}}, nil))
	in := &iam.AddUserToGroupInput{GroupName: aws.String("g"), UserName: aws.String("u")}
	if _, err := client.AddUserToGroup(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := client.AddUserToGroup(ctx, in)
	var held *HeldError
	if !errors.As(err, &held) || !held.NotStarted() {
		t.Fatalf("AddUserToGroup = %v; want a HeldError", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("IAM saw %d calls, want 1: the held one never went", n)
	}
}
