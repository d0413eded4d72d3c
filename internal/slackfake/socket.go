package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// upgrader accepts any Origin: slack-go sends "https://api.slack.com",
// which the default check would refuse for a loopback host.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// writeTimeout bounds one websocket write.
const writeTimeout = 5 * time.Second

// wsConn is one Socket Mode connection.
type wsConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex // gorilla allows one writer of data frames at a time
	done chan struct{}
	once sync.Once
}

// write sends one text frame.
func (c *wsConn) write(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

func (c *wsConn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// close drops the connection at once, without a close frame, as a network
// failure would.
func (c *wsConn) close() {
	c.once.Do(func() {
		c.ws.Close()
		close(c.done)
	})
}

// Envelope is one delivery of a Socket Mode envelope to the bot.
type Envelope struct {
	ID           string
	Type         string // slash_commands, interactive or events_api
	Payload      json.RawMessage
	RetryAttempt int
	d            *delivery
}

// delivery is the fate of one envelope sent: when it was sent and the ack.
// The ack fields are written before acked is closed and never after.
type delivery struct {
	env     wireEnvelope
	sent    time.Time
	acked   chan struct{}
	payload json.RawMessage
	at      time.Time
	apply   func(s *Server, payload json.RawMessage) string // Slack's reaction to the ack payload; runs with s.mu held
}

// wireEnvelope is an envelope as it travels.
type wireEnvelope struct {
	EnvelopeID             string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason"`
}

// Ack is one acknowledgement the bot sent.
type Ack struct {
	EnvelopeID   string
	Type         string
	RetryAttempt int
	Payload      json.RawMessage // nil when the ack carried none
	Delay        time.Duration   // from sending the envelope to receiving the ack
	// Ignored says why Slack would have ignored the ack's payload ("" when
	// it took effect): a late ack, an invalid view in response_action…
	Ignored string
}

// Ack waits up to timeout for the bot to acknowledge this delivery and
// returns the ack's payload (nil when it carried none). It fails the test
// when no ack comes in time.
func (e Envelope) Ack(t TB, timeout time.Duration) json.RawMessage {
	t.Helper()
	payload, err := e.WaitAck(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// Acked reports whether the bot has acknowledged this delivery.
func (e Envelope) Acked() bool {
	select {
	case <-e.d.acked:
		return true
	default:
		return false
	}
}

// AckDelay waits until the bot acknowledges this delivery, at most until
// Slack's AckDeadline after it was sent, and returns the time from sending
// to the ack; 0 means no ack came within the deadline. A test can call it
// right after a driver returns: d > 0 says the bot acked in time.
func (e Envelope) AckDelay() time.Duration {
	select {
	case <-e.d.acked:
	case <-time.After(time.Until(e.d.sent.Add(AckDeadline))):
		if !e.Acked() {
			return 0
		}
	}
	return e.d.at.Sub(e.d.sent)
}

// Connections returns how many websocket connections the bot has made so
// far, so that a test can wait for a reconnect.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connCount
}

// Connected returns how many websocket connections are open now.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		if !c.closed() {
			n++
		}
	}
	return n
}

// Acks returns every ack received, in the order received.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// Drop closes every open websocket abruptly, without a close frame, as a
// network failure would. The bot must reconnect.
func (s *Server) Drop() {
	s.mu.Lock()
	conns := slices.Clone(s.conns)
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Disconnect sends Slack's disconnect message (reason "warning",
// "refresh_requested" or "link_disabled") on every open websocket, as Slack
// does before it retires a connection. slack-go then reconnects by itself.
func (s *Server) Disconnect(reason string) {
	msg, _ := json.Marshal(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "slackfake"}})
	s.mu.Lock()
	conns := slices.Clone(s.conns)
	s.mu.Unlock()
	for _, c := range conns {
		if c.write(msg) != nil {
			c.close()
		}
	}
}

// serveLink upgrades /link/?ticket=… to a Socket Mode websocket, sends
// hello, pings it and reads the bot's acks until it closes.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket) // a ticket connects once
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.connCount++
	c := &wsConn{ws: ws, done: make(chan struct{})}
	s.conns = append(s.conns, c)
	open := len(s.conns)
	// Added under s.mu while not closed, so Close's Wait comes after.
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer s.forget(c)
	defer c.close()

	hello, _ := json.Marshal(map[string]any{
		"type": "hello", "num_connections": open,
		"debug_info":      map[string]any{"host": "slackfake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": AppID},
	})
	if c.write(hello) != nil {
		return
	}

	var pinger sync.WaitGroup
	pinger.Go(func() { s.ping(c) })
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			break
		}
		s.receive(data)
	}
	c.close() // stops the pinger
	pinger.Wait()
}

