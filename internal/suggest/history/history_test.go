package history_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/cloudtrail"
	"github.com/jitbot/jitbot/internal/cloudtrail/cloudtrailfake"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/suggest"
	"github.com/jitbot/jitbot/internal/suggest/history"
	"github.com/jitbot/jitbot/internal/testenv"
)

// op is one kind of call of the script, with what the test knows of it
// by construction: its IAM name, whether it writes, the ARN it names.
type op struct {
	source, event, iam string
	write              bool
	arn                string
}

var ops = []op{
	{"s3.amazonaws.com", "GetObject", "s3:GetObject", false, "arn:aws:s3:::app-logs/today.log"},
	{"s3.amazonaws.com", "PutObject", "s3:PutObject", true, "arn:aws:s3:::app-logs/today.log"},
	{"ec2.amazonaws.com", "DescribeInstances", "ec2:DescribeInstances", false, ""},
	{"lambda.amazonaws.com", "ListFunctions20150331", "lambda:ListFunctions", false, ""},
	{"dynamodb.amazonaws.com", "Query", "dynamodb:Query", false, "arn:aws:dynamodb:us-east-1:123456789012:table/orders"},
}

type scripted struct {
	key, user string // how CloudTrail knows the grant
	start     time.Time
	minutes   []int // call times within the hour-long grant
	ops       []int // index into ops, per call
}

// script is a random but seeded history: grants of readonly, most used,
// some not, one an IAM group grant found by user name.
func script(base time.Time) []scripted {
	rng := rand.New(rand.NewPCG(20, 2))
	var out []scripted
	for i := range 9 {
		s := scripted{key: fmt.Sprintf("ASIAGRANT%d", i), start: base.Add(time.Duration(i) * 2 * time.Hour)}
		if i == 8 {
			s.key, s.user = "", "alice"
		}
		if i%4 != 3 { // every fourth grant is never used
			for range 1 + rng.IntN(6) {
				s.minutes = append(s.minutes, rng.IntN(60))
				s.ops = append(s.ops, rng.IntN(len(ops)))
			}
		}
		out = append(out, s)
	}
	return out
}

