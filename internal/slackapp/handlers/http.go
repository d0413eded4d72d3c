package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// The request URLs of HTTP mode, as deploy/slack-app-manifest-http.yaml
// gives them to Slack.
const (
	PathCommands      = "/slack/commands"
	PathInteractivity = "/slack/interactivity"
	PathEvents        = "/slack/events"
)

// MaxBodySize is the largest request body HTTP mode reads. What Slack
// sends jitbot is far smaller (a modal submission with every field at its
// limit is a few KiB), so anything bigger is refused with 413 before it
// is read whole.
const MaxBodySize = 1 << 20

// redeliveryTTL is how long a payload is remembered. Over HTTP it must
// outlast Slack's 5-minute signature window, so that a signed request
// sent again (a retry, or a replay of a captured one) within the window is
// always recognised.
const redeliveryTTL = 10 * time.Minute

// RunHTTP serves Slack's requests on ln (HTTP mode: the Events API, slash
// commands and interactivity at PathEvents, PathCommands and
// PathInteractivity), each verified with signingSecret, until ctx ends. It
// then stops taking requests and waits for the work in hand, as Run does.
// ln should be reached by Slack only through a TLS-terminating proxy.
func (h *Handler) RunHTTP(ctx context.Context, ln net.Listener, signingSecret string) error {
	defer h.work.Wait()
	srv := &http.Server{
		Handler: h.HTTPHandler(ctx, signingSecret),
		// Slack sends small bodies at once; a client that trickles them is
		// not Slack.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve Slack requests on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	// Requests in progress have answered Slack or are about to: let them
	// hand their work over, then wait for it (the deferred Wait).
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	<-served
	if err != nil {
		return fmt.Errorf("stop serving Slack requests: %w", err)
	}
	return nil
}

// HTTPHandler returns the handler of HTTP mode's three request URLs. It
// refuses what Slack did not sign with signingSecret (401), what is older
// than Slack's 5-minute window (401) and bodies over MaxBodySize (413),
// each with a log line. A request that passes is answered at once, with
// the same acknowledgement Socket Mode would send, and its work runs
// after, in the worker pool, under ctx (the service's context).
func (h *Handler) HTTPHandler(ctx context.Context, signingSecret string) http.Handler {
	s := &slackHTTP{h: h, ctx: ctx, secret: signingSecret}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathCommands, s.commands)
	mux.HandleFunc("POST "+PathInteractivity, s.interactivity)
	mux.HandleFunc("POST "+PathEvents, s.events)
	return mux
}

// slackHTTP serves HTTP mode.
type slackHTTP struct {
	h      *Handler
	ctx    context.Context // the service's: the work outlives the request
	secret string
}

func (s *slackHTTP) commands(w http.ResponseWriter, r *http.Request) {
	if !s.verify(w, r) {
		return
	}
	cmd, err := slack.SlashCommandParse(r)
	if err != nil || cmd.UserID == "" {
		s.malformed(w, r, "slash command without a user", err)
		return
	}
	s.h.slashCommand(s.ctx, s.inbound(w, r, "slash:", cmd.TriggerID), cmd)
}

func (s *slackHTTP) interactivity(w http.ResponseWriter, r *http.Request) {
	if !s.verify(w, r) {
		return
	}
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		s.malformed(w, r, "interaction payload that does not decode", err)
		return
	}
	s.h.interactive(s.ctx, s.inbound(w, r, "interaction:", cb.TriggerID), cb)
}

