package slackfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// verificationToken is the deprecated token Slack still puts in payloads.
const verificationToken = "slackfake-verification-token"

// Command is the slash command the fake's app has.
const Command = "/jit"

// slashPayload is a slash command as Socket Mode carries it: the fields of
// Slack's form post, every one a string (is_enterprise_install is "false",
// not false).
type slashPayload struct {
	Token               string `json:"token"`
	TeamID              string `json:"team_id"`
	TeamDomain          string `json:"team_domain"`
	ChannelID           string `json:"channel_id"`
	ChannelName         string `json:"channel_name"`
	UserID              string `json:"user_id"`
	UserName            string `json:"user_name"`
	Command             string `json:"command"`
	Text                string `json:"text"`
	APIAppID            string `json:"api_app_id"`
	IsEnterpriseInstall string `json:"is_enterprise_install"`
	ResponseURL         string `json:"response_url"`
	TriggerID           string `json:"trigger_id"`
}

// SlashCommand sends "/jit text" typed by userID in the default channel
// (WithChannel), with a fresh trigger_id and response_url. The ack may carry
// a message (text, blocks, response_type), which Slack shows as the answer.
func (s *Server) SlashCommand(t TB, userID, text string) Envelope {
	t.Helper()
	return s.SlashCommandIn(t, userID, s.channel, text)
}

// SlashCommandIn is SlashCommand typed in channel.
func (s *Server) SlashCommandIn(t TB, userID, channel, text string) Envelope {
	t.Helper()
	env, err := s.SendSlashCommand(userID, channel, text)
	if err != nil {
		t.Fatalf("slackfake: %v", err)
	}
	return env
}

func (s *Server) userName(id string) string {
	if u, ok := s.users[id]; ok {
		return u.name()
	}
	return strings.ToLower(id)
}

func (s *Server) userJSON(id string) map[string]any {
	name := s.userName(id)
	return map[string]any{"id": id, "username": name, "name": name, "team_id": TeamID}
}

func teamJSON() map[string]any { return map[string]any{"id": TeamID, "domain": TeamDomain} }

// Click sends the block_actions payload of userID clicking the button with
// actionID in the message messageTS of channel. The button must be in the
// message, as it is now or as it was before an update (a user may still
// see the old one). A non-empty value picks the button with that value and
// fails the test if there is none. The payload has a fresh trigger_id and a
// response_url whose replace_original/delete_original act on that message.
//
// A user can only click what they see: Click fails the test when userID
// is not the member of the DM or the user an ephemeral message is for.
func (s *Server) Click(t TB, userID, channel, messageTS, actionID, value string) Envelope {
	t.Helper()
	return s.click(t, "Click", userID, channel, messageTS, actionID, value, false)
}

// ForgedClick is Click without the check that userID can see the message:
// the payload of a user clicking a button in someone else's DM or
// ephemeral message. Slack never sends such a payload; tests use it to
// prove that the bot decides on who clicked, not on where the button was.
func (s *Server) ForgedClick(t TB, userID, channel, messageTS, actionID, value string) Envelope {
	t.Helper()
	return s.click(t, "ForgedClick", userID, channel, messageTS, actionID, value, true)
}

func (s *Server) click(t TB, name, userID, channel, messageTS, actionID, value string, forged bool) Envelope {
	t.Helper()
	env, err := s.sendClick(userID, channel, messageTS, actionID, value, forged)
	if err != nil {
		t.Fatalf("slackfake: %s: %v", name, err)
	}
	return env
}

