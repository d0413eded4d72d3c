package cloudtrail_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/cloudtrail"
	"github.com/jitbot/jitbot/internal/cloudtrail/cloudtrailfake"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/testenv"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func grant(id, backend, key, principal string) *grants.Request {
	return &grants.Request{ID: grants.RequestID(id), Backend: backend, AccessKeyID: key, Principal: principal,
		State: grants.Revoked, GrantedAt: t0, ExpiresAt: t0.Add(time.Hour), RevokedAt: t0.Add(30 * time.Minute)}
}

func newLookup(t *testing.T) (*cloudtrail.Lookup, *cloudtrailfake.Server) {
	ct := cloudtrailfake.Start(t)
	ev := func(name, src, key, user string, min int, errCode string) cloudtrailfake.Event {
		return cloudtrailfake.Event{Name: name, Source: src, AccessKeyID: key, Username: user, Time: t0.Add(time.Duration(min) * time.Minute), ErrorCode: errCode}
	}
	ct.Add(
		ev("GetObject", "s3.amazonaws.com", "ASIAUSED", "", 1, ""),
		ev("GetObject", "s3.amazonaws.com", "ASIAUSED", "", 2, ""),
		ev("GetObject", "s3.amazonaws.com", "ASIAUSED", "", 3, ""),
		ev("ListBuckets", "s3.amazonaws.com", "ASIAUSED", "", 4, ""),
		ev("TerminateInstances", "ec2.amazonaws.com", "ASIAUSED", "", 5, "UnauthorizedOperation"),
		ev("GetObject", "s3.amazonaws.com", "ASIAUSED", "", 45, ""), // after the grant ended
		ev("DescribeDBInstances", "rds.amazonaws.com", "", "alice", 10, ""),
		ev("DescribeDBInstances", "rds.amazonaws.com", "", "bob", 10, ""),
	)
	return cloudtrail.NewLookup(testenv.AWSConfig(t, ct.URL())), ct
}

func TestSummaries(t *testing.T) {
	l, ct := newLookup(t)
	tests := []struct {
		name string
		r    *grants.Request
		want string
	}{
		{"sts grant used", grant("JIT-AAAAA2", grants.BackendSTS, "ASIAUSED", ""),
			"5 API calls, 1 failed; top: s3:GetObject ×3, ec2:TerminateInstances ×1, s3:ListBuckets ×1"},
		{"sts grant never used", grant("JIT-AAAAA3", grants.BackendSTS, "ASIANEVER", ""), "never used"},
		{"group grant by IAM user within the window", grant("JIT-AAAAA4", grants.BackendGroup, "", "alice"),
			"1 API calls, 0 failed; top: rds:DescribeDBInstances ×1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := l.Summarize(t.Context(), tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("summary = %q, want %q", got, tt.want)
			}
		})
	}
	if ct.Calls() < 3 {
		t.Errorf("%d LookupEvents calls; the 5 used events span two pages", ct.Calls())
	}
}

type recorder struct {
	mu     sync.Mutex
	events []grants.Event
}

func (r *recorder) Notify(_ context.Context, e grants.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

type getter map[grants.RequestID]*grants.Request

func (g getter) Get(_ context.Context, id grants.RequestID) (*grants.Request, error) {
	if r, ok := g[id]; ok {
		return r, nil
	}
	return nil, grants.ErrNotFound
}

func TestWatcherLooksTwiceAndSurvivesRestart(t *testing.T) {
	l, _ := newLookup(t)
	srv := testenv.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer client.Close()
	r := grant("JIT-AAAAA2", grants.BackendSTS, "ASIAUSED", "")
	out := &recorder{}
	now := t0.Add(30 * time.Minute)
	newWatcher := func() *cloudtrail.Watcher {
		w := cloudtrail.NewWatcher(client, "jitbot", l, getter{r.ID: r}, out, slog.New(slog.DiscardHandler))
		w.Delay = 20 * time.Minute
		cloudtrail.SetClock(w, func() time.Time { return now })
		return w
	}
	w := newWatcher()
	w.Notify(t.Context(), grants.Event{Type: grants.EventRevoked, Request: *r})
	if err := w.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(out.events) != 1 || !strings.HasSuffix(out.events[0].Err, "(first look)") || out.events[0].Type != grants.EventUsage {
		t.Fatalf("after the grant ended: %+v", out.events)
	}
	// A restart: a new watcher finds the second look in Redis.
	now = now.Add(20 * time.Minute)
	w = newWatcher()
	if err := w.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(out.events) != 2 || !strings.Contains(out.events[1].Err, "after CloudTrail's delivery delay") || !strings.HasPrefix(out.events[1].Err, "5 API calls") {
		t.Fatalf("after the delay: %+v", out.events)
	}
}
