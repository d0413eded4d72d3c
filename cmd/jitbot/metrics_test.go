package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMetricsOfAGrantThatExpires runs one request through the binary,
// approved and expired, and reads /metrics as Prometheus would: requests by
// outcome, the grant gauges read from Redis, the revocation lag and
// approval latency, and the Slack and AWS calls it made, one of them rate
// limited. It also checks that the log lines about the request name it in
// request_id.
func TestMetricsOfAGrantThatExpires(t *testing.T) {
	b := startBot(t, "JIT_MIN_DURATION=1s")
	// The approval DM is refused once with a 429; jitbot waits and posts
	// it again.
	b.slack.RateLimit("chat.postMessage", 1, time.Second)
	id := requestID(t, b.command(t, "UALICE", "request ops 6s fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-ops")

	during := b.scrape(t)
	for _, tt := range []struct {
		series string
		want   float64
	}{
		{`jitbot_active_grants{role="ops"}`, 1},
		{`jitbot_active_grants{role="admin"}`, 0},
		{`jitbot_store_up`, 1},
		{`jitbot_requests_pending`, 0},
	} {
		if got := during.value(t, tt.series); got != tt.want {
			t.Errorf("while the grant is active: %s = %v, want %v", tt.series, got, tt.want)
		}
	}

	b.dmWith(t, "UALICE", id, "time was up")
	if m := b.groupMembers(t, "jit-ops"); len(m) != 0 {
		t.Fatalf("jit-ops members after expiry: %v", m)
	}
	after := b.scrape(t)
	for _, tt := range []struct {
		series string
		want   float64
	}{
		{`jitbot_requests_total{role="ops",outcome="granted"}`, 1},
		{`jitbot_events_total{type="revoked",role="ops"}`, 1},
		{`jitbot_revocation_lag_seconds_count`, 1},
		{`jitbot_approval_latency_seconds_count`, 1},
		{`jitbot_active_grants{role="ops"}`, 0},
		{`jitbot_grants_revoking`, 0},
		{`jitbot_revocations_retrying`, 0},
		{`jitbot_revoke_failures_total{role="ops"}`, 0},
		{`jitbot_requests_total{role="ops",outcome="grant_failed"}`, 0},
		{`jitbot_slack_socket_mode_open_ok`, 1},
		{`jitbot_store_up`, 1},
	} {
		if got := after.value(t, tt.series); got != tt.want {
			t.Errorf("after expiry: %s = %v, want %v", tt.series, got, tt.want)
		}
	}
	for _, series := range []string{
		`jitbot_aws_api_calls_total{service="IAM",operation="AddUserToGroup",result="ok"}`,
		`jitbot_aws_api_calls_total{service="IAM",operation="RemoveUserFromGroup",result="ok"}`,
		`jitbot_aws_api_duration_seconds_count{service="IAM",operation="AddUserToGroup"}`,
		`jitbot_slack_api_calls_total{method="chat.postMessage",result="ok"}`,
		`jitbot_slack_api_calls_total{method="chat.postMessage",result="ratelimited"}`,
		`jitbot_slack_api_calls_total{method="apps.connections.open",result="ok"}`,
		`jitbot_slack_api_duration_seconds_count{method="chat.postMessage"}`,
	} {
		if got := after.value(t, series); got < 1 {
			t.Errorf("after expiry: %s = %v, want at least 1", series, got)
		}
	}
	lag := after.value(t, `jitbot_revocation_lag_seconds_sum`)
	if lag < 0 || lag > 5 {
		t.Errorf("revocation lag %v s, want between 0 and 5", lag)
	}
	if sum := after.value(t, `jitbot_approval_latency_seconds_sum`); sum <= 0 || sum > 30 {
		t.Errorf("approval latency %v s, want the few seconds between request and click", sum)
	}
	// No user or request ID is ever a label.
	for _, bad := range []string{id, "UALICE", "ULEAD1", "alice"} {
		if strings.Contains(after.text, bad) {
			t.Errorf("/metrics mentions %q", bad)
		}
	}

	b.logsNameRequest(t, id)
}

// logsNameRequest checks every log line that mentions id: it carries id
// in request_id (the audit records, in their entry's request_id). The one
// exception is internal/slackapp/queue's lines ("slack write failed; will
// retry", …), which name the request by the queue's ordering key, "key":
// the request ID, or an audience and the request ID ("approvers:JIT-…").
func (b *bot) logsNameRequest(t *testing.T, id string) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(b.logs.text(), "\n") {
		if !strings.Contains(line, id) {
			continue
		}
		var rec struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Entry     struct {
				RequestID string `json:"request_id"`
			} `json:"entry"`
			Key string `json:"key"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		slackWrite := strings.HasPrefix(rec.Msg, "slack write") && (rec.Key == id || strings.HasSuffix(rec.Key, ":"+id))
		if rec.RequestID != id && rec.Entry.RequestID != id && !slackWrite {
			t.Errorf("log line about %s without request_id: %s", id, line)
		}
		n++
	}
	if n < 4 {
		t.Errorf("%d log lines name %s; want its grant, revocation and audit records", n, id)
	}
}

// scrape is one read of the bot's /metrics.
type scrape struct{ text string }

func (b *bot) scrape(t *testing.T) scrape {
	t.Helper()
	var addr string
	for _, kv := range b.env {
		if v, ok := strings.CutPrefix(kv, "JIT_HTTP_ADDR="); ok {
			addr = v
		}
	}
	return scrape{text: httpGet(t, "http://"+addr+"/metrics")}
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)

// value is the sample of series, written as Prometheus prints it (labels
// in any order); a missing series fails the test.
func (s scrape) value(t *testing.T, series string) float64 {
	t.Helper()
	want := sampleLine.FindStringSubmatch(series + " 0")
	if want == nil {
		t.Fatalf("bad series %q", series)
	}
	for _, line := range strings.Split(s.text, "\n") {
		got := sampleLine.FindStringSubmatch(line)
		if got == nil || got[1] != want[1] || !sameLabels(got[2], want[2]) {
			continue
		}
		v, err := strconv.ParseFloat(got[3], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return v
	}
	t.Fatalf("no %s in /metrics:\n%s", series, s.text)
	return 0
}

// sameLabels compares two label sets such as {a="1",b="2"}.
func sameLabels(a, b string) bool {
	split := func(s string) map[string]bool {
		set := map[string]bool{}
		for _, kv := range strings.Split(strings.Trim(s, "{}"), ",") {
			if kv != "" {
				set[kv] = true
			}
		}
		return set
	}
	as, bs := split(a), split(b)
	if len(as) != len(bs) {
		return false
	}
	for kv := range as {
		if !bs[kv] {
			return false
		}
	}
	return true
}

// TestScrapeSurvivesABadRoleInRedis is someone who can write to Redis
// naming a role that is not valid UTF-8 in the gauge sets a scrape reads.
// client_golang refuses such a label value: its const metric panicked,
// the registry recovered and failed the whole scrape with a 500, so every
// alert on jitbot's metrics went blind for as long as the member stayed.
// The role is now reported with its bad bytes replaced.
func TestScrapeSurvivesABadRoleInRedis(t *testing.T) {
	b := startBot(t)
	if got := b.scrape(t).value(t, `jitbot_store_up`); got != 1 {
		t.Fatalf("jitbot_store_up = %v before the attack", got)
	}
	c := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	defer c.Close()
	bad := "ops\xff"
	if err := c.SAdd(t.Context(), "{jitbot}:gauge:roles", bad).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.SAdd(t.Context(), "{jitbot}:gauge:active-role:"+bad, "JIT-FORGED").Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s := b.scrape(t)
		if got := s.value(t, `jitbot_active_grants{role="ops`+"\uFFFD"+`"}`); got != 1 {
			t.Errorf(`jitbot_active_grants{role="ops\uFFFD"} = %v, want the forged member counted`, got)
		}
		if got := s.value(t, `jitbot_active_grants{role="ops"}`); got != 0 {
			t.Errorf(`jitbot_active_grants{role="ops"} = %v, want 0: the forged role is not ops`, got)
		}
	}
}
