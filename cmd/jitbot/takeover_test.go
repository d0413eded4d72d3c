package main

import (
	"testing"
	"time"
)

// TestReplicaKilledMidGrantIsTakenOver: of two replicas on one Redis, the
// one issuing a grant is killed (SIGKILL) while its AWS call is in
// flight; the other takes the record over as soon as the dead one's
// liveness key is gone, seconds later, not when its 30 s lease lapses, and
// the requester gets the access.
func TestReplicaKilledMidGrantIsTakenOver(t *testing.T) {
	b := startBotWith(t, timingRoles)
	r2 := startReplica(t, b) // the Slack traffic goes to the newest connection
	id := requestID(t, b.command(t, "UALICE", "request window 5m rotate the replication password"))
	dm := b.approvalDM(t, "ULEAD1", id)
	release := b.proxy.Hold("AddUserToGroup")
	b.click(t, "ULEAD1", dm, "jit_approve", id)
	b.slack.WaitFor(t, "the grant's AWS call is in flight", 10*time.Second, func() bool { return b.proxy.Held("AddUserToGroup") == 1 })
	r2.cmd.Process.Kill()
	r2.cmd.Wait()
	killed := time.Now()
	release()
	// dmWith waits 10 s at most: a third of the lease.
	b.dmWith(t, "UALICE", id, "is active until")
	took := time.Since(killed)
	if logCount(b.logs, "taking over the record of a dead process") == 0 {
		t.Errorf("the surviving replica did not say it took the record over")
	}
	if n := logCount(r2.logs, `"msg":"grant failed"`); n != 0 {
		t.Errorf("the killed replica logged %d failed grants", n)
	}
	t.Logf("the grant was finished by the other replica %v after the kill (lease 30s)", took.Round(time.Millisecond))
}
