package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// approvers is how many flood roles there are, each with an approver of
// its own: Slack lets a bot post about once a second to a channel, a
// person's DM included, so at the flood's pace (1,000 requests a minute,
// one every 60 ms) each approver must be asked less than once a second.
const approvers = 20

// floodRoles are the flood's roles, floodK approved by UAPPK.
func floodRoles() string {
	var b strings.Builder
	for k := range approvers {
		fmt.Fprintf(&b, "  flood%d:\n    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/jit-readonly\n    approvers: [UAPP%d]\n    eligible: 'true'\n", k, k)
	}
	return b.String()
}

// TestSlackFloodUnderSlacksLimits: with the Slack fake enforcing Slack's
// published limits, 100 requests filed at the incident flood's pace (one
// every 60 ms, 1,000 a minute), then approved: each approver's DM arrives within 2 s of its request, and in
// the end the audit channel shows every request's grant (in its thread or
// in a digest), in fewer posts than events.
func TestSlackFloodUnderSlacksLimits(t *testing.T) {
	b := startBot(t)
	for k := range approvers {
		b.slack.AddUser(slackfake.User{ID: fmt.Sprintf("UAPP%d", k), Name: fmt.Sprintf("app%d", k), Email: fmt.Sprintf("app%d@example.com", k)})
		b.slack.AddUser(slackfake.User{ID: fmt.Sprintf("UREQ%d", k), Name: fmt.Sprintf("req%d", k), Email: fmt.Sprintf("req%d@example.com", k)})
	}
	writeFile(t, b.catalog, strings.Replace(slackCatalog, "roles:\n", "roles:\n"+floodRoles(), 1))
	b.slack.WaitFor(t, "the flood roles are loaded", 15*time.Second, func() bool { return b.auditHas("Role catalog reloaded") })
	b.slack.EnforceRateLimits(true)
	// Nothing is exempt: the directory's reads (users.info, Tier 4;
	// usergroups.list, Tier 2, afresh for every decision) are shared
	// between decisions and wait out Slack's 429s, so no request or
	// click fails for them.

	requests := 100
	if n, err := strconv.Atoi(os.Getenv("JIT_FLOOD_REQUESTS")); err == nil {
		requests = n
	}
	ids := make([]string, requests)
	filed := make([]time.Time, requests)
	start := time.Now()
	for i := range requests {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 60 * time.Millisecond)))
		filed[i] = time.Now()
		ids[i] = requestID(t, b.command(t, fmt.Sprintf("UREQ%d", i/approvers), fmt.Sprintf("request flood%d 1h incident work %d", i%approvers, i)))
	}
	t.Logf("%d requests filed in %v", requests, time.Since(start))

	var worst time.Duration
	dms := make([]slackfake.Message, requests)
	for i, id := range ids {
		dms[i] = b.approvalDM(t, fmt.Sprintf("UAPP%d", i%approvers), id)
		if took := dms[i].Time().Sub(filed[i]); took > worst {
			worst = took
		}
	}
	t.Logf("slowest approval DM: %v after its request", worst)
	if worst > 2*time.Second {
		t.Errorf("an approval DM came %v after its request, want ≤ 2s", worst)
	}

	for i, id := range ids {
		b.click(t, fmt.Sprintf("UAPP%d", i%approvers), dms[i], "jit_approve", id)
	}
	t.Logf("%d approvals clicked %v after the first request", requests, time.Since(start))
	b.slack.WaitFor(t, "every grant shown in the audit channel", 120*time.Second, func() bool {
		for _, id := range ids {
			if !b.auditShows(id, "granted") {
				return false
			}
		}
		return true
	})
	posts, limited := 0, 0
	for _, c := range b.slack.Calls("") {
		switch {
		case c.Error == "ratelimited":
			limited++
		case c.Method == "chat.postMessage" && c.Params.Get("channel") == auditChannel:
			posts++
		}
	}
	perMethod := map[string]int{}
	for _, c := range b.slack.Calls("") {
		perMethod[c.Method]++
	}
	t.Logf("calls: %v", perMethod)
	t.Logf("all shown %v after the first request: %d audit posts for %d requests' events, %d calls answered 429", time.Since(start), posts, requests, limited)
	if posts >= 4*requests { // requested, approved, granted, and a parent each
		t.Errorf("%d audit posts for %d requests: nothing folded", posts, requests)
	}
}

// auditShows reports whether the audit channel shows an event of id
// containing what: in id's thread, or in a digest's section about id.
func (b *bot) auditShows(id, what string) bool {
	if _, replies := b.audit(id); strings.Contains(strings.Join(replies, "\n"), what) {
		return true
	}
	for _, m := range b.slack.Messages(auditChannel) {
		if !strings.HasPrefix(m.Text, "Audit digest") {
			continue
		}
		for _, section := range strings.Split(m.Text, "\n\n") {
			if strings.HasPrefix(section, "`"+id+"`") && strings.Contains(section, what) {
				return true
			}
		}
	}
	return false
}