func (s *slackHTTP) events(w http.ResponseWriter, r *http.Request) {
	if !s.verify(w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body) // verify put it in memory
	// The signature replaces the deprecated verification token.
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		// Slack sent it, so it is acknowledged all the same: a retry
		// would not decode either, and Slack turns off the event
		// subscription of an app that keeps failing.
		s.h.log.Warn("Slack event ignored: it does not decode", "err", err, "payload", compact(string(body)))
		w.WriteHeader(http.StatusOK)
		return
	}
	switch data := ev.Data.(type) {
	case *slackevents.EventsAPIURLVerificationEvent:
		// Slack checks a new request URL by asking it to echo this.
		s.h.log.Info("Slack verified the events request URL")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, data.Challenge)
	case *slackevents.EventsAPIAppRateLimited:
		s.h.log.Warn("Slack stopped sending events for a minute: too many for this app", "minute", data.MinuteRateLimited)
		w.WriteHeader(http.StatusOK)
	case *slackevents.EventsAPICallbackEvent:
		s.h.eventsAPI(s.ctx, s.inbound(w, r, "event:", data.EventID), ev)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// verify reads the body of a request and checks that Slack signed it with
// the signing secret, within Slack's 5-minute window. It leaves the body in
// r.Body, for slack-go's parsers. A request that fails is answered and
// logged here, and verify returns false.
func (s *slackHTTP) verify(w http.ResponseWriter, r *http.Request) bool {
	sv, err := slack.NewSecretsVerifier(r.Header, s.secret)
	if err != nil {
		s.refuse(w, r, http.StatusUnauthorized, refusal(err))
		return false
	}
	if r.ContentLength > MaxBodySize {
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes, over the %d-byte limit", r.ContentLength, MaxBodySize))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the %d-byte limit", MaxBodySize))
		return false
	case err != nil:
		s.refuse(w, r, http.StatusBadRequest, "body not read: "+err.Error())
		return false
	}
	sv.Write(body) // a hash.Hash: never fails
	if err := sv.Ensure(); err != nil {
		s.refuse(w, r, http.StatusUnauthorized, refusal(err))
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// refusal says why slack-go's verifier refused a request.
func refusal(err error) string {
	switch {
	case errors.Is(err, slack.ErrMissingHeaders):
		return "not signed: no X-Slack-Signature or X-Slack-Request-Timestamp"
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return "timestamp more than 5 minutes from now: a replay, or a clock that is off"
	case errors.Is(err, slack.ErrInvalidSignature):
		return "signature does not match: not signed with this app's signing secret, or changed on the way"
	}
	return "malformed signature or timestamp: " + err.Error()
}

// refuse answers a request that is not handled, and logs why: a refused
// request is either someone else's or a misconfigured signing secret.
func (s *slackHTTP) refuse(w http.ResponseWriter, r *http.Request, status int, why string) {
	s.h.log.Warn("Slack request refused", "path", r.URL.Path, "remote_addr", r.RemoteAddr, "status", status, "reason", why)
	http.Error(w, http.StatusText(status), status)
}

// malformed refuses a signed request whose payload does not decode.
func (s *slackHTTP) malformed(w http.ResponseWriter, r *http.Request, what string, err error) {
	why := what
	if err != nil {
		why += ": " + err.Error()
	}
	s.refuse(w, r, http.StatusBadRequest, why)
}

// inbound is the inbound of a verified request. Its key is the
// payload's own ID where it has one (event_id, trigger_id), which Slack
// keeps in its retries (X-Slack-Retry-Num); otherwise the signature, which
// at least recognises the same request sent twice.
func (s *slackHTTP) inbound(w http.ResponseWriter, r *http.Request, kind, id string) inbound {
	key := "http:" + kind + id
	if id == "" {
		key = "http:signature:" + r.Header.Get("X-Slack-Signature")
	}
	in := inbound{key: key, what: "Slack request", attrs: []any{"path", r.URL.Path, "key", key}}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		in.attrs = append(in.attrs, "retry_num", n, "retry_reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	in.ack = func(payload any) { s.respond(w, payload) }
	return in
}

// respond answers Slack with the acknowledgement and flushes it, so that
// Slack has it before the handler goes on (the redelivery check).
func (s *slackHTTP) respond(w http.ResponseWriter, payload any) {
	var body []byte
	if payload != nil {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			s.h.log.Error("encode the acknowledgement", "err", err)
			body = nil
		}
	}
	if len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