// TestLoadFromAuditLogAndCloudTrail: a scripted history in a real Redis
// audit log and the CloudTrail fake; the expected figures are computed
// here from the script, not by package suggest.
func TestLoadFromAuditLogAndCloudTrail(t *testing.T) {
	rd := testenv.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	t.Cleanup(func() { client.Close() })
	log := auditlog.New(client, "jitbot", nil)
	ct := cloudtrailfake.Start(t)
	ctx := t.Context()

	base := time.Now().Add(-30 * 24 * time.Hour).UTC().Truncate(time.Minute)
	hist := script(base)
	end := func(s scripted) time.Time { return s.start.Add(time.Hour) }
	for i, s := range hist {
		r := grants.Request{ID: grants.RequestID(fmt.Sprintf("JIT-HIST%d", i)), Role: "readonly", Backend: grants.BackendSTS,
			AccessKeyID: s.key, State: grants.Revoked, GrantedAt: s.start, ExpiresAt: end(s), RevokedAt: end(s)}
		if s.user != "" {
			r.Backend, r.Principal = grants.BackendGroup, s.user
		}
		if _, err := log.AppendEvent(ctx, grants.Event{Type: grants.EventRevoked, At: end(s), Request: r}); err != nil {
			t.Fatal(err)
		}
		for j, m := range s.minutes {
			o := ops[s.ops[j]]
			e := cloudtrailfake.Event{Name: o.event, Source: o.source, AccessKeyID: s.key, Username: s.user, Time: s.start.Add(time.Duration(m) * time.Minute)}
			if o.arn != "" {
				e.Resources = []string{o.arn}
			}
			ct.Add(e)
		}
		// Noise the suggestion must ignore: a call after the grant ended,
		// an event that names no IAM action, and a call it was refused.
		ct.Add(cloudtrailfake.Event{Name: "DeleteBucket", Source: "s3.amazonaws.com", AccessKeyID: s.key, Username: s.user, Time: end(s).Add(5 * time.Minute)},
			cloudtrailfake.Event{Name: "<!channel> sign-in", Source: "signin.amazonaws.com", AccessKeyID: s.key, Username: s.user, Time: s.start.Add(time.Minute)})
		if len(s.minutes) > 0 {
			ct.Add(cloudtrailfake.Event{Name: "TerminateInstances", Source: "ec2.amazonaws.com", AccessKeyID: s.key, Username: s.user,
				Time: s.start.Add(time.Duration(s.minutes[0]) * time.Minute), ErrorCode: "Client.UnauthorizedOperation"})
		}
	}
	// Another role's grant, whose calls are not readonly's.
	other := grants.Request{ID: "JIT-OTHER", Role: "admin", Backend: grants.BackendSTS, AccessKeyID: "ASIAOTHER", State: grants.Revoked,
		GrantedAt: base, ExpiresAt: base.Add(time.Hour), RevokedAt: base.Add(time.Hour)}
	if _, err := log.AppendEvent(ctx, grants.Event{Type: grants.EventRevoked, At: base, Request: other}); err != nil {
		t.Fatal(err)
	}
	ct.Add(cloudtrailfake.Event{Name: "DeleteTable", Source: "dynamodb.amazonaws.com", AccessKeyID: "ASIAOTHER", Time: base.Add(time.Minute)})

	got, err := history.Load(ctx, log, cloudtrail.NewLookup(testenv.AWSConfig(t, ct.URL())), "readonly", history.Scan{Since: time.Now().Add(-90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s := suggest.Build("readonly", 4*time.Hour, got)

	// The expected answer, from the script alone.
	wantCalls, wantARNs := map[string]int{}, map[string]string{}
	var used []time.Duration
	wantUsed, wantReadOnly := 0, 0
	for _, h := range hist {
		if len(h.minutes) == 0 {
			continue
		}
		wantUsed++
		wrote := false
		for _, i := range h.ops {
			wantCalls[ops[i].iam]++
			wantARNs[ops[i].iam] = ops[i].arn
			wrote = wrote || ops[i].write
		}
		if !wrote {
			wantReadOnly++
		}
		used = append(used, time.Duration(slices.Max(h.minutes)-slices.Min(h.minutes))*time.Minute)
	}
	slices.Sort(used)
	p90 := used[(len(used)*9+9)/10-1] // nearest rank: the ceil(0.9 n)-th

	t.Logf("script: %d grants, %d used, %d read-only, p90 %s, calls %v", len(hist), wantUsed, wantReadOnly, p90, wantCalls)
	if s.Grants != len(hist) || s.Used != wantUsed || s.ReadOnly != wantReadOnly {
		t.Errorf("grants %d used %d read-only %d; want %d, %d, %d", s.Grants, s.Used, s.ReadOnly, len(hist), wantUsed, wantReadOnly)
	}
	if s.Skipped != len(hist) {
		t.Errorf("%d events skipped; want the %d that named no IAM action", s.Skipped, len(hist))
	}
	if s.UsedP90 != p90 {
		t.Errorf("p90 of used time %s; want %s (of %v)", s.UsedP90, p90, used)
	}
	gotCalls := map[string]int{}
	for _, u := range s.Actions {
		gotCalls[u.Action.String()] = u.Calls
	}
	if !maps.Equal(gotCalls, wantCalls) {
		t.Errorf("actions %v; want %v", gotCalls, wantCalls)
	}

	var p suggest.Policy
	if err := json.Unmarshal([]byte(s.Policy.JSON()), &p); err != nil {
		t.Fatalf("policy is not JSON: %v", err)
	}
	allowed := map[string]string{}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			if len(st.Resource) != 1 {
				t.Errorf("%s allowed on %v; want one resource", a, st.Resource)
			}
			allowed[a] = st.Resource[0]
		}
	}
	for a, arn := range wantARNs {
		if want := cmp.Or(arn, "*"); allowed[a] != want {
			t.Errorf("policy allows %s on %q; want %q", a, allowed[a], want)
		}
	}
	if len(allowed) != len(wantARNs) {
		t.Errorf("policy allows %v; want exactly %v", allowed, wantARNs)
	}
}
