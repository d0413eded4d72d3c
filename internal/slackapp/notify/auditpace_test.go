package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/pace"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// oneApprover answers that U0ANN approves everything, and has no records
// of its own: the event's copy is shown.
type oneApprover struct{}

func (oneApprover) Get(context.Context, grants.RequestID) (*grants.Request, error) {
	return nil, grants.ErrNotFound
}
func (oneApprover) Approvers(context.Context, *grants.Request) ([]string, error) {
	return []string{"U0ANN"}, nil
}

// TestBurstUnderSlacksLimitsShowsEveryEvent: with the fake enforcing
// Slack's limits (about a post a second in the audit channel), a burst of
// requests' events ends with every event shown in the channel, in order,
// in fewer posts than events, and with every request's parent showing its
// final state. An approver's DM queued behind the burst is sent at once:
// DMs never wait for the audit channel.
func TestBurstUnderSlacksLimitsShowsEveryEvent(t *testing.T) {
	p := newNotifierParts(t)
	s, q := p.slack, p.q
	s.AddUser(slackfake.User{ID: "U0ANN", Name: "ann"})
	s.EnforceRateLimits(true)
	var record records
	trail := notify.NewAuditChannel(p.api, channel, p.store, q, &record, p.log)
	trail.UpdateGap = 50 * time.Millisecond
	m := notify.NewMessenger(oneApprover{}, p.api, q, p.store, p.log)

	states := []grants.State{grants.Pending, grants.Granting, grants.Active, grants.Active, grants.Revoked}
	types := []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventExpiring, grants.EventRevoked}
	const requests = 8
	want := map[grants.RequestID][]string{} // each request's event lines, in order
	for i := range requests {
		r := breakGlass()
		r.ID, r.AutoApproved = grants.RequestID(fmt.Sprintf("JIT-B%03d", i)), false
		for j, typ := range types {
			e := grants.Event{Type: typ, Request: r}
			e.Request.State = states[j]
			record.set(e.Request)
			trail.Notify(t.Context(), e)
			want[r.ID] = append(want[r.ID], blockkit.AuditEvent(e))
		}
	}
	asked := breakGlass()
	asked.ID, asked.State, asked.AutoApproved = "JIT-ASKED", grants.Pending, false
	start := time.Now()
	m.Notify(t.Context(), grants.Event{Type: grants.EventRequested, Request: asked})
	dm := waitFor(t, 5*time.Second, func() bool { return len(s.Messages(s.DMChannel("U0ANN"))) > 0 })
	if took := dm.Sub(start); took > time.Second {
		t.Errorf("approver's DM sent %v after the request, behind the audit channel's burst", took)
	}
	q.Wait()
	t.Logf("burst shown and caught up in %v", time.Since(start))

	posts := 0
	for _, c := range s.Calls("chat.postMessage") {
		if c.Params.Get("channel") == channel && c.Error == "" {
			posts++
		}
	}
	if events := requests * len(types); posts >= events {
		t.Errorf("%d posts in the audit channel for %d events, want fewer", posts, events)
	}
	t.Logf("%d events in %d posts (%d chat.update)", requests*len(types), posts, len(s.Calls("chat.update")))

	msgs := s.Messages(channel)
	for id, lines := range want {
		refs, err := p.store.Refs(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		parent := refs["audit"]
		var shown strings.Builder // what the channel shows of id, in order
		for _, msg := range msgs {
			switch {
			case msg.TS == parent:
				if !strings.Contains(strings.ToUpper(msg.Text+string(msg.Blocks)), "REVOKED") {
					t.Errorf("%s: parent does not show its final state: %s", id, msg.Text)
				}
			case msg.ThreadTS == parent && parent != "":
				shown.WriteString(msg.Text + "\n")
			case strings.HasPrefix(msg.Text, "Audit digest"):
				for _, section := range strings.Split(msg.Text, "\n\n") {
					if strings.HasPrefix(section, "`"+string(id)+"`") {
						shown.WriteString(section + "\n")
					}
				}
			}
		}
		if parent == "" {
			t.Errorf("%s: no parent message", id)
		}
		rest := shown.String()
		for _, line := range lines {
			i := strings.Index(rest, line)
			if i < 0 {
				t.Errorf("%s: event %q not shown (in order) in the channel: %q", id, line, shown.String())
				break
			}
			rest = rest[i+len(line):]
		}
	}
}

