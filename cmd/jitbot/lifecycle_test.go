package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// aliceHoldsOpsAndAsksAdmin gives alice an active jit-ops grant and a
// pending admin request, and returns their IDs.
func (b *bot) aliceHoldsOpsAndAsksAdmin(t *testing.T) (grant, pending string) {
	t.Helper()
	grant = requestID(t, b.command(t, "UALICE", "request ops 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", grant), "jit_approve", grant)
	b.dmWith(t, "UALICE", grant, "jit-ops")
	if m := b.groupMembers(t, "jit-ops"); !slices.Equal(m, []string{"alice"}) {
		t.Fatalf("jit-ops members = %v, want [alice]", m)
	}
	pending = requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.approvalDM(t, "ULEAD1", pending)
	return grant, pending
}

// wantDeactivationEnded waits until alice is out of jit-ops and her
// pending request is denied, both audited with the reason.
func (b *bot) wantDeactivationEnded(t *testing.T, grant, pending string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	b.slack.WaitFor(t, "alice removed from jit-ops", within, func() bool { return len(b.groupMembers(t, "jit-ops")) == 0 })
	took := time.Since(start)
	b.slack.WaitFor(t, "the revocation audited with its reason", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(grant), "requester deactivated in Slack")
	})
	b.slack.WaitFor(t, "the pending request denied and audited", 10*time.Second, func() bool {
		a := b.auditText(pending)
		return strings.Contains(a, "Denied by jitbot") && strings.Contains(a, "requester deactivated in Slack")
	})
	return took
}

// TestSlackDeactivatedUserLosesAccess: a user deactivated in Slack kept
// their grants until expiry. The user_change event now ends them.
func TestSlackDeactivatedUserLosesAccess(t *testing.T) {
	b := startBot(t)
	grant, pending := b.aliceHoldsOpsAndAsksAdmin(t)
	b.slack.Deactivate(t, "UALICE", true)
	took := b.wantDeactivationEnded(t, grant, pending, 5*time.Second)
	t.Logf("deactivation to removal from the IAM group: %v", took)
}

// TestSlackMissedDeactivationCaughtByLifecyclePass: Slack's user_change
// event never arrives; the periodic pass (JIT_RECONCILE_INTERVAL, 10s
// here) finds the deactivated requester through users.info.
func TestSlackMissedDeactivationCaughtByLifecyclePass(t *testing.T) {
	b := startBot(t)
	grant, pending := b.aliceHoldsOpsAndAsksAdmin(t)
	b.slack.Deactivate(t, "UALICE", false)
	took := b.wantDeactivationEnded(t, grant, pending, 30*time.Second)
	t.Logf("missed deactivation to removal from the IAM group: %v", took)
}

// TestSlackExtensionFollowsItsOriginal: a pending extension of a grant
// an approver revoked could still be approved, into access nobody wanted.
func TestSlackExtensionFollowsItsOriginal(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request ops 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-ops")
	ack := b.command(t, "UALICE", "extend "+id+" 30m")
	ext := requestID(t, strings.ReplaceAll(ack, id, "")) // the new ID, not the original's
	dm := b.approvalDM(t, "ULEAD1", ext)

	if got := b.command(t, "ULEAD1", "revoke "+id); !strings.Contains(got, "Revoked") {
		t.Fatalf("revoke answered %q", got)
	}
	b.slack.WaitFor(t, "the extension denied and audited", 10*time.Second, func() bool {
		a := b.auditText(ext)
		return strings.Contains(a, "Denied by jitbot") && strings.Contains(a, "was revoked")
	})
	n := len(b.slack.Ephemerals("ULEAD1"))
	// The buttons are gone from the DM; a click on them, or a late one,
	// is refused all the same.
	b.slack.ForgedClick(t, "ULEAD1", dm.Channel, dm.TS, "jit_approve", ext)
	b.slack.WaitFor(t, "the late approval refused", 10*time.Second, func() bool {
		e := b.slack.Ephemerals("ULEAD1")
		return len(e) > n && strings.Contains(e[n].Text, "was revoked")
	})
	if m := b.groupMembers(t, "jit-ops"); len(m) != 0 {
		t.Errorf("jit-ops members = %v after the grant was revoked", m)
	}
	if c := b.proxy.Count("AddUserToGroup"); c != 1 {
		t.Errorf("%d AddUserToGroup calls; the extension must not be granted", c)
	}
}

// TestSlackGroupChangeIsAudited: the Slack user groups the catalog names
// decide who may approve; a change of their members shows in the audit
// channel, one of another group does not.
func TestSlackGroupChangeIsAudited(t *testing.T) {
	b := startBot(t)
	b.slack.AddUserGroup("S0MKT", "marketing", "UBOB")
	for _, change := range []struct {
		handle         string
		added, removed []string
	}{
		{"platform-leads", []string{"UEVE"}, []string{"ULEAD2"}},
		{"marketing", []string{"UEVE"}, nil},
		{"sre", nil, []string{"UBOB"}}, // named by eligible rules
	} {
		if err := b.slack.SendSubteamMembersChanged(change.handle, change.added, change.removed); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"@platform-leads: added UEVE; removed ULEAD2; named by", "@sre: removed UBOB; named by"} {
		b.slack.WaitFor(t, want+" in the audit channel", 10*time.Second, func() bool { return b.auditHas(want) })
	}
	time.Sleep(time.Second) // the three events are handled concurrently
	if b.auditHas("@marketing") {
		t.Errorf("a change of a group the catalog does not name was audited")
	}
}