func (s *Server) clickPayload(userID, channel, ts, actionID, value string, forged bool) (map[string]any, error) {
	m := s.findMessage(channel, ts)
	switch {
	case m == nil:
		return nil, fmt.Errorf("no message %s in %s", ts, channel)
	case forged:
	case m.Ephemeral && m.User != userID:
		return nil, fmt.Errorf("message %s in %s is ephemeral to %s; %s cannot see it (ForgedClick sends it anyway)", ts, channel, m.User, userID)
	case s.dmOwners[channel] != "" && s.dmOwners[channel] != userID:
		return nil, fmt.Errorf("%s is the DM of %s; %s cannot see it (ForgedClick sends it anyway)", channel, s.dmOwners[channel], userID)
	}
	seen := m.Blocks
	blockID, elem := findElement(seen, actionID, value)
	for i := len(m.history) - 1; elem == nil && i >= 0; i-- {
		seen = m.history[i]
		blockID, elem = findElement(seen, actionID, value)
	}
	if elem == nil {
		return nil, fmt.Errorf("message %s in %s has no button %q with value %q, now or before", ts, channel, actionID, value)
	}
	action, err := buttonAction(elem, blockID)
	if err != nil {
		return nil, err
	}
	responseURL, _ := s.newResponseURL(userID, channel, ts)
	p := map[string]any{
		"type": "block_actions", "user": s.userJSON(userID), "api_app_id": AppID,
		"token": verificationToken, "team": teamJSON(), "enterprise": nil, "is_enterprise_install": false,
		"trigger_id":   s.newTrigger(userID),
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": m.Ephemeral},
		"channel":      map[string]any{"id": channel, "name": s.channelName(channel)},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": responseURL,
		"actions":      []any{action},
	}
	if !m.Ephemeral { // Slack sends no message for an ephemeral one
		msg := messageJSON(m)
		msg["blocks"] = seen
		p["message"] = msg
	}
	return p, nil
}

// buttonAction is the actions[] entry of a button click.
func buttonAction(elem map[string]any, blockID string) (map[string]any, error) {
	if elem["type"] != "button" {
		return nil, fmt.Errorf("element %q is a %v, not a button", str(elem["action_id"]), elem["type"])
	}
	a := map[string]any{
		"action_id": elem["action_id"], "block_id": blockID, "text": elem["text"],
		"type": "button", "action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000),
	}
	if v, ok := elem["value"]; ok {
		a["value"] = v
	}
	if st, ok := elem["style"]; ok {
		a["style"] = st
	}
	return a, nil
}

// ClickHome sends the block_actions payload of userID clicking the button
// with actionID in their published App Home. Slack sends no response_url
// for clicks in a view.
func (s *Server) ClickHome(t TB, userID, actionID, value string) Envelope {
	t.Helper()
	env, err := s.SendClickHome(userID, actionID, value)
	if err != nil {
		t.Fatalf("slackfake: ClickHome: %v", err)
	}
	return env
}

func (s *Server) homeClickPayload(userID, actionID, value string) (map[string]any, error) {
	id, ok := s.homes[userID]
	if !ok {
		return nil, fmt.Errorf("no App Home published for %s", userID)
	}
	v := s.views[id]
	blocks, _ := json.Marshal(v.obj["blocks"])
	blockID, elem := findElement(blocks, actionID, value)
	if elem == nil {
		return nil, fmt.Errorf("the App Home of %s has no button %q with value %q", userID, actionID, value)
	}
	action, err := buttonAction(elem, blockID)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"type": "block_actions", "user": s.userJSON(userID), "api_app_id": AppID,
		"token": verificationToken, "team": teamJSON(), "enterprise": nil, "is_enterprise_install": false,
		"trigger_id": s.newTrigger(userID),
		"container":  map[string]any{"type": "view", "view_id": v.id},
		"view":       v.wire(),
		"actions":    []any{action},
	}, nil
}

// PlainText is the state of a plain_text_input holding value, for
// SubmitView.
func PlainText(value string) map[string]any {
	return map[string]any{"type": "plain_text_input", "value": value}
}

// Selected is the state of a static_select with the option of this value
// selected, for SubmitView; the fake fills in the option's text.
func Selected(value string) map[string]any {
	return map[string]any{"type": "static_select", "selected_option": map[string]any{"value": value}}
}

// DateTime is the state of a datetimepicker set to at, for SubmitView.
func DateTime(at time.Time) map[string]any {
	return map[string]any{"type": "datetimepicker", "selected_date_time": at.Unix()}
}

// UserSelected is the state of a users_select with userID chosen, for
// SubmitView.
func UserSelected(userID string) map[string]any {
	return map[string]any{"type": "users_select", "selected_user": userID}
}

