package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// The end-to-end tests of access timing and routing: windows asked for
// ahead, reminders and escalation, and requests filed for someone else,
// through the binary.

const timingRoles = `  window:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
    max_lead_time: 2d
  nudge:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    request_ttl: 1m
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
    remind_after: 3s
    escalate_after: 6s
    escalation_approvers: [ULEAD2]
  cover:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    request_for_others: '"platform-leads" in user.groups && grantee.email.endsWith("@example.com")'
`

// startBotWith starts jitbot with the test catalog plus roles.
func startBotWith(t *testing.T, roles string, extraEnv ...string) *bot {
	t.Helper()
	catalog := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, catalog, slackCatalog+roles)
	b := startBot(t, append([]string{"JIT_RULES=" + catalog, "JIT_MIN_DURATION=1s"}, extraEnv...)...)
	b.catalog = catalog
	return b
}

// restart kills the running process, as a crash would, and starts
// another with the same configuration.
func (b *bot) restart(t *testing.T) {
	t.Helper()
	b.cmd.Process.Kill()
	b.cmd.Wait()
	b.start(t)
}

// dmCount counts user's DMs that contain want.
func (b *bot) dmCount(user, want string) int {
	n := 0
	for _, dm := range b.slack.DMs(user) {
		if strings.Contains(dm.Text+string(dm.Blocks), want) {
			n++
		}
	}
	return n
}

// TestSlackScheduledWindowAcrossARestart: a window asked for ahead is
// approved before its start, jitbot is killed and started again, and the
// access is issued at the start and taken away at its end.
func TestSlackScheduledWindowAcrossARestart(t *testing.T) {
	b := startBotWith(t, timingRoles)
	got := b.command(t, "UALICE", "request window 8s --start +12s failover drill of the replica set")
	id := requestID(t, got)
	if !strings.Contains(got, "Unless approved before it starts") {
		t.Errorf("acknowledgement: %s", got)
	}
	dm := b.approvalDM(t, "ULEAD1", id)
	if !strings.Contains(visible(dm), "Window") {
		t.Errorf("the approval DM does not show the window: %s", visible(dm))
	}
	b.click(t, "ULEAD1", dm, "jit_approve", id)
	b.dmWith(t, "UALICE", id, "is approved", "access starts")
	if list := b.command(t, "UALICE", "list"); !strings.Contains(list, "SCHEDULED") || !strings.Contains(list, id) {
		t.Errorf("/jit list: %s", list)
	}
	if slices.Contains(b.members(t), "alice") {
		t.Fatal("alice holds the access before the window starts")
	}
	b.restart(t)
	b.slack.WaitFor(t, "alice is granted at the start", 20*time.Second, func() bool { return slices.Contains(b.members(t), "alice") })
	b.dmWith(t, "UALICE", id, "is active until")
	b.slack.WaitFor(t, "the access ends with the window", 20*time.Second, func() bool { return !slices.Contains(b.members(t), "alice") })
	b.waitAuditText(t, id, "expired")
}

// waitAuditText waits until the audit thread of id mentions want.
func (b *bot) waitAuditText(t *testing.T, id, want string) {
	t.Helper()
	b.slack.WaitFor(t, "the audit thread of "+id+" says "+want, 15*time.Second, func() bool {
		return strings.Contains(b.auditText(id), want)
	})
}

