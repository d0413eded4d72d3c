// Package handlers puts jitbot in Slack, over Socket Mode or over HTTP
// (http.go): it acknowledges everything Slack sends at once, then turns
// slash commands, button clicks, modal submissions and App Home visits into
// calls of the domain service, and sends the results back. It translates; the rules live in grants and the
// Block Kit in blockkit.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
)

// Refs remembers where a request's Slack messages are, so that every copy
// can be updated when the request moves on, also after a restart.
type Refs interface {
	SetRef(ctx context.Context, id grants.RequestID, key, value string) error
	Refs(ctx context.Context, id grants.RequestID) (map[string]string, error)
}

// Seen reports whether a key was seen before, remembering it for ttl. It
// makes a redelivered envelope harmless across replicas.
type Seen interface {
	FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Options configures a Handler. Service, API and Queue are required.
type Options struct {
	Service *grants.Service
	API     *slack.Client
	Queue   *queue.Queue // background Slack writes (DMs, message updates)
	Refs    Refs
	Seen    Seen
	Logger  *slog.Logger
	// MinDuration is JIT_MIN_DURATION, checked in the request modal so
	// that the error shows on the field.
	MinDuration time.Duration
	// Workers bounds how many envelopes are handled at once; default
	// DefaultWorkers. An envelope is acknowledged before it waits for a
	// worker; the next one is read when a worker is free.
	Workers int
	// Timeout bounds the handling of one envelope; default DefaultTimeout.
	Timeout time.Duration
	// OnCallUnavailable reports that the on-call source (PagerDuty) cannot
	// be reached; requesters are then told why no break-glass applied.
	OnCallUnavailable func() bool
	// Health reports whether the store answers; when it does not, people
	// are told the service is briefly unavailable rather than "something
	// went wrong".
	Health func(ctx context.Context) error
	// People hears what the event stream says of people: that it is up
	// or down (Socket Mode), and every user_change. The directory vouches
	// for its copies of people with it; nil for none.
	People People
	// Report renders the access report of the given window for /jit
	// report; nil turns the command off.
	Report func(ctx context.Context, window time.Duration) (AccessReport, error)
	Now    func() time.Time
}

// AccessReport is the answer to /jit report.
type AccessReport struct {
	Text string // plain text, shown preformatted
	// Chart is the main chart as a PNG image, uploaded to the caller's
	// DM after the text; nil for none.
	Chart []byte
}

// People is told what Slack's event stream says of people
// (directory.Directory).
type People interface {
	EventsConnected()
	EventsLost()
	UserChanged(id string)
}

// Handler handles what Slack sends: Socket Mode envelopes (Run) or HTTP
// requests (RunHTTP), through the same code.
type Handler struct {
	svc   *grants.Service
	api   *slack.Client
	q     *queue.Queue
	refs  Refs
	seen  Seen
	log   *slog.Logger
	min   time.Duration
	limit chan struct{}
	wait  time.Duration
	now   func() time.Time
	work  sync.WaitGroup
	reads *limiter // per user, for /jit list, /jit report and App Home

	onCallDown func() bool
	report     func(ctx context.Context, window time.Duration) (AccessReport, error)
	health     func(ctx context.Context) error
	people     People
}

// New returns a Handler.
// DefaultWorkers is how many envelopes are handled at once unless said.
// In an incident flood most of them wait their turn at Slack's pace: each
// approval reads its people afresh, and Slack answers users.info about
// 100 times a minute. A waiting worker costs a goroutine; one too few
// stops the reading of envelopes, and the clicks behind it go without an
// acknowledgement, which Slack shows the person as a failure. AWS calls
// are bounded apart from this (awslimit, the scheduler's workers).
const DefaultWorkers = 256

// DefaultTimeout bounds the handling of one envelope unless said. An
// approval in a flood waits its turn at Slack's pace (users.info, about
// 100 a minute for the workspace) and at AWS's (awslimit); failing it
// after half a minute would only make its approver click again, behind
// everyone else.
const DefaultTimeout = 2 * time.Minute

func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinDuration <= 0 {
		opts.MinDuration = time.Minute
	}
	return &Handler{
		svc: opts.Service, api: opts.API, q: opts.Queue, refs: opts.Refs, seen: opts.Seen, log: opts.Logger,
		min: opts.MinDuration, limit: make(chan struct{}, opts.Workers), wait: opts.Timeout, now: opts.Now,
		onCallDown: opts.OnCallUnavailable, report: opts.Report, health: opts.Health, people: opts.People,
		reads: newLimiter(readBurst, readEvery),
	}
}

