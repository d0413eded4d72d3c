package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestSeededGrantsAreCopiesOfARealOne makes the template grant through the
// real service (redisstore on redis-server, the IAM group backend on moto)
// and checks that a seeded copy has the same fields, with its own
// identity and times moved together, and is due at its expiry.
func TestSeededGrantsAreCopiesOfARealOne(t *testing.T) {
	ctx := t.Context()
	rds, moto := testenv.StartRedis(t), testenv.StartMoto(t)
	cfg := testenv.AWSConfig(t, moto.URL())
	iamc := iam.NewFromConfig(cfg)
	lay := newLayout(2, 6)
	if err := (&stack{iam: iamc, lay: lay}).fixtures(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "roles.yaml")
	if err := os.WriteFile(path, []byte(catalogYAML(lay)), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := rules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := redisstore.Open(ctx, rds.URL(), redisstore.Options{SigningKeys: [][]byte{[]byte(signingKey)}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	requester := rules.User{ID: userID(0), Name: iamUser(0), Email: email(0), Groups: []string{"sre"}}
	dir := peopleByID{
		templateUserID: {ID: templateUserID, Name: templateIAM, Email: templateIAM + "@example.com"},
		approverID:     {ID: approverID, Name: "lead", Email: "lead@example.com"},
	}

	tmpl, err := makeTemplate(ctx, store, cat, dir, cfg, groupRole(0), "")
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.State != grants.Active || tmpl.Principal != templateIAM || len(tmpl.Approvals) != 1 || tmpl.GrantAWSRequestID == "" || len(tmpl.Journal) != 0 {
		t.Fatalf("template = %+v", tmpl)
	}
	if done, err := store.Get(ctx, tmpl.ID); err != nil || done.State != grants.Revoked {
		t.Errorf("template after makeTemplate: %+v, %v; want revoked", done, err)
	}
	out, err := iamc.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String(groupName(0))})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Users) != 0 {
		t.Errorf("group %s still has members %v after the template was revoked", groupName(0), out.Users)
	}

	role, _ := cat.Role(groupRole(1))
	expires := time.Now().Add(time.Minute).Truncate(time.Second)
	clone, err := cloneGrant(tmpl, role, requester, grantSpec{principal: iamUser(0), target: groupName(1)}, expires, "aws-request-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, clone); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, clone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := slices.Sorted(maps.Keys(fields(t, tmpl))), slices.Sorted(maps.Keys(fields(t, got))); !slices.Equal(a, b) {
		t.Errorf("fields of the service's record %v, of the copy %v", a, b)
	}
	if got.ID == tmpl.ID || got.State != grants.Active || got.Role != groupRole(1) || got.Target != groupName(1) ||
		got.Principal != iamUser(0) || got.Requester.ID != userID(0) || got.GrantAWSRequestID != "aws-request-1" {
		t.Errorf("copy = %+v", got)
	}
	shift := expires.Sub(tmpl.ExpiresAt)
	for name, pair := range map[string][2]time.Time{
		"expires_at": {tmpl.ExpiresAt, got.ExpiresAt}, "granted_at": {tmpl.GrantedAt, got.GrantedAt},
		"created_at": {tmpl.CreatedAt, got.CreatedAt}, "deadline": {tmpl.Deadline, got.Deadline},
		"approvals[0].at": {tmpl.Approvals[0].At, got.Approvals[0].At},
	} {
		if !pair[0].Add(shift).Equal(pair[1]) {
			t.Errorf("%s: template %v, copy %v; want moved by %v", name, pair[0], pair[1], shift)
		}
	}
	ids, err := store.Claim(ctx, expires.Add(-time.Millisecond), time.Second, 10)
	if err != nil || len(ids) != 0 {
		t.Errorf("claim before the expiry = %v, %v; want nothing", ids, err)
	}
	ids, err = store.Claim(ctx, expires, time.Second, 10)
	if err != nil || !slices.Equal(ids, []grants.RequestID{clone.ID}) {
		t.Errorf("claim at the expiry = %v, %v; want %s", ids, err, clone.ID)
	}
}

// fields is the record's JSON object, field by field.
func fields(t *testing.T, r *grants.Request) map[string]json.RawMessage {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// peopleByID knows people by Slack ID.
type peopleByID map[string]rules.User

func (d peopleByID) User(_ context.Context, id string) (rules.User, error) { return d[id], nil }

func (peopleByID) GroupMembers(context.Context, string) ([]string, error) { return nil, nil }