// TestSlackScheduledWindowCancelledAndRead: the requester calls off an
// approved window before it starts; HH:MM is read in the requester's
// Slack time zone; a start in the past or too far ahead changes nothing.
func TestSlackScheduledWindowCancelledAndRead(t *testing.T) {
	b := startBotWith(t, timingRoles)
	id := requestID(t, b.command(t, "UALICE", "request window 5s --start +6s failover drill of the replica set"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "is approved")
	if got := b.command(t, "UBOB", "revoke "+id); !strings.Contains(got, "cannot") {
		t.Errorf("bob cancels alice's window: %s", got)
	}
	if got := b.command(t, "UALICE", "revoke "+id); !strings.Contains(got, "Cancelled") {
		t.Fatalf("alice cancels her window: %s", got)
	}
	time.Sleep(8 * time.Second)
	if slices.Contains(b.members(t), "alice") {
		t.Fatal("a cancelled window was issued")
	}

	// bob moves to Tokyo: users.info now says so.
	b.slack.AddUser(slackfake.User{ID: "UBOB", Name: "bob", RealName: "Bob Roe", Email: "bob@example.com", TZ: "Asia/Tokyo"})
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	before := len(b.slack.DMs("ULEAD1"))
	now := time.Now().In(tokyo)
	want := time.Date(now.Year(), now.Month(), now.Day(), 23, 59, 0, 0, tokyo)
	if !want.After(now) {
		want = want.AddDate(0, 0, 1)
	}
	got := b.command(t, "UBOB", "request window 1h --start 23:59 nightly index rebuild")
	if !strings.Contains(got, fmt.Sprintf("<!date^%d^", want.Unix())) {
		t.Errorf("--start 23:59 in Asia/Tokyo: want the window at %s in %s", want, got)
	}
	b.approvalDM(t, "ULEAD1", requestID(t, got))

	for text, msg := range map[string]string{
		"request window 1h --start 2020-01-01T00:00:00Z failover drill":  "in the past",
		"request window 1h --start +3d failover drill of the set":        "max_lead_time",
		"request window 1h --start 25:00 failover drill of the set":      "--start",
		"request readonly 1h --start +1h --for <@UBOB> reading the logs": "request_for_others",
	} {
		if got := b.command(t, "UALICE", text); !strings.Contains(got, msg) {
			t.Errorf("/jit %s: %s; want %q", text, got, msg)
		}
	}
	time.Sleep(time.Second)
	if n := len(b.slack.DMs("ULEAD1")); n != before+1 {
		t.Errorf("the approver got %d DMs for one request and four refused ones; want 1", n-before)
	}
}

// TestSlackRemindersAndEscalationAcrossReplicas: with two replicas
// running, an unanswered request is re-posted to its approver once, then
// escalated once, and the escalation approver decides it.
func TestSlackRemindersAndEscalationAcrossReplicas(t *testing.T) {
	b := startBotWith(t, timingRoles)
	// A second replica on the same Redis and Slack, with its own probes.
	b.env = append(b.env, fmt.Sprintf("JIT_HTTP_ADDR=127.0.0.1:%d", testenv.FreePort(t)))
	b.start(t)
	id := requestID(t, b.command(t, "UALICE", "request nudge 30s rotate the replication password"))
	b.approvalDM(t, "ULEAD1", id)
	b.dmWith(t, "ULEAD1", id, "Reminder")
	escalation := b.dmWith(t, "ULEAD2", id, "Escalated to you")
	time.Sleep(3 * time.Second) // time for a duplicate to show
	if n := b.dmCount("ULEAD1", "Reminder"); n != 1 {
		t.Errorf("ULEAD1 was reminded %d times; want once", n)
	}
	if n := b.dmCount("ULEAD2", "Escalated to you"); n != 1 {
		t.Errorf("ULEAD2 was asked %d times; want once", n)
	}
	if n := b.dmCount("ULEAD1", "posted again below"); n != 1 {
		t.Errorf("the first approval DM was not stripped of its buttons (%d)", n)
	}
	b.click(t, "ULEAD2", escalation, "jit_approve", id)
	b.slack.WaitFor(t, "alice is granted", 15*time.Second, func() bool { return slices.Contains(b.members(t), "alice") })
	b.waitAuditText(t, id, "reminded")
	b.waitAuditText(t, id, "escalated")
}

// TestSlackRequestFiledForSomeoneElse: a lead files for the on-call
// engineer; neither may approve; the credentials go to the grantee alone;
// both names are shown.
func TestSlackRequestFiledForSomeoneElse(t *testing.T) {
	b := startBotWith(t, timingRoles)
	got := b.command(t, "ULEAD1", "request cover 30m --for <@UALICE|alice> alice is on call for INC-7")
	id := requestID(t, got)
	if !strings.Contains(got, "<@UALICE>") {
		t.Errorf("acknowledgement does not name the grantee: %s", got)
	}
	b.dmWith(t, "UALICE", id, "for you")
	dm := b.approvalDM(t, "ULEAD2", id)
	if v := visible(dm); !strings.Contains(v, "<@UALICE>") || !strings.Contains(v, "filed by <@ULEAD1>") {
		t.Errorf("approval DM does not name both: %s", v)
	}
	if len(slices.DeleteFunc(b.slack.DMs("ULEAD1"), func(m slackfake.Message) bool { return !strings.Contains(string(m.Blocks), "jit_approve") })) != 0 {
		t.Error("the filer was asked to approve their own filing")
	}
	b.click(t, "ULEAD2", dm, "jit_approve", id)
	creds := b.dmWith(t, "UALICE", id, "AWS_SECRET_ACCESS_KEY")
	if creds.Channel == "" {
		t.Fatal("no credentials DM")
	}
	for _, m := range b.slack.DMs("ULEAD1") {
		if strings.Contains(m.Text+string(m.Blocks), "AWS_SECRET_ACCESS_KEY") {
			t.Fatal("the filer got the grantee's credentials")
		}
	}
	b.waitAuditText(t, id, "<@ULEAD1>")
	if got := b.command(t, "UALICE", "request cover 30m --for <@UBOB> bob needs to read the logs"); !strings.Contains(got, "request_for_others") {
		t.Errorf("alice (not a lead) files for bob: %s", got)
	}
	if got := b.command(t, "UGUEST", "request cover 30m --for <@UBOB> bob needs to read the logs"); !strings.Contains(got, "full members") {
		t.Errorf("a guest files for bob: %s", got)
	}
}

// TestSlackRequestModalWindowAndForSomeoneElse: the request form's start
// picker and person picker file a window for someone else.
func TestSlackRequestModalWindowAndForSomeoneElse(t *testing.T) {
	b := startBotWith(t, timingRoles)
	view := b.openModal(t, "ULEAD1")
	if js := string(view.JSON); !strings.Contains(js, `"datetimepicker"`) || !strings.Contains(js, `"users_select"`) {
		t.Fatalf("the modal has no start or person picker: %s", js)
	}
	form := func(start time.Time) map[string]map[string]any {
		return map[string]map[string]any{
			"role":     {"role": slackfake.Selected("cover")},
			"duration": {"duration": slackfake.PlainText("30m")},
			"start":    {"start": slackfake.DateTime(start)},
			"for":      {"for": slackfake.UserSelected("UBOB")},
			"reason":   {"reason": slackfake.PlainText("bob covers the night shift for the migration")},
		}
	}
	bad := b.slack.SubmitView(t, "ULEAD1", view.ID, form(time.Now().Add(-time.Hour)))
	if ack := string(bad.Ack(t, 5*time.Second)); !strings.Contains(ack, `"start"`) || !strings.Contains(ack, "in the past") {
		t.Errorf("a start in the past: ack %s", ack)
	}
	start := time.Now().Add(time.Hour).Truncate(time.Minute)
	good := b.slack.SubmitView(t, "ULEAD1", view.ID, form(start))
	if ack := string(good.Ack(t, 5*time.Second)); strings.Contains(ack, "errors") {
		t.Fatalf("good submission refused: %s", ack)
	}
	m := b.dmWith(t, "ULEAD1", "JIT-", "<@UBOB>")
	id := requestID(t, m.Text+string(m.Blocks))
	dm := b.approvalDM(t, "ULEAD2", id)
	if v := visible(dm); !strings.Contains(v, fmt.Sprintf("<!date^%d^", start.Unix())) || !strings.Contains(v, "filed by <@ULEAD1>") {
		t.Errorf("approval DM lacks the window or the filer: %s", v)
	}
}
