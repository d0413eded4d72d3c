package slackfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// User is a member of the fake workspace.
type User struct {
	ID       string // U…
	Name     string // the handle; defaults to the lower-cased ID
	RealName string // defaults to Name
	Email    string
	IsBot    bool
	Deleted  bool
	// IsGuest makes a multi-channel guest (is_restricted).
	IsGuest bool
	// SingleChannelGuest makes a single-channel guest (is_restricted and
	// is_ultra_restricted).
	SingleChannelGuest bool
	// External makes a Slack Connect user of another organisation: another
	// team_id and enterprise, and is_stranger as users.info reports such
	// users when they share no channel with the workspace.
	External bool
	// SharesChannel makes an External user who shares a channel with the
	// workspace: users.info then says is_stranger false, and only their
	// team_id and enterprise tell them apart.
	SharesChannel bool
	// TZ is the user's time zone, as users.info reports it (an IANA
	// name); default Europe/London.
	TZ string
}

func (u User) name() string {
	if u.Name != "" {
		return u.Name
	}
	return strings.ToLower(u.ID)
}

func (u User) realName() string {
	if u.RealName != "" {
		return u.RealName
	}
	return u.name()
}

type userGroup struct {
	id, handle string
	members    []string
	created    int64
}

// Message is the current state of one message.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // the parent's ts for a thread reply
	Text     string
	// User is who posted it (BotUserID for the bot), or for an ephemeral
	// message the one user who sees it.
	User string
	// Blocks are the blocks as the bot sent them, except that <, > and &
	// are not \u-escaped, so that tests can search them as text. nil when
	// the message has none.
	Blocks    json.RawMessage
	Ephemeral bool
	Updates   int // how many times chat.update or replace_original changed it
}

type message struct {
	Message
	history []json.RawMessage // earlier blocks, oldest first, for stale clicks
}

// Call is one recorded Web API call or response_url post.
type Call struct {
	// Method is the Web API method, or "response_url" for a post to a
	// response URL.
	Method string
	// Params are the form fields, or the top-level fields of a JSON body
	// (strings as they are; objects, arrays, numbers and booleans as their
	// JSON text, so blocks and view are raw JSON). The token is not among
	// them. A response_url post also has "response_url", the URL posted to.
	Params url.Values
	Token  string
	At     time.Time
	// Error is the Slack error answered ("ratelimited" for HTTP 429), or ""
	// when the call succeeded.
	Error string
}

// View is one view as Slack holds it: an open modal or a published App Home.
type View struct {
	ID              string
	Type            string // modal or home
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string
	Blocks          json.RawMessage
	// JSON is the view object as the fake answers it (id, hash, state…).
	// Blocks and JSON have <, > and & unescaped, as Message.Blocks.
	JSON json.RawMessage
	// Errors are the field errors of the last response_action "errors" ack,
	// keyed by block_id, as Slack shows them under the inputs.
	Errors map[string]string
}

type view struct {
	id, user, typ string
	obj           map[string]any // as the bot sent it
	hash          string
	rootID        string
	previousID    string
	errors        map[string]string
}

type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// responseURL is where a response_url post lands: who it answers and, for
// a click on a message, which message is the original.
type responseURL struct {
	user, channel string
	messageTS     string
	issued        time.Time
	uses          int
}

// Response URLs work five times within 30 minutes (Slack's limits).
const (
	responseURLUses = 5
	responseURLTTL  = 30 * time.Minute
)

// AddUser adds a user, or replaces the one with the same ID.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = &u
}

// AddUserGroup adds a user group (S…) with its handle (without "@") and
// members, or replaces the one with the same ID.
func (s *Server) AddUserGroup(id, handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &userGroup{id: id, handle: handle, members: slices.Clone(members), created: time.Now().Unix()}
	if i := slices.IndexFunc(s.groups, func(g *userGroup) bool { return g.id == id }); i >= 0 {
		s.groups[i] = g
		return
	}
	s.groups = append(s.groups, g)
}

