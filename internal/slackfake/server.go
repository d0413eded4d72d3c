// Package slackfake is a Slack Web API and Socket Mode server for tests and
// the demo. It runs in-process on a loopback port, and the real slack-go
// client reaches it exactly as it reaches Slack: the bot is started with
// SLACK_API_URL=APIURL(), SLACK_APP_TOKEN=AppToken() and
// SLACK_BOT_TOKEN=BotToken().
//
// The fake keeps the state a test needs (users, user groups, messages,
// modals, App Home views), records every call, enforces the Slack limits
// that bots trip over (Block Kit sizes, single-use trigger IDs that expire
// after 3 s, response URLs usable five times), and answers bad input the way
// Slack does: {"ok":false,"error":"…"}. It never panics on what it receives
// over the wire.
//
// Socket Mode: apps.connections.open hands out a websocket URL; on connect
// the fake sends hello and then pings every few seconds (slack-go reconnects
// when it sees no ping for 30 s). Tests drive the bot as Slack would, with
// SlashCommand, Click, SubmitView and OpenHome, and wait for the effects
// with WaitFor.
package slackfake

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Identifiers of the workspace and the app the fake plays.
const (
	TeamID = "T0SLACKFAKE"
	// ExternalTeamID is the organisation of External users (Slack Connect).
	ExternalTeamID = "T0VENDOR"
	// ExternalEnterpriseID is the Enterprise Grid of External users.
	ExternalEnterpriseID = "E0VENDOR"
	TeamDomain           = "slackfake"
	AppID                = "A0JITBOT"
	BotUserID            = "U0JITBOT"
	BotID                = "B0JITBOT"
	BotName              = "jitbot"
)

// Defaults of the options.
const (
	DefaultAppToken       = "xapp-1-test"
	DefaultBotToken       = "xoxb-test"
	DefaultChannel        = "C0GENERAL"
	DefaultPingInterval   = 5 * time.Second
	DefaultTriggerTTL     = 3 * time.Second // Slack: a trigger_id expires 3 s after it is issued
	DefaultConnectTimeout = 10 * time.Second
)

// AckDeadline is how long Slack waits for a Socket Mode ack. A later ack is
// recorded, but its payload (modal errors, a slash command answer) is
// ignored, as Slack ignores it.
const AckDeadline = 3 * time.Second

// pollInterval is how often waiting helpers look again.
const pollInterval = 20 * time.Millisecond

// Option configures a Server.
type Option func(*Server)

// WithPingInterval sets how often the fake pings each websocket. slack-go
// reconnects when it sees no ping for 30 s (socketmode.OptionPingInterval).
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// WithChannel sets the channel that SlashCommand is typed in.
func WithChannel(id string) Option { return func(s *Server) { s.channel = id } }

// WithAppToken sets the xapp- token that apps.connections.open accepts.
func WithAppToken(tok string) Option { return func(s *Server) { s.appToken = tok } }

// WithBotToken sets the xoxb- token every other method accepts.
func WithBotToken(tok string) Option { return func(s *Server) { s.botToken = tok } }

// WithTriggerTTL sets how long a trigger_id can open a modal.
func WithTriggerTTL(d time.Duration) Option { return func(s *Server) { s.triggerTTL = d } }

// WithConnectTimeout sets how long the drivers (SlashCommand, Click, …) wait
// for the bot to be connected before they fail the test.
func WithConnectTimeout(d time.Duration) Option { return func(s *Server) { s.connectTimeout = d } }

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	pingInterval   time.Duration
	triggerTTL     time.Duration
	connectTimeout time.Duration
	channel        string
	appToken       string
	botToken       string
	scopes         []string // the bot token's, in x-oauth-scopes (scopes.go)

	httpSrv *http.Server
	url     string
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup

	mu           sync.Mutex
	listening    bool
	closed       bool
	seq          int
	lastTS       int64 // microseconds of the last message ts handed out
	calls        []Call
	rateLimits   map[string]rateLimit
	enforce      bool               // Slack's published limits (ratelimit.go)
	buckets      map[string]*bucket // by method, or method and channel
	unlimited    map[string]bool    // methods exempt from enforcement
	failures     map[string]failure
	users        map[string]*User
	groups       []*userGroup
	dms          map[string]string // user ID → D… channel
	dmOwners     map[string]string // D… channel → user ID
	msgs         []*message
	msgAt        map[msgKey]*message // the same messages by channel and ts
	forgotten    map[msgKey]bool     // messages Forget dropped: still in Slack
	triggers     map[string]*trigger
	responseURLs map[string]*responseURL
	views        map[string]*view    // by view ID
	modals       map[string][]string // user ID → open modal view IDs, bottom first
	homes        map[string]string   // user ID → home view ID
	tickets      map[string]bool     // websocket tickets not used yet
	conns        []*wsConn           // open websockets, oldest first
	connCount    int
	deliveries   map[string][]*delivery // envelope ID → deliveries in send order
	acks         []Ack
	outside      map[string]bool    // channels the bot has left (scopes.go)
	uploads      map[string]*upload // by file ID, from files.getUploadURLExternal (files.go)
	files        []File             // shared by files.completeUploadExternal
}