// Run handles the envelopes of sm until ctx ends, then waits for the ones
// in hand to finish. The caller runs sm itself (sm.RunContext).
func (h *Handler) Run(ctx context.Context, sm *socketmode.Client) error {
	defer h.work.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case evt, ok := <-sm.Events:
			if !ok {
				return nil
			}
			h.dispatch(ctx, sm, evt)
		}
	}
}

// dispatch acknowledges an envelope and hands its work to a goroutine. A
// view submission is the one exception: its validation errors must travel
// in the ack, so the pure checks run first (they take microseconds).
func (h *Handler) dispatch(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		h.log.Info("connecting to Slack")
	case socketmode.EventTypeConnected:
		h.log.Info("connected to Slack")
		if h.people != nil {
			h.people.EventsConnected()
		}
	case socketmode.EventTypeConnectionError, socketmode.EventTypeDisconnect:
		if h.people != nil {
			h.people.EventsLost()
		}
		h.log.Warn("Slack connection lost; reconnecting", "event", evt.Type, "data", fmt.Sprint(evt.Data))
	case socketmode.EventTypeInvalidAuth:
		h.log.Error("Slack refused the app token (invalid_auth); check SLACK_APP_TOKEN")
	case socketmode.EventTypeSlashCommand:
		in := h.envelope(sm, evt)
		if cmd, ok := evt.Data.(slack.SlashCommand); ok {
			h.slashCommand(ctx, in, cmd)
		} else {
			in.ack(nil)
		}
	case socketmode.EventTypeInteractive:
		in := h.envelope(sm, evt)
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			h.interactive(ctx, in, cb)
		} else {
			in.ack(nil)
		}
	case socketmode.EventTypeEventsAPI:
		in := h.envelope(sm, evt)
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			h.eventsAPI(ctx, in, ev)
		} else {
			in.ack(nil)
		}
	default:
		if evt.Request != nil && evt.Request.EnvelopeID != "" {
			h.ack(sm, evt, nil)
		}
	}
}

// inbound is one payload from Slack, by Socket Mode or HTTP: how to
// acknowledge it, and how to recognise it when Slack sends it again.
type inbound struct {
	// ack sends the acknowledgement; a nil payload sends a bare one.
	ack func(payload any)
	// key names the payload across redeliveries; "" when nothing does.
	key string
	// what is what the log calls the payload ("envelope", "Slack request").
	what string
	// attrs identify the delivery in log lines.
	attrs []any
}

// envelope is the inbound of a Socket Mode envelope, recognised by its
// envelope ID.
func (h *Handler) envelope(sm *socketmode.Client, evt socketmode.Event) inbound {
	in := inbound{ack: func(payload any) { h.ack(sm, evt, payload) }, what: "envelope"}
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		in.key = "envelope:" + evt.Request.EnvelopeID
		in.attrs = []any{"envelope_id", evt.Request.EnvelopeID, "retry_attempt", evt.Request.RetryAttempt}
	}
	return in
}

// slashCommand acknowledges a /jit invocation, then runs it.
func (h *Handler) slashCommand(ctx context.Context, in inbound, cmd slack.SlashCommand) {
	in.ack(nil)
	if h.first(ctx, in) {
		h.spawn(ctx, "slash command", func(ctx context.Context) { h.command(ctx, cmd) })
	}
}

// interactive acknowledges a click or a modal submission, then handles it.
// A submission's field errors go in the ack, which keeps the modal open.
func (h *Handler) interactive(ctx context.Context, in inbound, cb slack.InteractionCallback) {
	var payload any
	var then func(context.Context)
	if cb.Type == slack.InteractionTypeViewSubmission {
		payload, then = h.submission(cb)
	} else {
		then = func(ctx context.Context) { h.interaction(ctx, cb) }
	}
	in.ack(payload)
	if then != nil && h.first(ctx, in) {
		h.spawn(ctx, "interaction", then)
	}
}

// eventsAPI acknowledges an Events API event, then handles the ones jitbot
// subscribes to: a visit to its App Home, a change of a user, which may be
// their deactivation, and a change of the members of a user group.
func (h *Handler) eventsAPI(ctx context.Context, in inbound, ev slackevents.EventsAPIEvent) {
	in.ack(nil)
	if e, ok := ev.InnerEvent.Data.(*slackevents.UserChangeEvent); ok && h.people != nil {
		// Before the check for a redelivery: a copy read since the first
		// delivery must not be vouched for either.
		h.people.UserChanged(e.User.ID)
	}
	if !h.first(ctx, in) {
		return
	}
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		if e.Tab != "home" {
			return
		}
		// A user over their read limit keeps the App Home they have: a
		// visit is not worth a refresh, nor a worker.
		if ok, _ := h.reads.allow(e.User, h.now()); !ok {
			h.log.Info("app home refresh skipped: read limit", "user", e.User)
			return
		}
		h.spawn(ctx, "app home", func(ctx context.Context) { h.publishHome(ctx, e.User) })
	case *slackevents.UserChangeEvent:
		if e.User.Deleted {
			h.spawn(ctx, "user change", func(ctx context.Context) { h.deactivated(ctx, e.User.ID) })
		}
	case *slackevents.SubteamMembersChangedEvent:
		h.spawn(ctx, "user group change", func(ctx context.Context) { h.groupChanged(ctx, e) })
	}
}

