package notify_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/pace"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
	"github.com/jitbot/jitbot/internal/turns"
)

// TestReplicasTakeTurnsInTheAuditChannel: two replicas write one audit
// channel, within Slack's one budget for it. While one replica's writer
// keeps the channel busy, the other's post (a restarted replica's
// announcement) is shown within seconds, not once the first one's load
// is over: with each replica pacing only itself, the busy one took every
// turn the moment Slack's budget refilled, and the other was refused 160
// times in a row while its events piled up in its memory.
func TestReplicasTakeTurnsInTheAuditChannel(t *testing.T) {
	p := newNotifierParts(t)
	s := p.slack
	s.EnforceRateLimits(true)
	replica := func() (*notify.AuditChannel, *queue.Queue) {
		api := slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()), slack.OptionHTTPClient(&http.Client{Transport: pace.New(nil)}))
		q := queue.New(p.log)
		q.InitialInterval = 10 * time.Millisecond
		trail := notify.NewAuditChannel(api, channel, p.store, q, nil, p.log)
		trail.Turns = turns.New(p.store.Client(), "{jit}:turns:audit", time.Second, 1) // as internal/app wires it
		return trail, q
	}
	busy, busyQ := replica()
	other, otherQ := replica()

	// The busy replica: 20 requests' events a second for 8 s, far more
	// than the channel takes; its writer posts digests, one a turn.
	stop := make(chan struct{})
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r := breakGlass()
			r.ID = grants.RequestID(fmt.Sprintf("JIT-R%05d", i))
			busy.Notify(t.Context(), grants.Event{Type: grants.EventRevoked, Request: r})
		}
	}()
	time.AfterFunc(8*time.Second, func() { close(stop) })
	time.Sleep(2 * time.Second) // the channel is at its rate by now

	start := time.Now()
	other.Announce("replica other started")
	shown := waitFor(t, 15*time.Second, func() bool {
		for _, m := range s.Messages(channel) {
			if strings.Contains(m.Text, "replica other started") {
				return true
			}
		}
		return false
	})
	<-streamed
	busyQ.Wait()
	otherQ.Wait()
	// Its first post is refused (it posts at once until Slack holds the
	// channel back), the retry waits out Retry-After (1 s), and its turn
	// comes within a second: about 2 s. Starved, it waits until the busy
	// one's 8 s are over: 6 s or more.
	if took := shown.Sub(start); took > 4*time.Second {
		t.Errorf("the other replica's post was shown %v after it was made, while the busy one had the channel; want within 4s", took.Round(time.Millisecond))
	}
	refused := 0
	for _, c := range s.Calls("chat.postMessage") {
		if c.Params.Get("channel") == channel && c.Error != "" {
			refused++
		}
	}
	t.Logf("other replica's post shown after %v; %d posts to the channel refused by Slack", shown.Sub(start).Round(time.Millisecond), refused)
}
