package slackfake_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestProgramAPI drives the fake through the error-returning API a program
// without testing.TB uses.
func TestProgramAPI(t *testing.T) {
	s := slackfake.New(slackfake.WithConnectTimeout(200 * time.Millisecond))
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addPeople(s)

	if _, err := s.SendSlashCommand("U0ALICE", "C0GENERAL", "roles"); err == nil || !strings.Contains(err.Error(), "no bot connected") {
		t.Errorf("SendSlashCommand without a bot: err = %v, want no bot connected", err)
	}

	b := startBot(t, s)
	env, err := s.SendSlashCommand("U0ALICE", "C0OPS", "roles")
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	if cmd := evt.Data.(slack.SlashCommand); cmd.ChannelID != "C0OPS" || cmd.Text != "roles" {
		t.Errorf("bot received %+v", cmd)
	}
	if _, err := env.WaitAck(50 * time.Millisecond); err == nil {
		t.Error("WaitAck before the ack returned no error")
	}
	b.ack(t, evt, map[string]any{"text": "your roles"})
	if _, err := env.WaitAck(time.Second); err != nil {
		t.Fatal(err)
	}
	if d := env.AckDelay(); d <= 0 || env.SentAt().IsZero() || time.Since(env.SentAt()) < d {
		t.Errorf("sent at %v, ack delay %v", env.SentAt(), d)
	}
	if len(s.Ephemerals("U0ALICE")) != 1 || len(s.Acks()) != 1 {
		t.Fatalf("before Forget: %d ephemerals, %d acks; want 1 and 1", len(s.Ephemerals("U0ALICE")), len(s.Acks()))
	}

	if _, err := s.SendClick("U0ALICE", "C0OPS", "1.000001", "jit_approve", ""); err == nil {
		t.Error("SendClick on a message that does not exist: no error")
	}
	if _, err := s.SendOpenHome("U0ALICE"); err != nil {
		t.Fatal(err)
	}
	b.ack(t, b.next(t, socketmode.EventTypeEventsAPI))

	s.Forget()
	if n, m, a := len(s.Messages("")), len(s.Calls("")), len(s.Acks()); n+m+a != 0 {
		t.Errorf("after Forget: %d messages, %d calls, %d acks", n, m, a)
	}
	if err := slackfake.Wait("nothing", 30*time.Millisecond, func() bool { return false }); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("Wait = %v, want a timeout naming what", err)
	}
}
