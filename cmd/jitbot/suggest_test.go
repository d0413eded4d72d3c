package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/cloudtrail/cloudtrailfake"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/testenv"
)

// usageCall is one call of a scripted grant: minutes after it started.
type usageCall struct {
	min           int
	source, event string
	arn           string
}

// writeHistory puts ended grants of role in the audit log of rd and their
// calls in ct; grant i is known to CloudTrail by access key ASIAHIST<i>.
func writeHistory(t *testing.T, rd *testenv.Redis, ct *cloudtrailfake.Server, role string, script [][]usageCall) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer client.Close()
	log := auditlog.New(client, "jitbot", nil).WithKey([]byte(testSigningKey))
	base := time.Now().Add(-10 * 24 * time.Hour).UTC().Truncate(time.Minute)
	for i, calls := range script {
		start := base.Add(time.Duration(i) * 3 * time.Hour)
		key := fmt.Sprintf("ASIAHIST%d%s", i, strings.ToUpper(strings.ReplaceAll(role, "-", "")))
		r := grants.Request{ID: grants.RequestID(fmt.Sprintf("JIT-%s-%d", role, i)), Role: role, Backend: grants.BackendSTS, AccessKeyID: key,
			State: grants.Revoked, GrantedAt: start, ExpiresAt: start.Add(time.Hour), RevokedAt: start.Add(time.Hour)}
		if _, err := log.AppendEvent(t.Context(), grants.Event{Type: grants.EventRevoked, At: r.RevokedAt, Request: r}); err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			e := cloudtrailfake.Event{Name: c.event, Source: c.source, AccessKeyID: key, Time: start.Add(time.Duration(c.min) * time.Minute)}
			if c.arn != "" {
				e.Resources = []string{c.arn}
			}
			ct.Add(e)
		}
	}
}