// SubmitView sends the view_submission payload of userID pressing Submit
// on their open modal viewID, with values keyed by block_id then action_id
// (see PlainText and Selected). Like Slack, the state holds every
// input block of the view: inputs not in values keep their initial value.
// It fails the test where the Slack client would not let the user submit:
// a value for an input the view does not have, an option the select does
// not offer, or an empty required input.
//
// Slack reacts to the ack as it would: no payload closes the modal,
// response_action "errors" keeps it open with the errors (View.Errors),
// "update" replaces it, "push" stacks a new one and "clear" closes all.
func (s *Server) SubmitView(t TB, userID, viewID string, values map[string]map[string]any) Envelope {
	t.Helper()
	env, err := s.SendSubmitView(userID, viewID, values)
	if err != nil {
		t.Fatalf("slackfake: SubmitView: %v", err)
	}
	return env
}

func (s *Server) submitPayload(userID, viewID string, values map[string]map[string]any) (map[string]any, error) {
	v := s.views[viewID]
	if v == nil || v.typ != "modal" || !slices.Contains(s.modals[userID], viewID) {
		return nil, fmt.Errorf("%s has no open modal %s (open: %v)", userID, viewID, s.modals[userID])
	}
	state, err := viewState(v, values)
	if err != nil {
		return nil, fmt.Errorf("modal %s (callback_id %q): %w", viewID, str(v.obj["callback_id"]), err)
	}
	w := v.wire()
	w["state"] = map[string]any{"values": state}
	return map[string]any{
		"type": "view_submission", "user": s.userJSON(userID), "api_app_id": AppID,
		"token": verificationToken, "team": teamJSON(), "enterprise": nil, "is_enterprise_install": false,
		"trigger_id": s.newTrigger(userID), "view": w, "response_urls": []any{},
	}, nil
}

// viewState builds state.values of a submission.
func viewState(v *view, values map[string]map[string]any) (map[string]any, error) {
	used := map[[2]string]bool{}
	state := map[string]any{}
	blocks, _ := v.obj["blocks"].([]any)
	for i, b := range blocks {
		bm, _ := b.(map[string]any)
		if bm["type"] != "input" {
			continue
		}
		elem, _ := bm["element"].(map[string]any)
		blockID, actionID := str(bm["block_id"]), str(elem["action_id"])
		if blockID == "" {
			blockID = fmt.Sprintf("slackfake-block-%d", i)
		}
		if actionID == "" {
			actionID = fmt.Sprintf("slackfake-action-%d", i)
		}
		typ := str(elem["type"])
		given, ok := values[blockID][actionID]
		used[[2]string{blockID, actionID}] = ok
		val, err := inputValue(typ, elem, given, ok)
		if err != nil {
			return nil, fmt.Errorf("input %s/%s: %w", blockID, actionID, err)
		}
		if bm["optional"] != true && isEmpty(val) {
			return nil, fmt.Errorf("input %s/%s is required and empty; Slack would not submit", blockID, actionID)
		}
		state[blockID] = map[string]any{actionID: val}
	}
	for blockID, actions := range values {
		for actionID := range actions {
			if !used[[2]string{blockID, actionID}] {
				return nil, fmt.Errorf("the view has no input %s/%s", blockID, actionID)
			}
		}
	}
	return state, nil
}

// inputValue is the state of one input element: given by the test, or the
// element's initial value.
func inputValue(typ string, elem map[string]any, given any, ok bool) (map[string]any, error) {
	var val map[string]any
	if ok {
		gm, isMap := given.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("value %v is not a map (use PlainText or Selected)", given)
		}
		if gt, ok := gm["type"]; ok && gt != typ {
			return nil, fmt.Errorf("is a %s, not a %v", typ, gt)
		}
		val = maps.Clone(gm)
	} else {
		val = map[string]any{}
		switch typ {
		case "plain_text_input":
			val["value"] = elem["initial_value"]
		case "static_select":
			val["selected_option"] = elem["initial_option"]
		}
	}
	val["type"] = typ
	switch typ {
	case "plain_text_input":
		s, _ := val["value"].(string)
		n := len([]rune(s))
		if minLen, ok := elem["min_length"].(float64); ok && s != "" && n < int(minLen) {
			return nil, fmt.Errorf("%d characters, below min_length %v", n, minLen)
		}
		if maxLen, ok := elem["max_length"].(float64); ok && n > int(maxLen) {
			return nil, fmt.Errorf("%d characters, above max_length %v", n, maxLen)
		}
	case "static_select":
		sel, _ := val["selected_option"].(map[string]any)
		if sel == nil {
			val["selected_option"] = nil
			break
		}
		opt := findOption(elem, str(sel["value"]))
		if opt == nil {
			return nil, fmt.Errorf("offers no option %q", str(sel["value"]))
		}
		val["selected_option"] = opt
	}
	return val, nil
}