type rateLimit struct {
	n          int
	retryAfter time.Duration
}

type failure struct {
	n   int
	err string
}

// New returns a server that is not listening yet; see Listen and Start.
func New(opts ...Option) *Server {
	s := &Server{
		pingInterval:   DefaultPingInterval,
		triggerTTL:     DefaultTriggerTTL,
		connectTimeout: DefaultConnectTimeout,
		channel:        DefaultChannel,
		appToken:       DefaultAppToken,
		botToken:       DefaultBotToken,
		done:           make(chan struct{}),
		rateLimits:     map[string]rateLimit{},
		failures:       map[string]failure{},
		users:          map[string]*User{},
		dms:            map[string]string{},
		dmOwners:       map[string]string{},
		triggers:       map[string]*trigger{},
		responseURLs:   map[string]*responseURL{},
		views:          map[string]*view{},
		modals:         map[string][]string{},
		homes:          map[string]string{},
		tickets:        map[string]bool{},
		deliveries:     map[string][]*delivery{},
		scopes:         DefaultScopes,
		outside:        map[string]bool{},
	}
	for _, opt := range opts {
		opt(s)
	}
	s.users[BotUserID] = &User{ID: BotUserID, Name: BotName, RealName: BotName, IsBot: true}
	return s
}

// Start starts a server on a free loopback port and closes it when the test
// ends. It fails the test if the server cannot listen.
func Start(t TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("start slackfake: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Listen serves on addr ("127.0.0.1:0" picks a free port) until Close.
func (s *Server) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveLink)
	mux.HandleFunc("/response/", s.serveResponseURL)
	mux.HandleFunc("/upload/", s.serveUpload)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.listening {
		l.Close()
		return errors.New("slackfake: Listen called twice or after Close")
	}
	s.listening = true
	s.url = "http://" + l.Addr().String()
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.httpSrv.Serve(l) // returns http.ErrServerClosed after Close
	}()
	return nil
}

// Close stops the server: it closes the listener, every HTTP connection and
// every websocket, and returns when every goroutine the server started has
// ended. It may be called more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	conns := append([]*wsConn(nil), s.conns...)
	srv := s.httpSrv
	s.mu.Unlock()

	var err error
	if srv != nil {
		err = srv.Close() // hijacked websockets are not its to close
	}
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	return err
}

// URL is the base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// APIURL is the Web API base URL, ending in "/", as SLACK_API_URL and
// slack.OptionAPIURL take it.
func (s *Server) APIURL() string { return s.URL() + "/api/" }

// AppToken is the xapp- token for SLACK_APP_TOKEN.
func (s *Server) AppToken() string { return s.appToken }

// BotToken is the xoxb- token for SLACK_BOT_TOKEN.
func (s *Server) BotToken() string { return s.botToken }

// Channel is the channel SlashCommand is typed in.
func (s *Server) Channel() string { return s.channel }

// nextID returns prefix followed by a new upper-case ID, e.g. V00000007,
// shaped like Slack's IDs. Callers hold s.mu.
func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08X", prefix, s.seq)
}

// nextTS returns a new message timestamp, "seconds.micros" like Slack's,
// strictly increasing so that it orders and identifies messages. Callers
// hold s.mu.
func (s *Server) nextTS() string {
	us := max(time.Now().UnixMicro(), s.lastTS+1)
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// randomHex returns n random bytes in hex, for secrets such as tickets.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}

// uuid returns a random version 4 UUID, the shape of Slack's envelope IDs.
func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// WaitFor polls cond every 20 ms until it is true, and fails the test with
// what when timeout passes first. The bot works asynchronously, so tests
// wait for its effects instead of sleeping.
func WaitFor(t TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if err := Wait(what, timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// WaitFor is the package's WaitFor, for tests that hold a Server.
func (s *Server) WaitFor(t TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	WaitFor(t, what, timeout, cond)
}

// WaitMessage waits until some message in any channel matches, and returns
// the first that does (in posting order). It fails the test with what when
// timeout passes first.
func (s *Server) WaitMessage(t TB, what string, timeout time.Duration, match func(Message) bool) Message {
	t.Helper()
	var found Message
	WaitFor(t, what, timeout, func() bool {
		for _, m := range s.Messages("") {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// channelName is what interaction payloads call a channel.
func (s *Server) channelName(id string) string {
	switch {
	case strings.HasPrefix(id, "D"):
		return "directmessage"
	case id == DefaultChannel:
		return "general"
	default:
		return strings.ToLower(id)
	}
}
