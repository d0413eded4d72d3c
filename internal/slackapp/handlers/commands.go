package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/command"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
)

// command runs one /jit invocation. Every answer goes to the caller alone.
func (h *Handler) command(ctx context.Context, sc slack.SlashCommand) {
	to := replyTo{user: sc.UserID, responseURL: sc.ResponseURL}
	cmd, err := command.Parse(sc.Text)
	if err != nil {
		var pe *command.Error
		if errors.As(err, &pe) {
			h.tell(ctx, to, blockkit.Escape(pe.Error()))
			return
		}
		h.tell(ctx, to, h.userMessage(ctx, err, "", "parse command"))
		return
	}
	h.log.InfoContext(ctx, "command", "user", sc.UserID, "kind", cmd.Kind, "role", cmd.Role, "request_id", cmd.ID)
	switch cmd.Kind {
	case command.Modal:
		h.openRequestModal(ctx, to, sc.TriggerID)
	case command.Help:
		h.tell(ctx, to, blockkit.Help(command.Examples()))
	case command.Request:
		in := grants.RequestInput{
			UserID: sc.UserID, Role: cmd.Role, Duration: cmd.Duration, Reason: cmd.Reason, Incident: cmd.Incident, Account: cmd.Account, For: cmd.For,
		}
		if !cmd.Start.IsZero() {
			in.Start = cmd.Start.Resolve(h.now(), h.location(ctx, sc.UserID))
		}
		r, err := h.svc.Request(ctx, in)
		h.acknowledge(ctx, to, r, withUsage(err, command.Request))
	case command.Roles:
		roles, err := h.svc.EligibleRoles(ctx, sc.UserID)
		if err != nil {
			h.tell(ctx, to, h.userMessage(ctx, err, "", "list roles"))
			return
		}
		h.show(ctx, to, "Roles you can request", blockkit.Roles(rules.Matching(roles, cmd.Filter), cmd.Filter))
	case command.List:
		if !h.mayRead(ctx, to) {
			return
		}
		l, err := h.svc.List(directory.Listing(ctx), sc.UserID)
		if err != nil {
			h.tell(ctx, to, h.userMessage(ctx, err, "", "list requests"))
			return
		}
		h.show(ctx, to, "Your requests and grants", blockkit.List(l, h.now()))
	case command.Report:
		if h.mayRead(ctx, to) {
			h.accessReport(directory.Listing(ctx), to, cmd.Duration)
		}
	case command.Revoke:
		h.revoke(ctx, to, grants.RequestID(cmd.ID), sc.UserID)
	case command.Extend:
		r, err := h.svc.Extend(ctx, grants.RequestID(cmd.ID), sc.UserID, cmd.Duration)
		h.acknowledge(ctx, to, r, withUsage(err, command.Extend))
	default:
		h.tell(ctx, to, blockkit.Help(command.Examples()))
	}
}

// mayRead takes a token of the caller's read limit, or tells them to
// slow down.
func (h *Handler) mayRead(ctx context.Context, to replyTo) bool {
	ok, wait := h.reads.allow(to.user, h.now())
	if !ok {
		h.log.InfoContext(ctx, "read command limited", "user", to.user, "retry_in", wait)
		h.tell(ctx, to, slowDown(wait))
	}
	return ok
}

// withUsage adds the right form of the command to an error about what was
// typed (an unknown role, a duration out of bounds), so the answer shows
// how to write it.
func withUsage(err error, k command.Kind) error {
	var ue *grants.UserError
	if errors.As(err, &ue) && (errors.Is(err, grants.ErrInvalidInput) || errors.Is(err, grants.ErrUnknownRole)) {
		return &grants.UserError{Msg: ue.Msg + "\nUsage: " + command.Usage(k), Err: ue.Err}
	}
	return err
}

// acknowledge answers a new request (or extension): its ID and who was
// asked, or why it was refused.
func (h *Handler) acknowledge(ctx context.Context, to replyTo, r *grants.Request, err error) {
	if err != nil {
		var id grants.RequestID
		if r != nil {
			id = r.ID
		}
		h.tell(ctx, to, blockkit.Escape(h.userMessage(ctx, err, id, "request")))
		return
	}
	var asked []string
	if !r.AutoApproved {
		if asked, err = h.svc.Approvers(ctx, r); err != nil {
			h.log.WarnContext(ctx, "resolve approvers for the acknowledgement", "request_id", r.ID, "err", err)
		}
	}
	text := blockkit.Acknowledgement(r, asked)
	if !r.AutoApproved && h.onCallDown != nil && h.onCallDown() {
		if role, ok := h.svc.Catalog().Role(r.Role); ok && role.AutoApprove != "" {
			text += "\n:information_source: PagerDuty could not be reached, so your on-call status was not checked; this request takes the normal approval path."
		}
	}
	h.tell(ctx, to, text)
}

