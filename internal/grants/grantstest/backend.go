package grantstest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// BackendHarness is what TestBackend needs to exercise a grants.Backend
// against real (or emulated) AWS.
type BackendHarness struct {
	Backend grants.Backend
	// NewGrant returns a fresh valid grant whose target exists, for a
	// request ID not used before, running from about now for an hour.
	NewGrant func(t *testing.T) grants.Grant
	// HasAccess observes AWS state and reports whether the access of g,
	// issued as issued, is in force.
	HasAccess func(t *testing.T, g grants.Grant, issued grants.Issued) bool
	// MissingTarget returns a grant like NewGrant's whose target (role,
	// group or user) does not exist.
	MissingTarget func(t *testing.T) grants.Grant
}

// TestBackend checks the promises of grants.Backend: Grant gives access,
// Revoke takes it away and succeeds whenever the access is already gone,
// Cleanup succeeds when there is nothing left, and a missing target is a
// grants.ErrInvalidTarget whose message names it.
func TestBackend(t *testing.T, h BackendHarness) {
	t.Run("grant gives access", func(t *testing.T) {
		g := h.NewGrant(t)
		issued := grant(t, h, &g)
		if !h.HasAccess(t, g, issued) {
			t.Fatalf("no access after Grant of %s", g.RequestID)
		}
	})

	t.Run("revoke takes access away", func(t *testing.T) {
		g := h.NewGrant(t)
		issued := grant(t, h, &g)
		rev := revoke(t, h, g)
		if h.HasAccess(t, g, issued) {
			t.Fatalf("access still in force after Revoke of %s", g.RequestID)
		}
		if !rev.CleanupAt.IsZero() && !rev.CleanupAt.After(time.Now()) {
			t.Errorf("Revoke CleanupAt = %v, want zero or in the future", rev.CleanupAt)
		}
	})

	t.Run("revoke twice succeeds", func(t *testing.T) {
		g := h.NewGrant(t)
		issued := grant(t, h, &g)
		revoke(t, h, g)
		revoke(t, h, g)
		if h.HasAccess(t, g, issued) {
			t.Fatalf("access in force after two Revokes of %s", g.RequestID)
		}
	})

	t.Run("revoke of what was never granted succeeds", func(t *testing.T) {
		revoke(t, h, h.NewGrant(t))
	})

	t.Run("granting twice is undone by one revoke", func(t *testing.T) {
		g := h.NewGrant(t)
		first := grant(t, h, &g)
		second := grant(t, h, &g)
		revoke(t, h, g)
		if h.HasAccess(t, g, first) || h.HasAccess(t, g, second) {
			t.Fatalf("access in force after Grant twice and Revoke once of %s", g.RequestID)
		}
	})

	t.Run("grant on a missing target is ErrInvalidTarget", func(t *testing.T) {
		g := h.MissingTarget(t)
		_, err := h.Backend.Grant(t.Context(), g)
		if !errors.Is(err, grants.ErrInvalidTarget) {
			t.Fatalf("Grant on missing target %q (user %q) = %v, want ErrInvalidTarget", g.Target, g.Principal, err)
		}
		// The message goes to the requester; it must say what is missing.
		if msg := err.Error(); !strings.Contains(msg, g.Target) && (g.Principal == "" || !strings.Contains(msg, g.Principal)) {
			t.Errorf("Grant error %q names neither target %q nor user %q", msg, g.Target, g.Principal)
		}
	})

	t.Run("revoke after a failed grant succeeds", func(t *testing.T) {
		// The scheduler revokes whatever a failed grant may have done.
		g := h.MissingTarget(t)
		h.Backend.Grant(t.Context(), g)
		revoke(t, h, g)
	})

	t.Run("cleanup twice succeeds", func(t *testing.T) {
		g := h.NewGrant(t)
		grant(t, h, &g)
		revoke(t, h, g)
		for i := range 2 {
			if err := h.Backend.Cleanup(t.Context(), g); err != nil {
				t.Fatalf("Cleanup #%d of %s: %v", i+1, g.RequestID, err)
			}
		}
	})

	t.Run("cleanup without revoke succeeds", func(t *testing.T) {
		if err := h.Backend.Cleanup(t.Context(), h.NewGrant(t)); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
	})
}

// grant issues g and records CredsExpire on it, as the scheduler does.
func grant(t *testing.T, h BackendHarness, g *grants.Grant) grants.Issued {
	t.Helper()
	issued, err := h.Backend.Grant(t.Context(), *g)
	if err != nil {
		t.Fatalf("Grant %s: %v", g.RequestID, err)
	}
	g.CredsExpire = issued.CredsExpire
	return issued
}

func revoke(t *testing.T, h BackendHarness, g grants.Grant) grants.Revocation {
	t.Helper()
	rev, err := h.Backend.Revoke(t.Context(), g)
	if err != nil {
		t.Fatalf("Revoke %s: %v", g.RequestID, err)
	}
	return rev
}
