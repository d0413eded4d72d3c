package awsgrant_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
)

// dryRunLog collects what a DryRun backend logs.
type dryRunLog struct{ buf bytes.Buffer }

func (l *dryRunLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&l.buf, nil)) }

// records returns the "AWS not called" records, decoded.
func (l *dryRunLog) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if rec["msg"] == "DRY RUN: AWS not called" {
			out = append(out, rec)
		}
	}
	l.buf.Reset()
	return out
}

// wouldCall is the would_call attribute of each record.
func wouldCall(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r["would_call"].(string))
	}
	return out
}

// TestDryRunShowsWhatTheBackendsSend runs each grant through the real
// backend (against moto, through the recording proxy) and through DryRun,
// and checks that what DryRun logs and returns is what was sent on the
// wire, parameter by parameter.
func TestDryRunShowsWhatTheBackendsSend(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var log dryRunLog
	dry := awsgrant.NewDryRun(log.logger())

	t.Run("aws_sts grant", func(t *testing.T) {
		real := awsgrant.NewSTS(e.cfg, testLogger(t))
		g := stsGrant(e.createRole(t, uniqueName("dry-role"), maxSession))
		g.Approvers = []string{"U0BOB", "U0CAROL"}
		e.proxy.Reset()
		if _, err := real.Grant(ctx, g); err != nil {
			t.Fatalf("real Grant: %v", err)
		}
		getRole := onlyCall(t, e.proxy, "GetRole").Params
		sent := onlyCall(t, e.proxy, "AssumeRole").Params

		issued, err := dry.Grant(ctx, g)
		if err != nil {
			t.Fatalf("dry Grant: %v", err)
		}
		if issued.Credentials != nil {
			t.Errorf("a dry run issued credentials")
		}
		if len(issued.DryRun) != 2 {
			t.Fatalf("DryRun = %q, want GetRole and AssumeRole", issued.DryRun)
		}
		if want := "iam:GetRole RoleName=" + getRole.Get("RoleName") + " "; !strings.HasPrefix(issued.DryRun[0], want) {
			t.Errorf("first call = %q, want it to start %q", issued.DryRun[0], want)
		}
		assume := issued.DryRun[1]
		tg := tags(sent)
		doc := parsePolicy(t, sent.Get("Policy"))
		expiry := doc.Statement[len(doc.Statement)-1].Condition["DateGreaterThan"]["aws:CurrentTime"]
		for _, want := range []string{
			"sts:AssumeRole ",
			" RoleArn=" + sent.Get("RoleArn") + " ",
			" RoleSessionName=" + sent.Get("RoleSessionName") + " ",
			" DurationSeconds=" + sent.Get("DurationSeconds") + " ",
			" SourceIdentity=" + sent.Get("SourceIdentity") + " ",
			" Tags=jit-request=" + tg["jit-request"] + ",jit-approver=" + tg["jit-approver"] + " ",
			"denies role chaining and long-lived credentials, and denies everything after " + expiry + ")",
		} {
			if !strings.Contains(assume, want) {
				t.Errorf("AssumeRole line %q lacks %q", assume, want)
			}
		}
		if expiry != g.Expires.UTC().Format(time.RFC3339) {
			t.Errorf("the session policy sent ends at %s, the grant at %s", expiry, g.Expires.UTC().Format(time.RFC3339))
		}
		// 3600 s from the grant's start, as AWS would answer.
		if want := g.Start.Add(time.Hour); !issued.CredsExpire.Equal(want) {
			t.Errorf("CredsExpire = %v, want %v", issued.CredsExpire, want)
		}
		recs := log.records(t)
		if got := wouldCall(recs); !slices.Equal(got, issued.DryRun) {
			t.Errorf("logged %q, returned %q", got, issued.DryRun)
		}
		for _, r := range recs {
			if r["policy"] != sent.Get("Policy") {
				t.Errorf("logged policy %v\nsent policy   %s", r["policy"], sent.Get("Policy"))
			}
			if r["request_id"] != string(g.RequestID) {
				t.Errorf("log record names request %v, want %s", r["request_id"], g.RequestID)
			}
		}
	})

	t.Run("aws_sts early revoke and clean-up", func(t *testing.T) {
		real := awsgrant.NewSTS(e.cfg, testLogger(t))
		g := stsGrant(e.createRole(t, uniqueName("dry-role"), maxSession))
		issued, err := real.Grant(ctx, g)
		if err != nil {
			t.Fatalf("real Grant: %v", err)
		}
		g.CredsExpire = issued.CredsExpire
		e.proxy.Reset()
		realRev, err := real.Revoke(ctx, g)
		if err != nil {
			t.Fatalf("real Revoke: %v", err)
		}
		if err := real.Cleanup(ctx, g); err != nil {
			t.Fatalf("real Cleanup: %v", err)
		}
		get := e.proxy.Calls("GetRolePolicy")[0].Params
		put := onlyCall(t, e.proxy, "PutRolePolicy").Params
		dels := e.proxy.Calls("DeleteRolePolicy")
		if len(dels) != 2 {
			t.Fatalf("real Cleanup sent %d DeleteRolePolicy, want the deny's and the old form's", len(dels))
		}

		rev, err := dry.Revoke(ctx, g)
		if err != nil {
			t.Fatalf("dry Revoke: %v", err)
		}
		wantGet := "iam:GetRolePolicy RoleName=" + get.Get("RoleName") + " PolicyName=" + get.Get("PolicyName") + " "
		wantPut := "iam:PutRolePolicy RoleName=" + put.Get("RoleName") + " PolicyName=" + put.Get("PolicyName") + " "
		if len(rev.DryRun) != 2 || !strings.HasPrefix(rev.DryRun[0], wantGet) || !strings.HasPrefix(rev.DryRun[1], wantPut) {
			t.Errorf("DryRun = %q, want calls starting %q and %q", rev.DryRun, wantGet, wantPut)
		}
		// The line names the request and the statement it goes in, as sent.
		var doc struct{ Statement []struct{ Sid string } }
		if err := json.Unmarshal([]byte(put.Get("PolicyDocument")), &doc); err != nil || len(doc.Statement) != 1 {
			t.Fatalf("PutRolePolicy sent %q (%v), want one statement", put.Get("PolicyDocument"), err)
		}
		for _, want := range []string{"jit-request=" + string(g.RequestID), "statement " + doc.Statement[0].Sid + ")"} {
			if len(rev.DryRun) == 2 && !strings.Contains(rev.DryRun[1], want) {
				t.Errorf("PutRolePolicy line %q lacks %q", rev.DryRun[1], want)
			}
		}
		if !rev.CleanupAt.Equal(realRev.CleanupAt) {
			t.Errorf("dry CleanupAt = %v, real %v", rev.CleanupAt, realRev.CleanupAt)
		}
		if err := dry.Cleanup(ctx, g); err != nil {
			t.Fatalf("dry Cleanup: %v", err)
		}
		got := wouldCall(log.records(t))
		if len(got) != 5 || !slices.Equal(got[:2], rev.DryRun) {
			t.Fatalf("logged %q, want the revocation's two calls and the clean-up's three", got)
		}
		for i, want := range []string{
			wantGet,
			"iam:PutRolePolicy RoleName=" + put.Get("RoleName") + " PolicyName=" + put.Get("PolicyName") + " (takes jit-request=" + string(g.RequestID) + " out; iam:DeleteRolePolicy instead",
			"iam:DeleteRolePolicy RoleName=" + dels[1].Params.Get("RoleName") + " PolicyName=" + dels[1].Params.Get("PolicyName") + " ",
		} {
			if !strings.HasPrefix(got[2+i], want) {
				t.Errorf("clean-up call %d = %q, want it to start %q", i, got[2+i], want)
			}
		}
	})

	t.Run("aws_sts revoke after expiry calls nothing", func(t *testing.T) {
		g := stsGrant("arn:aws:iam::" + motoAccount + ":role/jit/prod-admin")
		g.Start, g.Expires = g.Start.Add(-2*time.Hour), g.Start.Add(-time.Hour)
		rev, err := dry.Revoke(ctx, g)
		if err != nil {
			t.Fatalf("dry Revoke: %v", err)
		}
		if len(rev.DryRun) != 1 || !strings.HasPrefix(rev.DryRun[0], "no AWS call: ") || !rev.CleanupAt.IsZero() {
			t.Errorf("Revocation = %+v, want one 'no AWS call' line and no clean-up", rev)
		}
		log.records(t)
	})

	t.Run("aws_iam_group", func(t *testing.T) {
		real := awsgrant.NewGroup(e.cfg, testLogger(t))
		user, group := uniqueName("dry-user"), uniqueName("jit-dry-group")
		e.createUser(t, user)
		e.createGroup(t, group)
		g := groupGrant(user, group)
		e.proxy.Reset()
		if _, err := real.Grant(ctx, g); err != nil {
			t.Fatalf("real Grant: %v", err)
		}
		if _, err := real.Revoke(ctx, g); err != nil {
			t.Fatalf("real Revoke: %v", err)
		}
		add := onlyCall(t, e.proxy, "AddUserToGroup").Params
		rm := onlyCall(t, e.proxy, "RemoveUserFromGroup").Params

		issued, err := dry.Grant(ctx, g)
		if err != nil {
			t.Fatalf("dry Grant: %v", err)
		}
		rev, err := dry.Revoke(ctx, g)
		if err != nil {
			t.Fatalf("dry Revoke: %v", err)
		}
		wantAdd := "iam:AddUserToGroup GroupName=" + add.Get("GroupName") + " UserName=" + add.Get("UserName")
		wantRm := "iam:RemoveUserFromGroup GroupName=" + rm.Get("GroupName") + " UserName=" + rm.Get("UserName")
		if !slices.Equal(issued.DryRun, []string{wantAdd}) || !slices.Equal(rev.DryRun, []string{wantRm}) {
			t.Errorf("grant %q, revoke %q; want %q, %q", issued.DryRun, rev.DryRun, wantAdd, wantRm)
		}
		if issued.Credentials != nil || !issued.CredsExpire.IsZero() {
			t.Errorf("a group grant came with credentials or their expiry: %+v", issued)
		}
		if got := wouldCall(log.records(t)); !slices.Equal(got, []string{wantAdd, wantRm}) {
			t.Errorf("logged %q", got)
		}
		if err := dry.Cleanup(ctx, g); err != nil || log.buf.Len() != 0 {
			t.Errorf("group Cleanup: err %v, logged %q; want nothing", err, log.buf.String())
		}
	})

	t.Run("refused like the real backends", func(t *testing.T) {
		for name, g := range map[string]grants.Grant{
			"not a role ARN": stsGrant("arn:aws:s3:::bucket"),
			"no IAM user":    groupGrant("", "jit-prod-admin"),
			"policy too long": func() grants.Grant {
				g := stsGrant("arn:aws:iam::" + motoAccount + ":role/x")
				g.SessionPolicy = bigPolicy()
				return g
			}(),
		} {
			_, err := dry.Grant(ctx, g)
			if !errors.Is(err, grants.ErrInvalidTarget) {
				t.Errorf("%s: err = %v, want grants.ErrInvalidTarget", name, err)
			}
		}
		if log.buf.Len() != 0 {
			t.Errorf("refused grants were logged as calls: %s", log.buf.String())
		}
	})
}

