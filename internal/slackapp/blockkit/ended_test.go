package blockkit

import (
	"strings"
	"testing"
)

// GrantEnded keeps what the requester may look back on and says when and
// why the access ended; it has nothing to show a secret with.
func TestGrantEndedKeepsTheFacts(t *testing.T) {
	r := activeSTS()
	r.State, r.RevokedAt, r.RevokedBy = "revoked", now.Add(10*60e9), r.Requester.ID
	got := allText(t, GrantEnded(r))
	for _, want := range []string{string(r.ID), r.Role, "ended", "given up by", "removed", r.AccessKeyID, r.SessionName} {
		if !strings.Contains(got, want) {
			t.Errorf("GrantEnded lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "export ") || strings.Contains(got, "jit_revoke") {
		t.Errorf("GrantEnded still has export lines or the End now button:\n%s", got)
	}
}
