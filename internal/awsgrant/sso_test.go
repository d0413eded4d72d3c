package awsgrant_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
)

func TestSSOConformance(t *testing.T) {
	e := newSSOEnv(t)
	ps := "JitConformance"
	psARN := e.createPermissionSet(t, ps)
	ids := map[string]string{} // user name → ID
	grantstest.TestBackend(t, grantstest.BackendHarness{
		Backend: awsgrant.NewSSO(e.cfg, "", testLogger(t)),
		NewGrant: func(t *testing.T) grants.Grant {
			user := uniqueName("user") + "@example.com"
			ids[user] = e.createSSOUser(t, user)
			return ssoGrant(user, motoAccount, ps)
		},
		HasAccess: func(t *testing.T, g grants.Grant, _ grants.Issued) bool {
			return slices.Contains(e.assignedUsers(t, motoAccount, psARN), ids[g.Principal])
		},
		MissingTarget: func(t *testing.T) grants.Grant {
			return ssoGrant(uniqueName("ghost")+"@example.com", motoAccount, ps)
		},
	})
}

// TestSSO walks one assignment through its life with the permission set
// named by name and by ARN.
func TestSSO(t *testing.T) {
	e := newSSOEnv(t)
	psARN := e.createPermissionSet(t, "JitProdAdmin")
	aliceID := e.createSSOUser(t, "alice@example.com")
	standingID := e.createSSOUser(t, "standing@example.com")
	e.createSSOUser(t, "bob@example.com")
	b := awsgrant.NewSSO(e.cfg, "", testLogger(t))
	ctx := t.Context()

	// An assignment made without jitbot must be left alone.
	if _, err := b.Grant(ctx, ssoGrant("standing@example.com", motoAccount, psARN)); err != nil {
		t.Fatalf("Grant standing: %v", err)
	}
	for _, ps := range []string{"JitProdAdmin", psARN} {
		t.Run(ps, func(t *testing.T) {
			alice := ssoGrant("alice@example.com", motoAccount, ps)
			for i := 1; i <= 2; i++ {
				e.proxy.Reset()
				issued, err := b.Grant(ctx, alice)
				if err != nil {
					t.Fatalf("Grant #%d: %v", i, err)
				}
				if issued.Credentials != nil || !issued.CredsExpire.IsZero() || issued.AWSRequestID == "" {
					t.Errorf("Grant #%d = %+v, want no credentials and an AWS request ID", i, issued)
				}
				if want := 2 - i; e.proxy.Count("CreateAccountAssignment") != want {
					t.Errorf("Grant #%d sent %d CreateAccountAssignment calls, want %d", i, e.proxy.Count("CreateAccountAssignment"), want)
				}
			}
			if got, want := sortedCopy(e.assignedUsers(t, motoAccount, psARN)), sortedCopy([]string{aliceID, standingID}); !reflect.DeepEqual(got, want) {
				t.Fatalf("assigned after two Grants = %v, want alice and standing once each %v", got, want)
			}
			members, err := b.Members(ctx, alice.Target)
			if want := []string{"alice@example.com", "standing@example.com"}; err != nil || !reflect.DeepEqual(sortedCopy(members), want) {
				t.Errorf("Members = %v, %v; want %v", members, err, want)
			}
			for i := 1; i <= 2; i++ {
				e.proxy.Reset()
				if _, err := b.Revoke(ctx, alice); err != nil {
					t.Fatalf("Revoke #%d: %v", i, err)
				}
				if want := 2 - i; e.proxy.Count("DeleteAccountAssignment") != want {
					t.Errorf("Revoke #%d sent %d DeleteAccountAssignment calls, want %d", i, e.proxy.Count("DeleteAccountAssignment"), want)
				}
			}
			if got := e.assignedUsers(t, motoAccount, psARN); !reflect.DeepEqual(got, []string{standingID}) {
				t.Fatalf("assigned after Revoke = %v, want only standing %s", got, standingID)
			}
		})
	}

	for _, g := range []grants.Grant{
		ssoGrant("bob@example.com", motoAccount, "JitProdAdmin"),        // never assigned
		ssoGrant("ghost@example.com", motoAccount, "JitProdAdmin"),      // no such user
		ssoGrant("alice@example.com", motoAccount, "NoSuchSet"),         // no such permission set
		ssoGrant("alice@example.com", "not-an-account", "JitProdAdmin"), // no such account
	} {
		if _, err := b.Revoke(ctx, g); err != nil {
			t.Errorf("Revoke of %s for %s: %v", g.Target, g.Principal, err)
		}
	}
}