// TestRulesSuggestThroughTheBinary: jitbot rules suggest against a real
// Redis audit log and the CloudTrail fake prints the actions, the read-only
// count, a shorter duration and a policy of exactly the used actions, all
// worked out here from the script.
func TestRulesSuggestThroughTheBinary(t *testing.T) {
	rd := testenv.StartRedis(t)
	ct := cloudtrailfake.Start(t)
	const obj = "arn:aws:s3:::app-logs/today.log"
	get := func(min int) usageCall { return usageCall{min, "s3.amazonaws.com", "GetObject", obj} }
	describe := func(min int) usageCall { return usageCall{min, "ec2.amazonaws.com", "DescribeInstances", ""} }
	script := [][]usageCall{
		{get(0), get(5)},                                     // 5m
		{describe(2), get(12)},                               // 10m
		{describe(0), describe(12)},                          // 12m
		{get(1), {21, "s3.amazonaws.com", "PutObject", obj}}, // 20m, writes
		{get(30), describe(38)},                              // 8m
		{},                                                   // never used
		{describe(50), describe(53)},                         // 3m
	}
	writeHistory(t, rd, ct, "prod-readonly", script)
	env := cleanEnv("REDIS_URL="+rd.URL(), "AWS_ENDPOINT_URL_CLOUDTRAIL="+ct.URL(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIATEST", "AWS_SECRET_ACCESS_KEY=test")

	r := runBinary(t, env, "rules", "suggest", "prod-readonly", "--since", "30d")
	if r.code != 0 {
		t.Fatalf("rules suggest: %+v", r)
	}
	t.Logf("jitbot rules suggest prod-readonly:\n%s", r.stdout)
	// By hand: 7 grants, 6 used, 5 without a write. Used spans 3, 5, 8,
	// 10, 12, 20 min: the nearest-rank p90 of six is the sixth, 20m; up to
	// the next 15 min, 30m, which is at most 3/4 of prod-readonly's 1h.
	for _, want := range []string{
		"Role prod-readonly: 7 grants ended in the last 30d, 6 of them used.",
		"Read-only grants (no write action): 5 of 6 used.",
		"Time used (first to last call), p90: 20m; time granted, median: 1h.",
		"Suggested default_duration: 30m (now 1h).",
		"In one line, as approvers see it: the last 7 grants used only ec2:DescribeInstances, s3:GetObject, s3:PutObject.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	_, policy, ok := strings.Cut(r.stdout, "Suggested session_policy:\n")
	var p struct {
		Version   string
		Statement []struct {
			Effect           string
			Action, Resource []string
		}
	}
	if err := json.Unmarshal([]byte(policy), &p); !ok || err != nil {
		t.Fatalf("no policy JSON in the output (%v):\n%s", err, r.stdout)
	}
	allowed := map[string]string{}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			allowed[a] = strings.Join(st.Resource, " ")
		}
	}
	want := map[string]string{"s3:GetObject": obj, "s3:PutObject": obj, "ec2:DescribeInstances": "*"}
	if fmt.Sprint(allowed) != fmt.Sprint(want) {
		t.Errorf("policy allows %v; want %v", allowed, want)
	}
}

// TestRulesSuggestRefusesBadInput: an unknown role and a bad window exit
// 2 with a message; a role without history says so and exits 0.
func TestRulesSuggestRefusesBadInput(t *testing.T) {
	rd := testenv.StartRedis(t)
	ct := cloudtrailfake.Start(t)
	env := cleanEnv("REDIS_URL="+rd.URL(), "AWS_ENDPOINT_URL_CLOUDTRAIL="+ct.URL(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIATEST", "AWS_SECRET_ACCESS_KEY=test")

	r := runBinary(t, env, "rules", "suggest", "prod-nope")
	if r.code != 2 || !strings.Contains(r.stderr, `no role "prod-nope" in rules/roles.yaml`) || !strings.Contains(r.stderr, "prod-readonly") {
		t.Errorf("unknown role: %+v", r)
	}
	r = runBinary(t, env, "rules", "suggest", "prod-readonly", "--since", "soon")
	if r.code != 2 || !strings.Contains(r.stderr, "--since") {
		t.Errorf("bad --since: %+v", r)
	}
	r = runBinary(t, env, "rules", "suggest", "prod-readonly")
	if r.code != 0 || !strings.Contains(r.stdout, "no grant ended in the last 90d") {
		t.Errorf("no history: %+v", r)
	}
	if ct.Calls() != 0 {
		t.Errorf("%d CloudTrail calls without any grant to look at", ct.Calls())
	}
	if r := runBinary(t, env, "rules", "suggest"); r.code != 2 || !slices.ContainsFunc(strings.Split(r.stderr, "\n"), func(l string) bool { return strings.HasPrefix(l, "usage: jitbot rules suggest") }) {
		t.Errorf("no role: %+v", r)
	}
}

// TestApprovalDMCarriesUsageLine: with usage lookups on, the first
// approval DM of a role goes out without a usage line (none is known yet,
// and the request does not wait for one); once the background look at
// the history is done, the next DM carries it.
func TestApprovalDMCarriesUsageLine(t *testing.T) {
	ct := cloudtrailfake.Start(t)
	b := startBot(t, "JIT_USAGE_LOOKUP=true", "AWS_ENDPOINT_URL_CLOUDTRAIL="+ct.URL())
	get := usageCall{0, "s3.amazonaws.com", "GetObject", ""}
	describe := func(event string, min int) usageCall { return usageCall{min, "ec2.amazonaws.com", event, ""} }
	writeHistory(t, b.redis, ct, "readonly", [][]usageCall{
		{get, describe("DescribeInstances", 1)},
		{describe("DescribeVpcs", 2), describe("DescribeInstances", 3)},
		{get},
		{describe("DescribeInstances", 4)},
		{get, describe("DescribeInstances", 5)},
		{},
	})
	// By hand: six grants, five used; ec2 Describe calls (6) outnumber
	// s3:GetObject (3); nothing wrote.
	const want = "the last 6 grants used only ec2:Describe*, s3:GetObject (read-only)"

	first := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	if dm := b.approvalDM(t, "ULEAD1", first); strings.Contains(string(dm.Blocks), "Usage:") {
		t.Errorf("the first DM has a usage line before any history was read: %s", dm.Blocks)
	}
	b.slack.WaitFor(t, "the usage line of readonly", 20*time.Second, func() bool {
		return strings.Contains(b.logs.text(), `"msg":"usage line ready","role":"readonly"`)
	})
	second := requestID(t, b.command(t, "UBOB", "request readonly 30m checking replica lag again"))
	if dm := b.approvalDM(t, "ULEAD1", second); !strings.Contains(string(dm.Blocks), "Usage: "+want) {
		t.Errorf("the DM lacks %q: %s", want, dm.Blocks)
	}
}