// SetUserGroupMembers replaces the members of the group with this handle.
// It panics when there is no such group: that is a mistake in the test.
func (s *Server) SetUserGroupMembers(handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.handle == handle {
			g.members = slices.Clone(members)
			return
		}
	}
	panic(fmt.Sprintf("slackfake: SetUserGroupMembers: no user group @%s (add it with AddUserGroup)", handle))
}

// DMChannel returns the D… channel of the bot's DM with userID, opening it
// if needed. The ID is stable: the same user always gets the same channel.
func (s *Server) DMChannel(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmChannel(userID)
}

func (s *Server) dmChannel(userID string) string {
	if ch, ok := s.dms[userID]; ok {
		return ch
	}
	ch := "D" + userID
	if len(userID) > 1 {
		ch = "D" + userID[1:]
	}
	s.dms[userID] = ch
	s.dmOwners[ch] = userID
	return ch
}

// Messages returns the current state of the messages in channel (every
// channel for ""), in posting order, thread replies and ephemeral messages
// included. Deleted messages are gone.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if channel == "" || m.Channel == channel {
			out = append(out, m.Message)
		}
	}
	return out
}

// DMs returns the messages in the bot's DM with userID.
func (s *Server) DMs(userID string) []Message { return s.Messages(s.DMChannel(userID)) }

// Ephemerals returns the ephemeral messages shown to userID in any channel:
// chat.postEphemeral, response_url answers that are not in_channel, and
// slash command acks that carry a message.
func (s *Server) Ephemerals(userID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if m.Ephemeral && m.User == userID {
			out = append(out, m.Message)
		}
	}
	return out
}

// Views returns the modals open for userID, the bottom of the stack first.
func (s *Server) Views(userID string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []View
	for _, id := range s.modals[userID] {
		out = append(out, s.views[id].export())
	}
	return out
}

// Home returns the App Home view last published for userID, as the fake
// answers it, or nil if none was.
func (s *Server) Home(userID string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.homes[userID]
	if !ok {
		return nil
	}
	return s.views[id].export().JSON
}

// Calls returns the recorded calls of method ("" for all), oldest first.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Params = maps.Clone(c.Params)
			out = append(out, c)
		}
	}
	return out
}

// RateLimit makes the next n calls of method answer HTTP 429 with
// Retry-After in whole seconds (rounded up) and {"ok":false,"error":
// "ratelimited"}, as Slack does. Method "response_url" limits posts to
// response URLs.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[method] = rateLimit{n: n, retryAfter: retryAfter}
}

// FailNext makes the next n calls of method answer {"ok":false,"error":
// slackError}. Method "response_url" fails posts to response URLs with
// HTTP 404.
func (s *Server) FailNext(method string, n int, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = failure{n: n, err: slackError}
}

// msgKey finds a message: its channel and ts.
type msgKey struct{ channel, ts string }

// findMessage returns the message with this ts in channel, or nil. It
// looks the message up by its place, not by a scan: the bench's long runs
// keep hundreds of thousands of messages, and the bot updates one of them
// for every event. Callers hold s.mu.
func (s *Server) findMessage(channel, ts string) *message {
	return s.msgAt[msgKey{channel, ts}]
}

func (s *Server) deleteMessage(m *message) {
	s.msgs = slices.DeleteFunc(s.msgs, func(x *message) bool { return x == m })
	delete(s.msgAt, msgKey{m.Channel, m.TS})
}

// post stores a new message. Callers hold s.mu.
func (s *Server) post(channel, threadTS, text, user string, blocks json.RawMessage, ephemeral bool) *message {
	m := &message{Message: Message{
		Channel: channel, TS: s.nextTS(), ThreadTS: threadTS, Text: text, User: user,
		Blocks: blocks, Ephemeral: ephemeral,
	}}
	s.msgs = append(s.msgs, m)
	if s.msgAt == nil {
		s.msgAt = map[msgKey]*message{}
	}
	s.msgAt[msgKey{channel, m.TS}] = m
	return m
}

