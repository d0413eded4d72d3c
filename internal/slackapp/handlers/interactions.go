package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/command"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
)

// interaction handles a button click. A button's value is only the request
// ID; everything else is read from the store.
func (h *Handler) interaction(ctx context.Context, cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		return
	}
	a := cb.ActionCallback.BlockActions[0]
	id := grants.RequestID(a.Value)
	to := replyTo{user: cb.User.ID, responseURL: cb.ResponseURL}
	h.log.InfoContext(ctx, "click", "user", cb.User.ID, "action", a.ActionID, "request_id", id)
	switch a.ActionID {
	case blockkit.ActionApprove:
		r, err := h.svc.Approve(ctx, id, cb.User.ID)
		if err != nil {
			h.tell(ctx, to, h.decisionError(ctx, r, err, id, "approve"))
			return
		}
		if r.State == grants.Pending {
			h.tell(ctx, to, blockkit.Answer(r, blockkit.ApprovedAt(r, cb.User.ID)))
		}
		if cb.View.Type == slack.VTHomeTab {
			h.publishHome(ctx, cb.User.ID)
		}
	case blockkit.ActionAcknowledge:
		r, err := h.svc.Acknowledge(ctx, id, cb.User.ID)
		if err != nil {
			h.tell(ctx, to, h.decisionError(ctx, r, err, id, "review"))
			return
		}
		h.tell(ctx, to, blockkit.Answer(r, fmt.Sprintf("Thanks: you reviewed break-glass `%s`.", r.ID)))
	case blockkit.ActionDeny:
		if _, err := h.api.OpenViewContext(ctx, cb.TriggerID, blockkit.DenyModal(id)); err != nil {
			h.log.ErrorContext(ctx, "open deny modal", "request_id", id, "err", err)
			h.tell(ctx, to, "The deny form could not be opened; try again.")
		}
	case blockkit.ActionRevoke:
		h.revoke(ctx, to, id, cb.User.ID)
		if cb.View.Type == slack.VTHomeTab {
			h.publishHome(ctx, cb.User.ID)
		}
	case blockkit.ActionExtend:
		r, err := h.svc.Get(ctx, id)
		if err != nil {
			h.tell(ctx, to, blockkit.Escape(h.userMessage(ctx, err, id, "extend")))
			return
		}
		if _, err := h.api.OpenViewContext(ctx, cb.TriggerID, blockkit.ExtendModal(r)); err != nil {
			h.log.ErrorContext(ctx, "open extend modal", "request_id", id, "err", err)
			h.tell(ctx, to, "The extend form could not be opened; use `"+blockkit.Escape(command.Usage(command.Extend))+"`.")
		}
	default:
		h.log.WarnContext(ctx, "unknown action", "action", a.ActionID, "payload", compact(a))
	}
}

// decisionError explains a refused decision. For a request decided by
// someone else it names who, as mentions.
func (h *Handler) decisionError(ctx context.Context, r *grants.Request, err error, id grants.RequestID, verb string) string {
	if errors.Is(err, grants.ErrDecided) && r != nil {
		if cur, gerr := h.svc.Get(ctx, r.ID); gerr == nil {
			r = cur
		}
		switch {
		case r.AutoApproved:
			return fmt.Sprintf("`%s` was already approved automatically.", r.ID)
		case len(r.Approvals) > 0 && r.State != grants.Pending && r.State != grants.Denied:
			var who []string
			for _, a := range r.Approvals {
				who = append(who, blockkit.Mention(a.Approver))
			}
			return fmt.Sprintf("`%s` was already approved by %s.", r.ID, strings.Join(who, " and "))
		case r.State == grants.Denied && r.DecidedBy != "":
			return fmt.Sprintf("`%s` was already denied by %s.", r.ID, blockkit.Mention(r.DecidedBy))
		}
	}
	return blockkit.Escape(h.userMessage(ctx, err, id, verb))
}

