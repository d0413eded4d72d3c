package blockkit

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// RequestModal is the form /jit opens: a role (static_select of the given
// roles, value = role name), an optional duration, an optional incident
// and a required reason. More than 100 roles are offered in option groups
// of 100, Slack's limit per list. Inputs are read as
// view.state.values[X][X], X being InputRole, InputDuration, …
func RequestModal(roles []*rules.Role) slack.ModalViewRequest {
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a role", MaxPlainText), InputRole)
	if len(roles) <= MaxOptions {
		for _, r := range roles {
			sel.Options = append(sel.Options, roleOption(r))
		}
	} else {
		for start := 0; start < len(roles) && len(sel.OptionGroups) < MaxOptions; start += MaxOptions {
			part := roles[start:min(start+MaxOptions, len(roles))]
			label := part[0].Name + " … " + part[len(part)-1].Name
			g := slack.NewOptionGroupBlockElement(plain(label, MaxOptionText))
			for _, r := range part {
				g.Options = append(g.Options, roleOption(r))
			}
			sel.OptionGroups = append(sel.OptionGroups, g)
		}
	}
	if len(roles) == 1 {
		sel.InitialOption = roleOption(roles[0])
	}

	duration := slack.NewPlainTextInputBlockElement(plain(durationPlaceholder(roles), MaxPlainText), InputDuration)
	incident := slack.NewPlainTextInputBlockElement(plain("e.g. INC-42", MaxPlainText), InputIncident).
		WithMaxLength(grants.MaxIncident)
	reason := slack.NewPlainTextInputBlockElement(plain("What will you do with the access, and why?", MaxPlainText), InputReason).
		WithMultiline(true).WithMinLength(grants.MinReason).WithMaxLength(grants.MaxReason)

	blocks := []slack.Block{
		section("Ask for short-lived AWS access for one task. The role's approvers get your request; you get a DM when they decide."),
		input(InputRole, "Role", "", sel, false),
	}
	if accounts := accountSelect(roles); accounts != nil {
		blocks = append(blocks, input(InputAccount, "Account", "For an Identity Center role granted in several accounts: where you need it.", accounts, true))
	}
	blocks = append(blocks,
		input(InputDuration, "Duration", "Like 90s, 15m, 1h30m, 2h or 1d; at most the role's maximum.", duration, true),
		input(InputIncident, "Incident", "An incident reference, if this is for one.", incident, true),
		input(InputStart, "Start", "For a window ahead (maintenance tonight, say): when it begins. Leave empty for access now.", slack.NewDateTimePickerBlockElement(InputStart), true),
		input(InputFor, "For someone else", "If the role allows it: the person who needs the access. Only they get it.",
			slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plain("Choose a person", MaxPlainText), InputFor), true),
		input(InputReason, "Reason", "Approvers and the audit channel see it as you write it.", reason, false),
	)
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: ViewRequest,
		Title:      plain("Request access", MaxTitleText),
		Submit:     plain("Request", MaxTitleText),
		Close:      plain("Cancel", MaxTitleText),
		Blocks:     slack.Blocks{BlockSet: blocks},
	}
}

// accountSelect offers the accounts of the aws_sso roles among roles, each
// once, by alias and ID; nil when none has more than one (a role with one
// account needs no choice).
func accountSelect(roles []*rules.Role) *slack.SelectBlockElement {
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose an account", MaxPlainText), InputAccount)
	seen := map[string]bool{}
	several := false
	for _, r := range roles {
		if r.Backend != grants.BackendSSO {
			continue
		}
		several = several || len(r.Accounts) > 1
		for _, a := range r.Accounts {
			if seen[a.ID] || len(sel.Options) == MaxOptions {
				continue
			}
			seen[a.ID] = true
			sel.Options = append(sel.Options, slack.NewOptionBlockObject(a.ID, plain(a.String(), MaxOptionText), nil))
		}
	}
	if !several {
		return nil
	}
	return sel
}