// groupChanged puts a change of the members of a user group the catalog
// names in the audit trail. The event names the group by ID only.
func (h *Handler) groupChanged(ctx context.Context, e *slackevents.SubteamMembersChangedEvent) {
	groups, err := h.api.GetUserGroupsContext(ctx)
	if err != nil {
		h.log.ErrorContext(ctx, "user group change not audited: usergroups.list failed", "subteam", e.SubteamID, "err", err)
		return
	}
	for _, g := range groups {
		if g.ID == e.SubteamID {
			h.svc.GroupChanged(ctx, g.Handle, e.AddedUsers, e.RemovedUsers)
			return
		}
	}
	h.log.WarnContext(ctx, "user group change for an unknown group", "subteam", e.SubteamID)
}

// deactivated ends what a user Slack reports deactivated holds. The
// service asks Slack again before it acts on the event.
func (h *Handler) deactivated(ctx context.Context, userID string) {
	gone, err := h.svc.Deactivated(ctx, userID)
	if err != nil {
		// The lifecycle pass tries again (JIT_RECONCILE_INTERVAL).
		h.log.ErrorContext(ctx, "ending the access of a deactivated user failed", "user", userID, "err", err)
		return
	}
	h.log.InfoContext(ctx, "user_change handled", "user", userID, "deactivated", gone)
}

func (h *Handler) ack(sm *socketmode.Client, evt socketmode.Event, payload any) {
	if evt.Request == nil {
		return
	}
	var err error
	if payload != nil {
		err = sm.Ack(*evt.Request, payload)
	} else {
		err = sm.Ack(*evt.Request)
	}
	if err != nil {
		h.log.Error("ack failed", "envelope_id", evt.Request.EnvelopeID, "err", err)
	}
}

// first reports whether this payload is new. Slack redelivers what it
// thinks was not acknowledged; handling it twice would, say, file a
// request twice.
func (h *Handler) first(ctx context.Context, in inbound) bool {
	if h.seen == nil || in.key == "" {
		return true
	}
	ok, err := h.seen.FirstSeen(ctx, in.key, 10*time.Minute)
	if err != nil {
		h.log.Warn("cannot tell whether "+in.what+" is a redelivery; handling it", append(in.attrs, "err", err)...)
		return true
	}
	if !ok {
		h.log.Info("redelivered "+in.what+" ignored", in.attrs...)
	}
	return ok
}

// spawn runs work on its own goroutine, within the worker limit, under a
// deadline. It takes the worker slot before it starts the goroutine, so a
// flood of envelopes waits in Slack's queue (unacknowledged ones are sent
// again) rather than as goroutines here. The envelope in hand was
// acknowledged, so Slack will not send it again: the work runs even when
// ctx ends (SIGTERM) while it waits for a worker, and Run waits for it. A
// click acknowledged is a click handled.
func (h *Handler) spawn(ctx context.Context, what string, work func(context.Context)) {
	h.work.Add(1)
	h.limit <- struct{}{}
	go func() {
		defer h.work.Done()
		defer func() { <-h.limit }()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.wait)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				h.log.Error("handler panicked", "what", what, "panic", fmt.Sprint(p))
			}
		}()
		work(wctx)
	}()
}

// userMessage is what the person who acted is told about err: the domain's
// own message for their mistakes, a generic line (and a log entry) for
// everything else.
func (h *Handler) userMessage(ctx context.Context, err error, id grants.RequestID, what string) string {
	var ue *grants.UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	h.log.ErrorContext(ctx, what+" failed", "request_id", id, "err", err)
	if h.health != nil {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if h.health(hctx) != nil {
			return "jitbot cannot reach its database right now, so nothing was recorded. Please try again in a minute; access already granted still ends on time."
		}
	}
	if id != "" {
		return fmt.Sprintf("Something went wrong with %s; it has been logged.", id)
	}
	return "Something went wrong; it has been logged."
}

// compact is for logging payloads without flooding the log.
func compact(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 500 {
		b = append(b[:500], "…"...)
	}
	return string(b)
}
