package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// catalogOf300 is a catalog of 300 roles, each approved by its own user
// group, which a listing of who approves what used to ask Slack about one
// group at a time.
func catalogOf300(t *testing.T, b *bot) string {
	var c strings.Builder
	c.WriteString("defaults:\n  max_duration: 4h\n  default_duration: 1h\n  request_ttl: 30m\nroles:\n")
	for i := range 300 {
		handle := fmt.Sprintf("approvers-%03d", i)
		b.slack.AddUserGroup(fmt.Sprintf("S%03d", i), handle, "ULEAD1")
		fmt.Fprintf(&c, "  role-%03d:\n    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/jit-readonly\n    approvers: [\"@%s\"]\n    eligible: '\"sre\" in user.groups'\n", i, handle)
	}
	path := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, path, c.String())
	return path
}

// TestSlackReportOfNonApproverAsksNoGroups: anyone may type /jit report. A
// non-approver's, with 300 roles, made 300 usergroups.users.list calls,
// starving the approvals that need the same API; now neither a
// non-approver's nor an approver's makes any user-group call: listings
// read the group list the bot refreshes once a minute on its own.
func TestSlackReportOfNonApproverAsksNoGroups(t *testing.T) {
	b := startBot(t)
	path := catalogOf300(t, b)
	b.env = append(b.env, "JIT_RULES="+path)
	b.cmd.Process.Kill()
	b.cmd.Wait()
	listed := len(b.slack.Calls("usergroups.list"))
	b.start(t)
	b.slack.WaitFor(t, "the bot's own refresh of the user groups", 10*time.Second, func() bool {
		return len(b.slack.Calls("usergroups.list")) > listed
	})
	time.Sleep(300 * time.Millisecond) // for its answer to reach the bot, over loopback
	groupCalls := func() int {
		return len(b.slack.Calls("usergroups.users.list")) + len(b.slack.Calls("usergroups.list"))
	}

	before := groupCalls()
	for i := range 5 {
		if got := b.command(t, "UBOB", "report"); !strings.Contains(got, "you approve none") {
			t.Fatalf("/jit report %d for a non-approver: %s", i+1, got)
		}
	}
	if n := groupCalls() - before; n != 0 {
		t.Errorf("five /jit report of a non-approver made %d user-group calls, want 0", n)
	}
	if got := b.command(t, "ULEAD1", "report 1h"); !strings.Contains(got, "```") {
		t.Fatalf("/jit report for an approver: %s", got)
	}
	if n := groupCalls() - before; n != 0 {
		t.Errorf("an approver's /jit report made %d user-group calls, want 0", n)
	}
}

// TestSlackListFloodIsLimitedPerUser: one user firing /jit list 50 times
// is told to slow down after a few, while another user is still served.
func TestSlackListFloodIsLimitedPerUser(t *testing.T) {
	b := startBot(t)
	n := len(b.slack.Ephemerals("UALICE"))
	for range 50 {
		b.slack.SlashCommand(t, "UALICE", "list")
	}
	var limited, served int
	b.slack.WaitFor(t, "50 answers to alice's /jit list", 20*time.Second, func() bool {
		e := b.slack.Ephemerals("UALICE")[n:]
		limited, served = 0, 0
		for _, m := range e {
			if strings.Contains(m.Text, "Slow down") && strings.Contains(m.Text, "Try again in") {
				limited++
			} else {
				served++
			}
		}
		return len(e) >= 50
	})
	if limited < 40 || served > 10 {
		t.Errorf("50 rapid /jit list: %d served, %d limited; want at most 10 served", served, limited)
	}
	if got := b.command(t, "UBOB", "list"); strings.Contains(got, "Slow down") {
		t.Errorf("bob is limited by alice's flood: %s", got)
	}
}

// TestRedisClusterOverTLS: REDIS_URL=rediss-cluster:// reaches a cluster
// that serves only TLS, its certificate checked against the CA that
// SSL_CERT_FILE names; redis-cluster:// could not (no TLS at all), so a
// cluster's traffic, request records included, went in the clear.
func TestRedisClusterOverTLS(t *testing.T) {
	c := testenv.StartTLSCluster(t)
	b := startBot(t, "REDIS_URL="+c.URL(), "SSL_CERT_FILE="+c.CAFile())
	id := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.approvalDM(t, "ULEAD1", id)
	if got := b.command(t, "UALICE", "list"); !strings.Contains(got, id) {
		t.Errorf("/jit list over the TLS cluster lacks %s: %s", id, got)
	}
}