// bigPolicy is a session policy over STS's 2,048 characters.
func bigPolicy() string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` +
		strings.Repeat("b", 2100) + `/*"}]}`
}

// TestDryRunIdentityCenter: a dry run of an Identity Center grant says the
// calls it would make and calls nothing.
func TestDryRunIdentityCenter(t *testing.T) {
	d := awsgrant.NewDryRun(slog.New(slog.DiscardHandler))
	g := grants.Grant{RequestID: "JIT-DRY001", Backend: grants.BackendSSO, Target: grants.SSOTarget("222222222222", "AdministratorAccess"), Principal: "alice@example.com"}
	issued, err := d.Grant(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(issued.DryRun, "\n"); !strings.Contains(got, "sso:CreateAccountAssignment TargetId=222222222222 PermissionSet=AdministratorAccess") || !strings.Contains(got, "UserName=alice@example.com") {
		t.Errorf("dry-run grant calls:\n%s", got)
	}
	rev, err := d.Revoke(t.Context(), g)
	if err != nil || !strings.Contains(strings.Join(rev.DryRun, "\n"), "sso:DeleteAccountAssignment TargetId=222222222222") {
		t.Errorf("dry-run revoke calls %v, %v", rev.DryRun, err)
	}
	g.Backend, g.Target = grants.BackendSSOGroup, "Billing Admins"
	if issued, err := d.Grant(t.Context(), g); err != nil || !strings.Contains(strings.Join(issued.DryRun, "\n"), "GetGroupId DisplayName=Billing Admins") {
		t.Errorf("dry-run group grant calls %v, %v", issued.DryRun, err)
	}
}
