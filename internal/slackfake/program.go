package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// This file is the fake's API for programs that have no testing.TB, such as
// the load generator cmd/jitbench. The test drivers (SlashCommand, Click, …)
// are thin wrappers that fail the test where these return an error.

// Wait polls cond every 20 ms until it is true, and returns an error naming
// what when timeout passes first.
func Wait(what string, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
	return nil
}

// SendSlashCommand sends "/jit text" typed by userID in channel, as
// SlashCommandIn does. It fails when no bot is connected within the
// connect timeout.
func (s *Server) SendSlashCommand(userID, channel, text string) (Envelope, error) {
	p, apply := s.newSlashCommand(userID, channel, text)
	return s.sendNew("slash_commands", p, true, apply)
}

// SendClick sends the click of userID on a button of a message, as Click
// does. It fails when userID cannot see the message or the message has no
// such button.
func (s *Server) SendClick(userID, channel, messageTS, actionID, value string) (Envelope, error) {
	return s.sendClick(userID, channel, messageTS, actionID, value, false)
}

func (s *Server) sendClick(userID, channel, messageTS, actionID, value string, forged bool) (Envelope, error) {
	s.mu.Lock()
	payload, err := s.clickPayload(userID, channel, messageTS, actionID, value, forged)
	s.mu.Unlock()
	if err != nil {
		return Envelope{}, err
	}
	return s.sendNew("interactive", payload, false, nil)
}

// SendClickHome sends the click of userID on a button of their App Home,
// as ClickHome does.
func (s *Server) SendClickHome(userID, actionID, value string) (Envelope, error) {
	s.mu.Lock()
	payload, err := s.homeClickPayload(userID, actionID, value)
	s.mu.Unlock()
	if err != nil {
		return Envelope{}, err
	}
	return s.sendNew("interactive", payload, false, nil)
}

// SendSubmitView sends the submission of userID's open modal viewID, as
// SubmitView does. It fails where the Slack client would not let the user
// submit.
func (s *Server) SendSubmitView(userID, viewID string, values map[string]map[string]any) (Envelope, error) {
	s.mu.Lock()
	payload, err := s.submitPayload(userID, viewID, values)
	s.mu.Unlock()
	if err != nil {
		return Envelope{}, err
	}
	return s.sendNew("interactive", payload, true, func(s *Server, ack json.RawMessage) string {
		return s.applyViewResponse(userID, viewID, ack)
	})
}

// SendOpenHome sends the app_home_opened event of userID, as OpenHome
// does.
func (s *Server) SendOpenHome(userID string) (Envelope, error) {
	return s.sendNew("events_api", s.homeOpened(userID), false, nil)
}

// SendRedelivery sends env again as Redeliver does.
func (s *Server) SendRedelivery(env Envelope) (Envelope, error) {
	if env.d == nil {
		return Envelope{}, errors.New("redelivery needs an envelope the fake sent")
	}
	w := env.d.env
	w.RetryAttempt++
	w.RetryReason = "timeout"
	out, err := s.send(w, env.d.apply)
	if err != nil {
		return Envelope{}, fmt.Errorf("redeliver %s envelope %s: %w", env.Type, env.ID, err)
	}
	return out, nil
}

// sendNew encodes payload and sends it in a new envelope.
func (s *Server) sendNew(typ string, payload any, accepts bool, apply func(*Server, json.RawMessage) string) (Envelope, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	env, err := s.send(wireEnvelope{EnvelopeID: uuid(), Type: typ, Payload: raw, AcceptsResponsePayload: accepts}, apply)
	if err != nil {
		return Envelope{}, fmt.Errorf("send %s envelope: %w", typ, err)
	}
	return env, nil
}

// WaitAck waits up to timeout for the bot to acknowledge this delivery and
// returns the ack's payload (nil when it carried none).
func (e Envelope) WaitAck(timeout time.Duration) (json.RawMessage, error) {
	if e.d == nil {
		return nil, errors.New("not an envelope the fake sent")
	}
	select {
	case <-e.d.acked:
		return e.d.payload, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s envelope %s (retry %d) not acknowledged within %v", e.Type, e.ID, e.RetryAttempt, timeout)
	}
}

// SentAt is when the fake wrote the envelope to the websocket.
func (e Envelope) SentAt() time.Time {
	if e.d == nil {
		return time.Time{}
	}
	return e.d.sent
}

// Forget drops the messages, calls and acks recorded so far, so that a
// long-running program keeps the fake's memory and lookups small. Users,
// user groups, DM channels, views and open connections stay. A forgotten
// message still exists as far as the bot can tell: updating or deleting it
// succeeds (and is not recorded), as a bot that posted it an hour ago
// would find in Slack.
func (s *Server) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forgotten == nil {
		s.forgotten = map[msgKey]bool{}
	}
	for k, m := range s.msgAt {
		if !m.Ephemeral {
			s.forgotten[k] = true
		}
	}
	s.msgs, s.msgAt, s.calls, s.acks = nil, nil, nil, nil
	for id, ds := range s.deliveries {
		if len(ds) > 0 && !ds[len(ds)-1].at.IsZero() {
			delete(s.deliveries, id)
		}
	}
}