func roleOption(r *rules.Role) *slack.OptionBlockObject {
	desc := "max " + dur(r.MaxDuration)
	if r.Description != "" {
		desc += " · " + oneLine(r.Description)
	}
	return slack.NewOptionBlockObject(cutPlain(r.Name, MaxOptionValue), plain(r.Name, MaxOptionText), plain(desc, MaxOptionText))
}

// durationPlaceholder tells what happens when the duration is left empty:
// the role's default, named when all roles share one.
func durationPlaceholder(roles []*rules.Role) string {
	if len(roles) == 0 {
		return "The role's default"
	}
	d := roles[0].DefaultDuration
	for _, r := range roles[1:] {
		if r.DefaultDuration != d {
			return "The role's default"
		}
	}
	return "Default: " + dur(d)
}

// input is an input block whose block_id equals its element's action_id,
// so a handler reads state.values[id][id].
func input(id, label, hint string, el slack.BlockElement, optional bool) *slack.InputBlock {
	var h *slack.TextBlockObject
	if hint != "" {
		h = plain(hint, 2000)
	}
	return slack.NewInputBlock(id, plain(label, 2000), h, el).WithOptional(optional)
}

// DenyModal asks an approver for an optional reason before denying id.
// private_metadata is the request ID.
func DenyModal(id grants.RequestID) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("Why not? The requester sees this.", MaxPlainText), InputReason).
		WithMultiline(true).WithMaxLength(grants.MaxReason)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ViewDeny,
		PrivateMetadata: metadata(id),
		Title:           plain("Deny request", MaxTitleText),
		Submit:          plain("Deny", MaxTitleText),
		Close:           plain("Cancel", MaxTitleText),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("Deny " + reqID(id) + "? The requester gets a DM with your reason, and the audit channel records it."),
			input(InputReason, "Reason", "", reason, true),
		}},
	}
}

// ExtendModal asks how much more time r needs. private_metadata is r.ID.
func ExtendModal(r *grants.Request) slack.ModalViewRequest {
	duration := slack.NewPlainTextInputBlockElement(plain("e.g. 30m or 1h", MaxPlainText), InputDuration)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ViewExtend,
		PrivateMetadata: metadata(r.ID),
		Title:           plain("Extend access", MaxTitleText),
		Submit:          plain("Ask", MaxTitleText),
		Close:           plain("Cancel", MaxTitleText),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(fmt.Sprintf("Your access to %s (%s) ends %s. More time is approved like a new request, unless a rule approves it at once.",
				roleName(r.Role), reqID(r.ID), date(r.ExpiresAt))),
			input(InputDuration, "How much more time?", "Like 15m, 30m or 1h; your time left plus this stays within the role's maximum.", duration, false),
		}},
	}
}

// metadata carries a request ID through a modal. An ID too long for
// private_metadata cannot be a real one, so it is dropped rather than cut
// into another.
func metadata(id grants.RequestID) string {
	if len(id) > MaxMetadata {
		return ""
	}
	return string(id)
}

// Home is the user's App Home: their active grants (time left, Extend and
// Revoke), their pending requests (Cancel) and the requests awaiting their
// approval (Approve and Deny); with nothing open, how to ask for access.
// Long lists are cut to fit Slack's 100 blocks, with a count of the rest.
func Home(l grants.Listing, now time.Time) slack.HomeTabViewRequest {
	p := &page{}
	p.add(header("Just-in-time AWS access"),
		note("Ask with `/jit` for a form or `/jit request &lt;role&gt; [&lt;duration&gt;] &lt;reason…&gt;`; `/jit roles` lists your roles and `/jit help` everything else."),
		divider())
	if len(l.Mine) == 0 && len(l.Awaiting) == 0 {
		p.add(section(emptyState))
	} else {
		addGroups(p, listGroups(l, now), MaxViewBlocks)
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: p.blocks}}
}