// findOption returns the option of a select with value, from options or
// option_groups.
func findOption(elem map[string]any, value string) map[string]any {
	opts, _ := elem["options"].([]any)
	groups, _ := elem["option_groups"].([]any)
	for _, g := range groups {
		if gm, ok := g.(map[string]any); ok {
			more, _ := gm["options"].([]any)
			opts = append(opts, more...)
		}
	}
	for _, o := range opts {
		if om, ok := o.(map[string]any); ok && str(om["value"]) == value {
			return om
		}
	}
	return nil
}

func isEmpty(val map[string]any) bool {
	switch val["type"] {
	case "plain_text_input":
		s, _ := val["value"].(string)
		return s == ""
	case "static_select":
		return val["selected_option"] == nil
	}
	return false
}

// applyViewResponse does what Slack does with the ack of a view
// submission. It returns why Slack would ignore the ack, or "".
func (s *Server) applyViewResponse(userID, viewID string, ack json.RawMessage) string {
	v := s.views[viewID]
	if v == nil {
		return "the modal is no longer open"
	}
	var resp struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
		View           json.RawMessage   `json:"view"`
	}
	if len(ack) > 0 && json.Unmarshal(ack, &resp) != nil {
		return "the ack payload is not a view response"
	}
	switch resp.ResponseAction {
	case "":
		s.closeView(userID, viewID)
	case "errors":
		for blockID := range resp.Errors {
			if !hasInputBlock(v, blockID) {
				return fmt.Sprintf("response_action errors names %q, which is no input block of the view", blockID)
			}
		}
		if len(resp.Errors) == 0 {
			return "response_action errors without errors"
		}
		v.errors = resp.Errors
	case "update":
		obj, aerr := checkView(string(resp.View), "modal")
		if aerr != nil {
			return "response_action update with an invalid view: " + strings.Join(aerr.messages, "; ")
		}
		v.obj, v.hash, v.errors = obj, newHash(), nil
	case "push":
		obj, aerr := checkView(string(resp.View), "modal")
		if aerr != nil {
			return "response_action push with an invalid view: " + strings.Join(aerr.messages, "; ")
		}
		if _, aerr := s.push(userID, obj); aerr != nil {
			return "response_action push: " + aerr.code
		}
	case "clear":
		for _, id := range s.modals[userID] {
			delete(s.views, id)
		}
		delete(s.modals, userID)
	default:
		return fmt.Sprintf("unknown response_action %q", resp.ResponseAction)
	}
	return ""
}

func hasInputBlock(v *view, blockID string) bool {
	blocks, _ := v.obj["blocks"].([]any)
	for _, b := range blocks {
		if bm, ok := b.(map[string]any); ok && bm["type"] == "input" && bm["block_id"] == blockID {
			return true
		}
	}
	return false
}

// closeView closes one modal of the user's stack.
func (s *Server) closeView(userID, viewID string) {
	delete(s.views, viewID)
	s.modals[userID] = slices.DeleteFunc(s.modals[userID], func(id string) bool { return id == viewID })
	if len(s.modals[userID]) == 0 {
		delete(s.modals, userID)
	}
}

// OpenHome sends the events_api envelope of userID opening the bot's App
// Home tab (an app_home_opened event, with the published view if any).
func (s *Server) OpenHome(t TB, userID string) Envelope {
	t.Helper()
	env, err := s.SendOpenHome(userID)
	if err != nil {
		t.Fatalf("slackfake: %v", err)
	}
	return env
}
