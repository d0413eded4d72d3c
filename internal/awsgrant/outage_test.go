package awsgrant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
)

// TestRevokeDuringOutage checks that an AWS outage is an error the
// scheduler retries, never a false success, and that the next attempt after
// the outage succeeds.
func TestRevokeDuringOutage(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "alice")
	e.createGroup(t, "jit-prod-admin")
	arn := e.createRole(t, "prod-admin", maxSession)

	tests := []struct {
		name    string
		backend grants.Backend
		grant   grants.Grant
		action  string // the first call of Revoke, retried during the outage
		write   string // the call that ends the access, once after it
	}{
		{name: "group", backend: awsgrant.NewGroup(e.cfg, testLogger(t)), grant: groupGrant("alice", "jit-prod-admin"),
			action: "RemoveUserFromGroup", write: "RemoveUserFromGroup"},
		{name: "sts", backend: awsgrant.NewSTS(e.cfg, testLogger(t)), grant: stsGrant(arn), action: "GetRolePolicy", write: "PutRolePolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.backend.Grant(t.Context(), tt.grant); err != nil {
				t.Fatalf("Grant: %v", err)
			}

			e.proxy.Reset()
			e.proxy.Fail(true)
			if _, err := tt.backend.Revoke(t.Context(), tt.grant); err == nil {
				t.Fatalf("Revoke during an outage succeeded")
			}
			// The SDK retried, within the bounded attempts of testenv.AWSConfig.
			if n := e.proxy.Count(tt.action); n != 3 {
				t.Errorf("%d %s attempts during the outage, want 3", n, tt.action)
			}

			e.proxy.Fail(false)
			e.proxy.Reset()
			if _, err := tt.backend.Revoke(t.Context(), tt.grant); err != nil {
				t.Fatalf("Revoke after the outage: %v", err)
			}
			if n := e.proxy.Count(tt.write); n != 1 {
				t.Errorf("%d %s calls after the outage, want 1", n, tt.write)
			}
		})
	}

	t.Run("transient failure is retried by the SDK", func(t *testing.T) {
		b := awsgrant.NewGroup(e.cfg, testLogger(t))
		g := groupGrant("alice", "jit-prod-admin")
		e.proxy.Reset()
		e.proxy.FailNext("AddUserToGroup", 1)
		if _, err := b.Grant(t.Context(), g); err != nil {
			t.Fatalf("Grant after one 503: %v", err)
		}
		if n := e.proxy.Count("AddUserToGroup"); n != 2 {
			t.Errorf("%d AddUserToGroup attempts, want 2", n)
		}
	})

	t.Run("stalled AWS gives up at the caller's deadline", func(t *testing.T) {
		b := awsgrant.NewGroup(e.cfg, testLogger(t))
		e.proxy.Stall(time.Minute)
		defer e.proxy.Stall(0)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := b.Revoke(ctx, groupGrant("alice", "jit-prod-admin"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Revoke against stalled AWS = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Revoke took %v against a 200ms deadline", took)
		}
	})
}
