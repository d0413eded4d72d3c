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

func TestSSOGroupConformance(t *testing.T) {
	e := newSSOEnv(t)
	ids := map[string]string{} // user or group name → ID
	grantstest.TestBackend(t, grantstest.BackendHarness{
		Backend: awsgrant.NewSSOGroup(e.cfg, "", testLogger(t)),
		NewGrant: func(t *testing.T) grants.Grant {
			user, group := uniqueName("user")+"@example.com", uniqueName("jit-group")
			ids[user], ids[group] = e.createSSOUser(t, user), e.createSSOGroup(t, group)
			return ssoGroupGrant(user, group)
		},
		HasAccess: func(t *testing.T, g grants.Grant, _ grants.Issued) bool {
			return slices.Contains(e.groupMembers(t, ids[g.Target]), ids[g.Principal])
		},
		MissingTarget: func(t *testing.T) grants.Grant {
			user := uniqueName("user") + "@example.com"
			e.createSSOUser(t, user)
			return ssoGroupGrant(user, uniqueName("no-such-group"))
		},
	})
}

func TestSSOGroup(t *testing.T) {
	e := newSSOEnv(t)
	b := awsgrant.NewSSOGroup(e.cfg, "", testLogger(t))
	group := e.createSSOGroup(t, "jit-prod-admins")
	alice := e.createSSOUser(t, "alice@example.com")
	standing := e.createSSOUser(t, "standing@example.com")
	e.createSSOUser(t, "bob@example.com")
	ctx := t.Context()

	if _, err := b.Grant(ctx, ssoGroupGrant("standing@example.com", "jit-prod-admins")); err != nil {
		t.Fatalf("Grant standing: %v", err)
	}
	g := ssoGroupGrant("alice@example.com", "jit-prod-admins")
	for i := 1; i <= 2; i++ {
		e.proxy.Reset()
		issued, err := b.Grant(ctx, g)
		if err != nil {
			t.Fatalf("Grant #%d: %v", i, err)
		}
		if issued.Credentials != nil || issued.AWSRequestID == "" {
			t.Errorf("Grant #%d = %+v, want no credentials and an AWS request ID", i, issued)
		}
		if want := 2 - i; e.proxy.Count("CreateGroupMembership") != want {
			t.Errorf("Grant #%d sent %d CreateGroupMembership calls, want %d", i, e.proxy.Count("CreateGroupMembership"), want)
		}
	}
	if got, want := sortedCopy(e.groupMembers(t, group)), sortedCopy([]string{alice, standing}); !reflect.DeepEqual(got, want) {
		t.Fatalf("members after two Grants = %v, want alice and standing once each %v", got, want)
	}
	members, err := b.Members(ctx, "jit-prod-admins")
	if want := []string{"alice@example.com", "standing@example.com"}; err != nil || !reflect.DeepEqual(sortedCopy(members), want) {
		t.Errorf("Members = %v, %v; want %v", members, err, want)
	}

	for i := 1; i <= 2; i++ {
		e.proxy.Reset()
		if _, err := b.Revoke(ctx, g); err != nil {
			t.Fatalf("Revoke #%d: %v", i, err)
		}
		if want := 2 - i; e.proxy.Count("DeleteGroupMembership") != want {
			t.Errorf("Revoke #%d sent %d DeleteGroupMembership calls, want %d", i, e.proxy.Count("DeleteGroupMembership"), want)
		}
	}
	if got := e.groupMembers(t, group); !reflect.DeepEqual(got, []string{standing}) {
		t.Fatalf("members after Revoke = %v, want only standing %s", got, standing)
	}
	for _, g := range []grants.Grant{
		ssoGroupGrant("bob@example.com", "jit-prod-admins"),   // never a member
		ssoGroupGrant("ghost@example.com", "jit-prod-admins"), // no such user
		ssoGroupGrant("alice@example.com", "no-such-group"),   // no such group
	} {
		if _, err := b.Revoke(ctx, g); err != nil {
			t.Errorf("Revoke of %s from %s: %v", g.Principal, g.Target, err)
		}
	}

	// A member deleted from the identity store is revoked, and not listed.
	e.deleteSSOUser(t, standing)
	if _, err := b.Revoke(ctx, ssoGroupGrant("standing@example.com", "jit-prod-admins")); err != nil {
		t.Errorf("Revoke of a deleted user: %v", err)
	}
	if members, err := b.Members(ctx, "jit-prod-admins"); err != nil || len(members) != 0 {
		t.Errorf("Members with the only member deleted = %v, %v; want none", members, err)
	}
	if _, err := b.Members(ctx, "no-such-group"); !errors.Is(err, grants.ErrInvalidTarget) {
		t.Errorf("Members of a missing group = %v, want ErrInvalidTarget", err)
	}
}

func TestSSOGroupMissingTarget(t *testing.T) {
	e := newSSOEnv(t)
	b := awsgrant.NewSSOGroup(e.cfg, "", testLogger(t))
	e.createSSOGroup(t, "jit-prod-admins")
	e.createSSOUser(t, "alice@example.com")

	tests := []struct{ name, user, group, wantMsg string }{
		{name: "user missing", user: "ghost@example.com", group: "jit-prod-admins",
			wantMsg: `invalid target: no Identity Center user "ghost@example.com" in identity store ` + e.storeID},
		{name: "group missing", user: "alice@example.com", group: "jit-nope",
			wantMsg: `invalid target: no Identity Center group "jit-nope" in identity store ` + e.storeID},
		{name: "both missing", user: "ghost@example.com", group: "jit-nope",
			wantMsg: `invalid target: no Identity Center user "ghost@example.com" and no group "jit-nope" in identity store ` + e.storeID},
		{name: "no user named", user: "", group: "jit-prod-admins",
			wantMsg: `invalid target: the grant names no Identity Center user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Grant(t.Context(), ssoGroupGrant(tt.user, tt.group))
			if !errors.Is(err, grants.ErrInvalidTarget) {
				t.Fatalf("Grant = %v, want ErrInvalidTarget", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Grant error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}