// waitFor polls cond until it holds, and returns when it did.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not done after %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// TestReplyDoesNotWaitForTheParentsUpdate: chat.update's budget is the
// workspace's, shared with the DMs; when Slack refuses the parent's
// update, the event's reply is posted at once and the parent catches up
// after.
func TestReplyDoesNotWaitForTheParentsUpdate(t *testing.T) {
	p := newNotifierParts(t)
	s, q := p.slack, p.q
	r := breakGlass()
	r.AutoApproved, r.State = false, grants.Pending
	var record records
	record.set(r)
	trail := notify.NewAuditChannel(p.api, channel, p.store, q, &record, p.log)
	trail.UpdateGap = 0
	trail.Notify(t.Context(), grants.Event{Type: grants.EventRequested, Request: r})
	q.Wait()
	s.RateLimit("chat.update", 1, time.Second)
	r.State = grants.Denied
	record.set(r)
	trail.Notify(t.Context(), grants.Event{Type: grants.EventDenied, Request: r})
	q.Wait()

	reply, update := -1, -1
	for i, c := range s.Calls("") {
		switch {
		case c.Method == "chat.postMessage" && c.Params.Get("thread_ts") != "" && reply < 0 && i > 2:
			reply = i
		case c.Method == "chat.update" && c.Error == "":
			update = i
		}
	}
	if reply < 0 || update < 0 || reply > update {
		t.Errorf("reply is call %d and the parent's update call %d; want the reply first, then the update", reply, update)
	}
	if msgs := s.Messages(channel); !strings.Contains(strings.ToUpper(msgs[0].Text+string(msgs[0].Blocks)), "DENIED") {
		t.Errorf("parent does not show its final state: %s", msgs[0].Text)
	}
}

// TestRepliesDoNotQueueBehindDMUpdates: once Slack has refused a
// chat.update, the bot's calls take turns at its rate (pace), and in an
// incident the approvers' DM updates queue for them by the hundred. The
// audit channel does not queue behind them: a request's new events are in
// its thread at once, and its parent catches up when a turn is free.
func TestRepliesDoNotQueueBehindDMUpdates(t *testing.T) {
	p := newNotifierParts(t)
	s := p.slack
	api := slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()), slack.OptionHTTPClient(&http.Client{Transport: pace.New(nil)}))
	r := breakGlass()
	r.AutoApproved, r.State = false, grants.Pending
	var record records
	record.set(r)
	trail := notify.NewAuditChannel(api, channel, p.store, p.q, &record, p.log)
	trail.UpdateGap = 50 * time.Millisecond
	trail.Notify(t.Context(), grants.Event{Type: grants.EventRequested, Request: r})
	p.q.Wait()
	parent := s.Messages(channel)[0]

	// Slack refuses one update; four more (the approvers' DMs) then
	// queue for chat.update's turns, 50 a minute, the last about 5 s on.
	s.RateLimit("chat.update", 1, time.Second)
	if _, _, _, err := api.UpdateMessageContext(t.Context(), channel, parent.TS, slack.MsgOptionText("x", false)); err == nil {
		t.Fatal("the refused update succeeded")
	}
	var dms sync.WaitGroup
	for range 4 {
		dms.Go(func() {
			if _, _, _, err := api.UpdateMessageContext(context.Background(), channel, parent.TS, slack.MsgOptionText("a DM's update", false)); err != nil {
				t.Errorf("queued update: %v", err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	r.State = grants.Active
	record.set(r)
	granted := grants.Event{Type: grants.EventGranted, Request: r}
	trail.Notify(t.Context(), granted)
	line := blockkit.AuditEvent(granted)
	shown := waitFor(t, 10*time.Second, func() bool {
		for _, m := range s.Messages(channel) {
			if m.ThreadTS == parent.TS && m.TS != parent.TS && strings.Contains(m.Text, line) {
				return true
			}
		}
		return false
	})
	if took := shown.Sub(start); took > 1500*time.Millisecond {
		t.Errorf("the grant's reply came %v after the event, behind the DMs' queued updates", took)
	}
	// The parent is behind now and its catch-up is refused while the DMs
	// hold the turns; the writer does not sleep out that refusal's
	// Retry-After either (seconds, once the DMs have taken their turns,
	// after Slack's): the next event is shown at once too.
	time.Sleep(1500 * time.Millisecond)
	start = time.Now()
	expiring := grants.Event{Type: grants.EventExpiring, Request: r}
	trail.Notify(t.Context(), expiring)
	line = blockkit.AuditEvent(expiring)
	shown = waitFor(t, 10*time.Second, func() bool {
		for _, m := range s.Messages(channel) {
			if m.ThreadTS == parent.TS && strings.Contains(m.Text, line) {
				return true
			}
		}
		return false
	})
	if took := shown.Sub(start); took > 1500*time.Millisecond {
		t.Errorf("the next event's reply came %v after it, behind a refused catch-up", took)
	}
	dms.Wait()
	p.q.Wait()
	if got := s.Messages(channel)[0]; got.TS != parent.TS || !strings.Contains(strings.ToUpper(got.Text+string(got.Blocks)), "ACTIVE") {
		t.Errorf("the parent did not catch up once a turn was free: %q", got.Text)
	}
}

// records stands in for the record store: Get answers with the copy
// last set, as the store answers with the record as it is now.
type records struct {
	mu sync.Mutex
	m  map[grants.RequestID]grants.Request
}

func (rs *records) set(r grants.Request) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m == nil {
		rs.m = map[grants.RequestID]grants.Request{}
	}
	rs.m[r.ID] = r
}

func (rs *records) Get(_ context.Context, id grants.RequestID) (*grants.Request, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.m[id]
	if !ok {
		return nil, grants.ErrNotFound
	}
	return &r, nil
}
