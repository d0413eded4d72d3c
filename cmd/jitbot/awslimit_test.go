package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// burstRole grants membership of jit-burst at once to anyone in the
// burst user group.
const burstRole = `  burst:
    backend: aws_iam_group
    group: jit-burst
    iam_user: 'user.email.split("@")[0]'
    approvers: [ULEAD1]
    eligible: '"burst" in user.groups'
    auto_approve: 'true'
`

// TestExpiryBurstUnderIAMThrottling: 40 grants issued at once and
// expiring together, with the proxy throttling IAM above 8 calls a
// second, as IAM does, while jitbot allows itself 10: the throttled grants
// and revocations are retried until every one is done, no one is told
// about throttling, and every throttle the proxy answered is in
// jitbot_aws_throttled_total.
func TestExpiryBurstUnderIAMThrottling(t *testing.T) {
	const n = 40
	b := startBotWith(t, burstRole, "JIT_REQUEST_LIMIT=10000", "JIT_AWS_RATE_LIMITS=iam=10")
	if _, err := b.iam.CreateGroup(t.Context(), &iam.CreateGroupInput{GroupName: aws.String("jit-burst")}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		id, name := fmt.Sprintf("UBURST%02d", i), fmt.Sprintf("burst%02d", i)
		if _, err := b.iam.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		b.slack.AddUser(slackfake.User{ID: id, Name: name, RealName: "Burst " + name, Email: name + "@example.com"})
		ids = append(ids, id)
	}
	b.slack.AddUserGroup("S0BURST", "burst", ids...)
	b.proxy.Throttle("iam", 8, 8)

	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { b.slack.SlashCommand(t, id, "request burst 20s expiry burst drill") })
	}
	wg.Wait()
	b.slack.WaitFor(t, "every grant issued", 90*time.Second, func() bool { return len(b.groupMembers(t, "jit-burst")) == n })
	granted := time.Now()
	b.slack.WaitFor(t, "every grant revoked", 3*time.Minute, func() bool { return len(b.groupMembers(t, "jit-burst")) == 0 })
	t.Logf("all %d revoked %v after the last grant; proxy throttled %d of %d IAM calls", n, time.Since(granted).Round(time.Second), b.proxy.Throttled(""), len(b.proxy.Calls("")))

	for _, id := range ids {
		b.dmWith(t, id, "time was up")
		for _, dm := range b.slack.DMs(id) {
			if text := strings.ToLower(visible(dm)); strings.Contains(text, "throttl") || strings.Contains(text, "rate exceeded") || strings.Contains(text, "failed") {
				t.Errorf("%s was told: %s", id, visible(dm))
			}
		}
	}
	s := b.scrape(t)
	for _, series := range []string{`jitbot_events_total{role="burst",type="granted"}`, `jitbot_events_total{role="burst",type="revoked"}`} {
		if got := s.value(t, series); got != n {
			t.Errorf("%s = %v, want %d", series, got, n)
		}
	}
	for _, failed := range []string{`type="grant_failed"`, `type="revoke_failed"`, `type="revoke_retrying"`} {
		if strings.Contains(s.text, failed) {
			t.Errorf("/metrics has %s events; want every AWS call retried to success within its deadline", failed)
		}
	}
	var counted float64
	for _, op := range []string{"AddUserToGroup", "RemoveUserFromGroup"} {
		if b.proxy.Throttled(op) > 0 {
			counted += s.value(t, fmt.Sprintf(`jitbot_aws_throttled_total{service="IAM",operation=%q}`, op))
		}
	}
	if throttled := b.proxy.Throttled("AddUserToGroup") + b.proxy.Throttled("RemoveUserFromGroup"); counted != float64(throttled) {
		t.Errorf("jitbot_aws_throttled_total counts %v group calls; the proxy throttled %d", counted, throttled)
	}
	if s.value(t, `jitbot_aws_rate_limit_wait_seconds_count{service="IAM"}`) < 2*n {
		t.Errorf("jitbot_aws_rate_limit_wait_seconds{IAM} has fewer observations than the %d group calls", 2*n)
	}
}