// submission checks a submitted modal. It returns the ack payload (field
// errors keep the modal open) and the work to do once the modal is closed.
func (h *Handler) submission(cb slack.InteractionCallback) (payload any, then func(context.Context)) {
	v := cb.View
	user := cb.User.ID
	to := replyTo{user: user} // modals have no response URL: answers go by DM
	switch v.CallbackID {
	case blockkit.ViewRequest:
		in, errs := h.requestForm(user, v.State)
		if len(errs) > 0 {
			return slack.NewErrorsViewSubmissionResponse(errs), nil
		}
		return nil, func(ctx context.Context) {
			r, err := h.svc.Request(ctx, in)
			h.acknowledge(ctx, to, r, err)
		}
	case blockkit.ViewDeny:
		id := grants.RequestID(v.PrivateMetadata)
		reason := strings.TrimSpace(value(v.State, blockkit.InputReason))
		if n := utf8.RuneCountInString(reason); n > command.MaxReason {
			return slack.NewErrorsViewSubmissionResponse(map[string]string{
				blockkit.InputReason: fmt.Sprintf("%d characters; at most %d, please", n, command.MaxReason),
			}), nil
		}
		return nil, func(ctx context.Context) {
			r, err := h.svc.Deny(ctx, id, user, reason)
			if err != nil {
				h.tell(ctx, to, h.decisionError(ctx, r, err, id, "deny"))
			}
		}
	case blockkit.ViewExtend:
		id := grants.RequestID(v.PrivateMetadata)
		d, err := rules.ParseDuration(value(v.State, blockkit.InputDuration))
		if err != nil {
			return slack.NewErrorsViewSubmissionResponse(map[string]string{blockkit.InputDuration: "say how much more time, as in 30m or 1h"}), nil
		}
		return nil, func(ctx context.Context) {
			r, err := h.svc.Extend(ctx, id, user, d)
			h.acknowledge(ctx, to, r, err)
		}
	}
	h.log.Warn("submission of an unknown view", "callback_id", v.CallbackID)
	return nil, nil
}

// requestForm reads the request modal, with an error per field for
// everything that can be told without I/O.
func (h *Handler) requestForm(user string, st *slack.ViewState) (grants.RequestInput, map[string]string) {
	errs := map[string]string{}
	in := grants.RequestInput{
		UserID:   user,
		Role:     selected(st, blockkit.InputRole),
		Reason:   strings.TrimSpace(value(st, blockkit.InputReason)),
		Incident: strings.TrimSpace(value(st, blockkit.InputIncident)),
		Account:  selected(st, blockkit.InputAccount),
	}
	if st != nil {
		if at := st.Values[blockkit.InputStart][blockkit.InputStart].SelectedDateTime; at > 0 {
			in.Start = time.Unix(at, 0)
		}
		in.For = st.Values[blockkit.InputFor][blockkit.InputFor].SelectedUser
	}
	if !in.Start.IsZero() && in.Start.Before(h.now().Add(-time.Minute)) {
		errs[blockkit.InputStart] = "that is in the past; leave it empty for access now"
	}
	role, ok := h.svc.Catalog().Role(in.Role)
	if !ok {
		errs[blockkit.InputRole] = "choose a role"
	}
	if s := strings.TrimSpace(value(st, blockkit.InputDuration)); s != "" {
		d, err := rules.ParseDuration(s)
		switch {
		case err != nil:
			errs[blockkit.InputDuration] = "not a duration; write it as 90s, 15m, 1h30m or 1d"
		case d < h.min:
			errs[blockkit.InputDuration] = "at least " + rules.FormatDuration(h.min)
		case ok && d > role.MaxDuration:
			errs[blockkit.InputDuration] = fmt.Sprintf("%s allows at most %s", role.Name, rules.FormatDuration(role.MaxDuration))
		}
		in.Duration = d
	}
	// The same measures as the service and the /jit parser, worded for
	// the modal's fields.
	switch n, fit := grants.MeasureReason(in.Reason); fit {
	case grants.TooShort:
		errs[blockkit.InputReason] = fmt.Sprintf("at least %d characters: say what you will do with the access", grants.MinReason)
	case grants.TooLong:
		errs[blockkit.InputReason] = fmt.Sprintf("%d characters; at most %d, please", n, grants.MaxReason)
	}
	if _, fit := grants.MeasureIncident(in.Incident); fit != grants.Fits || strings.ContainsFunc(in.Incident, unicode.IsSpace) {
		errs[blockkit.InputIncident] = fmt.Sprintf("one reference such as INC-42, at most %d characters", grants.MaxIncident)
	}
	return in, errs
}

func value(st *slack.ViewState, id string) string {
	if st == nil {
		return ""
	}
	return st.Values[id][id].Value
}

func selected(st *slack.ViewState, id string) string {
	if st == nil {
		return ""
	}
	return st.Values[id][id].SelectedOption.Value
}