// TestSSOUserGoneAfterGrant: a user deleted while assigned counts as
// revoked, and Members leaves them out.
func TestSSOUserGoneAfterGrant(t *testing.T) {
	e := newSSOEnv(t)
	psARN := e.createPermissionSet(t, "JitReadOnly")
	id := e.createSSOUser(t, "carol@example.com")
	b := awsgrant.NewSSO(e.cfg, "", testLogger(t))
	g := ssoGrant("carol@example.com", motoAccount, "JitReadOnly")
	if _, err := b.Grant(t.Context(), g); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if got := e.assignedUsers(t, motoAccount, psARN); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("assigned after Grant = %v, want [%s]", got, id)
	}
	e.deleteSSOUser(t, id)
	if members, err := b.Members(t.Context(), g.Target); err != nil || len(members) != 0 {
		t.Errorf("Members with the assigned user deleted = %v, %v; want none", members, err)
	}
	if _, err := b.Revoke(t.Context(), g); err != nil {
		t.Errorf("Revoke of a deleted user: %v", err)
	}
}

func TestSSOMissingTarget(t *testing.T) {
	e := newSSOEnv(t)
	e.createPermissionSet(t, "JitProdAdmin")
	e.createSSOUser(t, "alice@example.com")
	b := awsgrant.NewSSO(e.cfg, "", testLogger(t))
	missingARN := "arn:aws:sso:::permissionSet/" + strings.TrimPrefix(e.instance, "arn:aws:sso:::instance/") + "/ps-0000000000000000"

	tests := []struct{ name, user, account, ps, wantMsg string }{
		{name: "user missing", user: "ghost@example.com", account: motoAccount, ps: "JitProdAdmin",
			wantMsg: `invalid target: no Identity Center user "ghost@example.com" in identity store ` + e.storeID},
		{name: "permission set name missing", user: "alice@example.com", account: motoAccount, ps: "JitNope",
			wantMsg: `invalid target: no permission set named "JitNope" in Identity Center instance ` + e.instance},
		{name: "permission set ARN missing", user: "alice@example.com", account: motoAccount, ps: missingARN,
			wantMsg: `invalid target: no permission set ` + missingARN + ` in Identity Center instance ` + e.instance},
		{name: "account not an ID", user: "alice@example.com", account: "prod", ps: "JitProdAdmin",
			wantMsg: `invalid target: aws_sso target "prod/JitProdAdmin": "prod" is not an AWS account ID (12 digits)`},
		{name: "no user named", user: "", account: motoAccount, ps: "JitProdAdmin",
			wantMsg: `invalid target: the grant names no Identity Center user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Grant(t.Context(), ssoGrant(tt.user, tt.account, tt.ps))
			if !errors.Is(err, grants.ErrInvalidTarget) {
				t.Fatalf("Grant = %v, want ErrInvalidTarget", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Grant error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
	g := ssoGrant("alice@example.com", motoAccount, "JitProdAdmin")
	g.Target = "no-slash"
	if _, err := b.Grant(t.Context(), g); !errors.Is(err, grants.ErrInvalidTarget) {
		t.Errorf("Grant with target %q = %v, want ErrInvalidTarget", g.Target, err)
	}
	if _, err := b.Members(t.Context(), grants.SSOTarget(motoAccount, "JitNope")); !errors.Is(err, grants.ErrInvalidTarget) {
		t.Errorf("Members of a missing permission set = %v, want ErrInvalidTarget", err)
	}
}
