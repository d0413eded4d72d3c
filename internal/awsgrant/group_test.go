package awsgrant_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
)

func TestGroupConformance(t *testing.T) {
	e := newEnv(t)
	grantstest.TestBackend(t, grantstest.BackendHarness{
		Backend: awsgrant.NewGroup(e.cfg, testLogger(t)),
		NewGrant: func(t *testing.T) grants.Grant {
			user, group := uniqueName("user"), uniqueName("group")
			e.createUser(t, user)
			e.createGroup(t, group)
			return groupGrant(user, group)
		},
		HasAccess: func(t *testing.T, g grants.Grant, _ grants.Issued) bool {
			return slices.Contains(e.members(t, g.Target), g.Principal)
		},
		MissingTarget: func(t *testing.T) grants.Grant {
			user := uniqueName("user")
			e.createUser(t, user)
			return groupGrant(user, uniqueName("no-such-group"))
		},
	})
}

func TestGroup(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewGroup(e.cfg, testLogger(t))
	e.createGroup(t, "jit-prod-admin")
	e.createUser(t, "alice")
	e.createUser(t, "bob")
	e.createUser(t, "standing")
	ctx := t.Context()

	// A member who is there without a grant must be left alone.
	if _, err := b.Grant(ctx, groupGrant("standing", "jit-prod-admin")); err != nil {
		t.Fatalf("Grant standing: %v", err)
	}
	alice := groupGrant("alice", "jit-prod-admin")
	for i := 1; i <= 2; i++ {
		e.proxy.Reset()
		issued, err := b.Grant(ctx, alice)
		if err != nil {
			t.Fatalf("Grant #%d: %v", i, err)
		}
		if issued.Credentials != nil || !issued.CredsExpire.IsZero() {
			t.Errorf("Grant #%d issued credentials %v expiring %v, want none", i, issued.Credentials, issued.CredsExpire)
		}
		if issued.AWSRequestID == "" {
			t.Errorf("Grant #%d: AWSRequestID is empty", i)
		}
		if n := e.proxy.Count("AddUserToGroup"); n != 1 {
			t.Errorf("Grant #%d sent %d AddUserToGroup calls, want 1", i, n)
		}
	}
	if got, want := sortedCopy(e.members(t, "jit-prod-admin")), []string{"alice", "standing"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("members after Grant = %v, want %v", got, want)
	}
	if got, err := b.Members(ctx, "jit-prod-admin"); err != nil || !reflect.DeepEqual(sortedCopy(got), []string{"alice", "standing"}) {
		t.Errorf("Members = %v, %v; want [alice standing]", got, err)
	}

	for i := 1; i <= 2; i++ {
		e.proxy.Reset()
		if _, err := b.Revoke(ctx, alice); err != nil {
			t.Fatalf("Revoke #%d: %v", i, err)
		}
		if n := e.proxy.Count("RemoveUserFromGroup"); n != 1 {
			t.Errorf("Revoke #%d sent %d RemoveUserFromGroup calls, want 1", i, n)
		}
	}
	if got := e.members(t, "jit-prod-admin"); !reflect.DeepEqual(got, []string{"standing"}) {
		t.Fatalf("members after Revoke = %v, want [standing]", got)
	}
	if _, err := b.Revoke(ctx, groupGrant("bob", "jit-prod-admin")); err != nil {
		t.Errorf("Revoke of a user who never was a member: %v", err)
	}
	if _, err := b.Revoke(ctx, groupGrant("ghost", "jit-prod-admin")); err != nil {
		t.Errorf("Revoke of a user who does not exist: %v", err)
	}
	if _, err := b.Revoke(ctx, groupGrant("alice", "no-such-group")); err != nil {
		t.Errorf("Revoke from a group that does not exist: %v", err)
	}
	if _, err := b.Members(ctx, "no-such-group"); !errors.Is(err, grants.ErrInvalidTarget) {
		t.Errorf("Members of a missing group = %v, want ErrInvalidTarget", err)
	}
}

func TestGroupMissingTarget(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewGroup(e.cfg, testLogger(t))
	e.createGroup(t, "jit-prod-admin")
	e.createUser(t, "alice")

	tests := []struct{ name, user, group, wantMsg string }{
		{name: "user missing", user: "ghost", group: "jit-prod-admin", wantMsg: `invalid target: IAM user "ghost" does not exist`},
		{name: "group missing", user: "alice", group: "jit-nope", wantMsg: `invalid target: IAM group "jit-nope" does not exist`},
		{name: "both missing", user: "ghost", group: "jit-nope", wantMsg: `invalid target: IAM user "ghost" and IAM group "jit-nope" do not exist`},
		{name: "no user named", user: "", group: "jit-prod-admin", wantMsg: `invalid target: the grant names no IAM user or group (user "", group "jit-prod-admin")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Grant(t.Context(), groupGrant(tt.user, tt.group))
			if !errors.Is(err, grants.ErrInvalidTarget) {
				t.Fatalf("Grant = %v, want ErrInvalidTarget", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Grant error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}