// ping sends a websocket ping every pingInterval until c or the server
// closes.
func (s *Server) ping(c *wsConn) {
	if s.pingInterval <= 0 {
		return
	}
	tick := time.NewTicker(s.pingInterval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-c.done:
			return
		case <-s.done:
			return
		case <-tick.C:
			// WriteControl may run alongside a data frame write.
			if c.ws.WriteControl(websocket.PingMessage, []byte(strconv.Itoa(n)), time.Now().Add(writeTimeout)) != nil {
				c.close()
				return
			}
		}
	}
}

func (s *Server) forget(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = slices.DeleteFunc(s.conns, func(x *wsConn) bool { return x == c })
}

// receive handles one frame from the bot: an ack {"envelope_id","payload"}.
// Anything else is ignored, as Slack ignores it.
func (s *Server) receive(data []byte) {
	now := time.Now()
	var ack struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
		return
	}
	if string(ack.Payload) == "null" {
		ack.Payload = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.deliveries[ack.EnvelopeID], func(d *delivery) bool { return d.at.IsZero() })
	if i < 0 {
		return // not ours, or every delivery is acknowledged already
	}
	d := s.deliveries[ack.EnvelopeID][i]
	rec := Ack{EnvelopeID: ack.EnvelopeID, Type: d.env.Type, RetryAttempt: d.env.RetryAttempt, Payload: ack.Payload, Delay: now.Sub(d.sent)}
	switch {
	case len(data) >= maxAckSize:
		// Slack drops the whole response silently; the envelope stays
		// unacknowledged.
		return
	case rec.Delay > AckDeadline:
		rec.Ignored = fmt.Sprintf("acknowledged after %v, past Slack's %v", rec.Delay, AckDeadline)
	case d.apply != nil:
		rec.Ignored = d.apply(s, ack.Payload)
	}
	d.payload, d.at = ack.Payload, now
	close(d.acked)
	s.acks = append(s.acks, rec)
}

// send delivers an envelope on the newest open connection, waiting up to
// the connect timeout for one. A write that fails closes that connection
// and tries the next, as Slack does.
func (s *Server) send(env wireEnvelope, apply func(*Server, json.RawMessage) string) (Envelope, error) {
	data, err := json.Marshal(env)
	if err != nil {
		return Envelope{}, err
	}
	deadline := time.Now().Add(s.connectTimeout)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Envelope{}, errors.New("server closed")
		}
		var c *wsConn
		for _, x := range slices.Backward(s.conns) {
			if !x.closed() { // a dropped one stays listed until its reader ends
				c = x
				break
			}
		}
		var d *delivery
		if c != nil {
			// Registered before the write: the ack may beat WriteMessage's
			// return.
			d = &delivery{env: env, sent: time.Now(), acked: make(chan struct{}), apply: apply}
			s.deliveries[env.EnvelopeID] = append(s.deliveries[env.EnvelopeID], d)
		}
		s.mu.Unlock()

		if c != nil {
			if err := c.write(data); err == nil {
				return Envelope{ID: env.EnvelopeID, Type: env.Type, Payload: env.Payload, RetryAttempt: env.RetryAttempt, d: d}, nil
			}
			c.close()
			s.mu.Lock()
			s.deliveries[env.EnvelopeID] = slices.DeleteFunc(s.deliveries[env.EnvelopeID], func(x *delivery) bool { return x == d })
			s.mu.Unlock()
			continue
		}
		if time.Now().After(deadline) {
			return Envelope{}, fmt.Errorf("no bot connected within %v", s.connectTimeout)
		}
		select {
		case <-s.done:
		case <-time.After(pollInterval):
		}
	}
}

// Redeliver sends env again with the same envelope ID, retry_attempt one
// higher and retry_reason "timeout", as Slack does when it believes an
// envelope was not acknowledged. It returns the new delivery.
func (s *Server) Redeliver(t TB, env Envelope) Envelope {
	t.Helper()
	out, err := s.SendRedelivery(env)
	if err != nil {
		t.Fatalf("slackfake: %v", err)
	}
	return out
}