func (h *Handler) revoke(ctx context.Context, to replyTo, id grants.RequestID, userID string) {
	r, err := h.svc.Revoke(ctx, id, userID, "")
	if err != nil {
		h.tell(ctx, to, blockkit.Escape(h.userMessage(ctx, err, id, "revoke")))
		return
	}
	switch r.State {
	case grants.Cancelled:
		h.tell(ctx, to, blockkit.Answer(r, fmt.Sprintf("Cancelled `%s`.", r.ID)))
	case grants.Revoking:
		h.tell(ctx, to, blockkit.Answer(r, fmt.Sprintf("Revoking `%s`: AWS is not answering, so jitbot keeps trying until the access is gone.", r.ID)))
	default:
		h.tell(ctx, to, blockkit.Answer(r, fmt.Sprintf("Revoked `%s`: the access to %s is gone.", r.ID, blockkit.Escape(r.Role))))
	}
}

// openRequestModal shows the request form with the roles the user may
// request.
func (h *Handler) openRequestModal(ctx context.Context, to replyTo, triggerID string) {
	roles, err := h.svc.EligibleRoles(ctx, to.user)
	if err != nil {
		h.tell(ctx, to, h.userMessage(ctx, err, "", "list roles"))
		return
	}
	if len(roles) == 0 {
		h.tell(ctx, to, "There is no role you can request. `/jit help` shows how jitbot works; the role catalog's owners decide who is eligible.")
		return
	}
	if _, err := h.api.OpenViewContext(ctx, triggerID, blockkit.RequestModal(roles)); err != nil {
		h.log.ErrorContext(ctx, "open request modal", "user", to.user, "err", err)
		h.tell(ctx, to, "The request form could not be opened; type the request instead: `"+blockkit.Escape(command.Usage(command.Request))+"`")
	}
}

// defaultReportWindow is the window of /jit report without a duration.
const defaultReportWindow = 30 * 24 * time.Hour

// accessReport answers /jit report, for approvers only: the report shows
// every role's requesters and activity.
func (h *Handler) accessReport(ctx context.Context, to replyTo, window time.Duration) {
	if h.report == nil {
		h.tell(ctx, to, "The access report needs the durable audit log, which this jitbot does not have.")
		return
	}
	roles, err := h.svc.ApproverOf(ctx, to.user)
	if err != nil {
		h.tell(ctx, to, h.userMessage(ctx, err, "", "report"))
		return
	}
	if len(roles) == 0 {
		h.tell(ctx, to, "The access report is for the approvers of a role; you approve none.")
		return
	}
	if window <= 0 {
		window = defaultReportWindow
	}
	r, err := h.report(ctx, window)
	if err != nil {
		h.tell(ctx, to, h.userMessage(ctx, err, "", "report"))
		return
	}
	h.tell(ctx, to, blockkit.Preformatted(r.Text))
	if len(r.Chart) > 0 {
		h.uploadChart(ctx, to.user, r.Chart)
	}
}

// uploadChart shares the report's chart in user's DM with the bot. The
// text has been answered already, so a failure (no files:write scope,
// Slack down) is only logged: the chart is an extra.
func (h *Handler) uploadChart(ctx context.Context, user string, png []byte) {
	dm, _, _, err := h.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
	if err == nil {
		_, err = h.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader: bytes.NewReader(png), FileSize: len(png), Filename: "access-report.png",
			Title: "Requests per day, by outcome", Channel: dm.ID,
			AltTxt: "Bar chart of the access requests of each day, stacked by outcome",
		})
	}
	if err != nil {
		h.log.ErrorContext(ctx, "upload the report chart", "user", user, "err", err)
	}
}

// location is userID's time zone as Slack knows it, in which a --start
// of HH:MM is read; UTC when Slack does not say.
func (h *Handler) location(ctx context.Context, userID string) *time.Location {
	u, err := h.api.GetUserInfoContext(ctx, userID)
	if err != nil || u.TZ == "" {
		h.log.WarnContext(ctx, "time zone of the requester unknown; reading --start in UTC", "user", userID, "err", err)
		return time.UTC
	}
	loc, err := time.LoadLocation(u.TZ)
	if err != nil {
		h.log.WarnContext(ctx, "time zone of the requester unknown; reading --start in UTC", "user", userID, "tz", u.TZ, "err", err)
		return time.UTC
	}
	return loc
}