// update replaces the text and blocks of m, keeping the old blocks so that
// a user who still sees them can click them.
func (m *message) update(text string, blocks json.RawMessage) {
	m.history = append(m.history, m.Blocks)
	m.Text, m.Blocks = text, blocks
	m.Updates++
}

// newTrigger issues a trigger_id for user. Callers hold s.mu.
func (s *Server) newTrigger(user string) string {
	// Slack's trigger IDs look like 12345.98765.abcd2358fdea.
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", time.Now().Unix(), s.seq, randomHex(8))
	s.triggers[id] = &trigger{user: user, issued: time.Now()}
	return id
}

// newResponseURL issues a response URL answering user in channel, about the
// message messageTS if the interaction came from one. Callers hold s.mu.
func (s *Server) newResponseURL(user, channel, messageTS string) (string, *responseURL) {
	id := randomHex(12)
	ru := &responseURL{user: user, channel: channel, messageTS: messageTS, issued: time.Now()}
	s.responseURLs[id] = ru
	return s.url + "/response/" + id, ru
}

// useTrigger exchanges a trigger for the user it was issued to, or answers
// the Slack error.
func (s *Server) useTrigger(id string) (string, *apiError) {
	tr, ok := s.triggers[id]
	switch {
	case id == "" || !ok:
		return "", &apiError{code: "invalid_trigger_id"}
	case tr.used:
		return "", &apiError{code: "exchanged_trigger_id"}
	case time.Since(tr.issued) > s.triggerTTL:
		return "", &apiError{code: "expired_trigger_id"}
	}
	tr.used = true
	return tr.user, nil
}

func (v *view) export() View {
	out := View{
		ID: v.id, Type: v.typ, Hash: v.hash, Errors: maps.Clone(v.errors),
		CallbackID:      str(v.obj["callback_id"]),
		PrivateMetadata: str(v.obj["private_metadata"]),
		ExternalID:      str(v.obj["external_id"]),
	}
	if b, ok := v.obj["blocks"]; ok {
		out.Blocks = marshalReadable(b)
	}
	out.JSON = marshalReadable(v.wire())
	return out
}

// wire is the view object as Slack answers it and puts it in payloads: what
// the bot sent plus the fields Slack fills in.
func (v *view) wire() map[string]any {
	w := maps.Clone(v.obj)
	w["id"] = v.id
	w["team_id"] = TeamID
	w["type"] = v.typ
	w["hash"] = v.hash
	w["root_view_id"] = v.rootID
	w["previous_view_id"] = nil
	if v.previousID != "" {
		w["previous_view_id"] = v.previousID
	}
	w["app_id"] = AppID
	w["bot_id"] = BotID
	w["app_installed_team_id"] = TeamID
	w["state"] = map[string]any{"values": map[string]any{}}
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := w[k]; !ok {
			w[k] = ""
		}
	}
	for _, k := range []string{"clear_on_close", "notify_on_close"} {
		if _, ok := w[k]; !ok {
			w[k] = false
		}
	}
	if _, ok := w["blocks"]; !ok {
		w["blocks"] = []any{}
	}
	return w
}

// newHash returns a view hash like Slack's ("1567729380.1827394b").
func newHash() string {
	return fmt.Sprintf("%d.%s", time.Now().Unix(), randomHex(4))
}

// str returns v if it is a string, else "".
func str(v any) string {
	s, _ := v.(string)
	return s
}

func (u User) tz() string {
	if u.TZ != "" {
		return u.TZ
	}
	return "Europe/London"
}

// tzOffset is the offset of zone from UTC now, in seconds, as users.info
// reports it; 0 for a zone this machine does not know.
func tzOffset(zone string) int {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return 0
	}
	_, off := time.Now().In(loc).Zone()
	return off
}

// Time is when the fake took the message in: its ts, "seconds.micros",
// read back (the fake never posts a message with another ts). The zero
// time for a ts that is not of that form.
func (m Message) Time() time.Time {
	sec, frac, _ := strings.Cut(m.TS, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || len(frac) != 6 {
		return time.Time{}
	}
	return time.Unix(s, us*1000)
}
