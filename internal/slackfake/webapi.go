package slackfake

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiError is a Slack error answer: {"ok":false,"error":code,…}.
type apiError struct {
	code     string
	errors   []string // "errors", as invalid_blocks carries them
	messages []string // response_metadata.messages
}

// tokenKind says which token a method takes.
type tokenKind int

const (
	botToken tokenKind = iota
	appToken
)

// request is one Web API call being answered.
type request struct {
	Call
}

func (r *request) param(k string) string { return r.Params.Get(k) }

func (r *request) flag(k string) bool {
	v := r.Params.Get(k)
	return v == "true" || v == "1"
}

type method struct {
	token tokenKind
	// serve answers the call. It runs with s.mu held and does no I/O.
	serve func(s *Server, r *request) (map[string]any, *apiError)
}

// methods are the Web API methods the fake speaks.
var methods = map[string]method{
	"auth.test":             {botToken, (*Server).authTest},
	"apps.connections.open": {appToken, (*Server).connectionsOpen},
	"chat.postMessage":      {botToken, (*Server).postMessage},
	"chat.postEphemeral":    {botToken, (*Server).postEphemeral},
	"chat.update":           {botToken, (*Server).updateMessage},
	"chat.delete":           {botToken, (*Server).deleteMessageCall},
	"conversations.open":    {botToken, (*Server).conversationsOpen},
	"conversations.history": {botToken, (*Server).conversationsHistory},
	"users.info":            {botToken, (*Server).usersInfo},
	"users.list":            {botToken, (*Server).usersList},
	"users.lookupByEmail":   {botToken, (*Server).usersLookupByEmail},
	"usergroups.list":       {botToken, (*Server).usergroupsList},
	"usergroups.users.list": {botToken, (*Server).usergroupsUsersList},
	"views.open":            {botToken, (*Server).viewsOpen},
	"views.push":            {botToken, (*Server).viewsPush},
	"views.update":          {botToken, (*Server).viewsUpdate},
	"views.publish":         {botToken, (*Server).viewsPublish},

	"files.getUploadURLExternal":   {botToken, (*Server).getUploadURLExternal},
	"files.completeUploadExternal": {botToken, (*Server).completeUploadExternal},
}

// serveAPI answers /api/<method>.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/api/")
	params, perr := readParams(r)
	token := params.Get("token")
	params.Del("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	req := &request{Call{Method: name, Params: params, Token: token, At: time.Now()}}

	s.mu.Lock()
	resp, retryAfter, aerr := s.answer(req, perr)
	if aerr != nil {
		req.Error = aerr.code
	}
	s.calls = append(s.calls, req.Call)
	s.mu.Unlock()

	if retryAfter >= 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter)))
		writeJSON(w, http.StatusTooManyRequests, errorBody(aerr))
		return
	}
	if aerr != nil {
		writeJSON(w, http.StatusOK, errorBody(aerr))
		return
	}
	resp["ok"] = true
	s.setScopes(w)
	writeJSON(w, http.StatusOK, resp)
}

// answer decides the answer to a call, in Slack's order: is the method
// known, is the token right, is the app rate limited, then the method
// itself (Slack's published limits when enforced). retryAfter is the Retry-After in seconds of a 429, or -1.
func (s *Server) answer(req *request, perr *apiError) (resp map[string]any, retryAfter int, _ *apiError) {
	m, ok := methods[req.Method]
	if !ok {
		return nil, -1, &apiError{code: "unknown_method"}
	}
	if perr != nil {
		return nil, -1, perr
	}
	want := s.botToken
	if m.token == appToken {
		want = s.appToken
	}
	switch req.Token {
	case want:
	case "":
		return nil, -1, &apiError{code: "not_authed"}
	case s.botToken, s.appToken:
		return nil, -1, &apiError{code: "not_allowed_token_type"}
	default:
		return nil, -1, &apiError{code: "invalid_auth"}
	}
	if secs, limited := s.limited(req.Method); limited {
		return nil, secs, &apiError{code: "ratelimited"}
	}
	if secs, limited := s.overLimit(req, req.At); limited {
		return nil, secs, &apiError{code: "ratelimited"}
	}
	if code := s.failing(req.Method); code != "" {
		return nil, -1, &apiError{code: code}
	}
	resp, aerr := m.serve(s, req)
	return resp, -1, aerr
}

// limited consumes one rate-limited answer of method, if any is left.
func (s *Server) limited(method string) (retryAfter int, ok bool) {
	rl, ok := s.rateLimits[method]
	if !ok || rl.n <= 0 {
		return 0, false
	}
	rl.n--
	s.rateLimits[method] = rl
	return int(math.Ceil(rl.retryAfter.Seconds())), true
}

// failing consumes one failure of method, if any is left.
func (s *Server) failing(method string) string {
	f, ok := s.failures[method]
	if !ok || f.n <= 0 {
		return ""
	}
	f.n--
	s.failures[method] = f
	return f.err
}

// readParams reads the query and a form or JSON body. JSON bodies become
// top-level fields: strings as they are, anything else as its JSON text.
func readParams(r *http.Request) (url.Values, *apiError) {
	params := r.URL.Query()
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return params, &apiError{code: "request_timeout"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ctype {
	case "application/json":
		fields, err := flattenJSON(body)
		if err != nil {
			return params, &apiError{code: "invalid_json"}
		}
		for k, v := range fields {
			params[k] = v
		}
	case "application/x-www-form-urlencoded", "":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return params, &apiError{code: "invalid_form_data"}
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	default:
		return params, &apiError{code: "invalid_post_type"}
	}
	return params, nil
}

// flattenJSON turns a JSON object into fields as readParams describes.
func flattenJSON(body []byte) (url.Values, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	out := url.Values{}
	for k, raw := range obj {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out.Set(k, s)
		} else if string(raw) != "null" {
			out.Set(k, string(raw))
		}
	}
	return out, nil
}

func errorBody(e *apiError) map[string]any {
	b := map[string]any{"ok": false, "error": e.code}
	if len(e.errors) > 0 {
		b["errors"] = e.errors
	}
	if len(e.messages) > 0 {
		b["response_metadata"] = map[string]any{"messages": e.messages}
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) authTest(*request) (map[string]any, *apiError) {
	return map[string]any{
		"url": "https://" + TeamDomain + ".slack.com/", "team": "Slack Fake", "user": BotName,
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID, "is_enterprise_install": false,
	}, nil
}

// connectionsOpen hands out a single-use websocket URL.
func (s *Server) connectionsOpen(*request) (map[string]any, *apiError) {
	ticket := randomHex(16)
	s.tickets[ticket] = true
	wsURL := "ws" + strings.TrimPrefix(s.url, "http") + "/link/?ticket=" + ticket + "&app_id=" + AppID
	return map[string]any{"url": wsURL}, nil
}

// tsPattern is the shape of a message timestamp.
var tsPattern = regexp.MustCompile(`^\d+\.\d+$`)

// postChannel resolves the channel of chat.postMessage/postEphemeral: C…
// and G… channels are implicit, a D… channel must be a DM the fake knows,
// and a user ID posts to the bot's DM with that user.
func (s *Server) postChannel(ch string) (string, *apiError) {
	switch {
	case ch == "":
		return "", &apiError{code: "channel_not_found"}
	case ch[0] == 'C' || ch[0] == 'G':
		return ch, nil
	case ch[0] == 'D':
		if _, ok := s.dmOwners[ch]; ok {
			return ch, nil
		}
	case ch[0] == 'U' || ch[0] == 'W':
		u, ok := s.users[ch]
		switch {
		case !ok:
			return "", &apiError{code: "channel_not_found"}
		case u.Deleted:
			return "", &apiError{code: "user_disabled"}
		case u.IsBot:
			return "", &apiError{code: "cannot_dm_bot"}
		}
		return s.dmChannel(ch), nil
	}
	return "", &apiError{code: "channel_not_found"}
}

// messageContent checks text and blocks the way chat.postMessage does.
func messageContent(r *request) (string, json.RawMessage, *apiError) {
	text := r.param("text")
	blocks, aerr := checkMessageBlocks(r.param("blocks"))
	switch {
	case aerr != nil:
		return "", nil, aerr
	case text == "" && blocks == nil:
		return "", nil, &apiError{code: "no_text"}
	case tooLong(text, maxMessageText):
		return "", nil, &apiError{code: "msg_too_long"}
	}
	return text, blocks, nil
}

func (s *Server) postMessage(r *request) (map[string]any, *apiError) {
	ch, aerr := s.postChannel(r.param("channel"))
	if aerr != nil {
		return nil, aerr
	}
	thread := r.param("thread_ts")
	if thread != "" && !tsPattern.MatchString(thread) {
		return nil, &apiError{code: "invalid_thread_ts", messages: []string{"[ERROR] " + thread + " is not a valid thread_ts"}}
	}
	// Like Slack, a reply to a ts that is no message is accepted (and is
	// seen by nobody): tests find it missing from the parent's thread.
	text, blocks, aerr := messageContent(r)
	if aerr != nil {
		return nil, aerr
	}
	m := s.post(ch, thread, text, BotUserID, blocks, false)
	return map[string]any{"channel": ch, "ts": m.TS, "message": messageJSON(m)}, nil
}

func (s *Server) postEphemeral(r *request) (map[string]any, *apiError) {
	ch, aerr := s.postChannel(r.param("channel"))
	if aerr != nil {
		return nil, aerr
	}
	user := r.param("user")
	if u, ok := s.users[user]; !ok || u.Deleted {
		return nil, &apiError{code: "user_not_in_channel"}
	}
	text, blocks, aerr := messageContent(r)
	if aerr != nil {
		return nil, aerr
	}
	m := s.post(ch, r.param("thread_ts"), text, user, blocks, true)
	return map[string]any{"message_ts": m.TS}, nil
}

func (s *Server) updateMessage(r *request) (map[string]any, *apiError) {
	ch := r.param("channel")
	m := s.findMessage(ch, r.param("ts"))
	if m == nil && s.forgotten[msgKey{ch, r.param("ts")}] {
		text, _, aerr := messageContent(r)
		if aerr != nil {
			return nil, aerr
		}
		return map[string]any{"channel": ch, "ts": r.param("ts"), "text": text}, nil
	}
	switch {
	case m == nil && ch != "" && (ch[0] == 'U' || ch[0] == 'W'):
		return nil, &apiError{code: "channel_not_found"}
	case m == nil || m.Ephemeral: // ephemeral messages are not the bot's to update
		return nil, &apiError{code: "message_not_found"}
	}
	text, blocks, aerr := messageContent(r)
	if aerr != nil {
		return nil, aerr
	}
	m.update(text, blocks)
	return map[string]any{"channel": ch, "ts": m.TS, "text": text, "message": messageJSON(m)}, nil
}

func (s *Server) deleteMessageCall(r *request) (map[string]any, *apiError) {
	ch := r.param("channel")
	m := s.findMessage(ch, r.param("ts"))
	if k := (msgKey{ch, r.param("ts")}); m == nil && s.forgotten[k] {
		delete(s.forgotten, k)
		return map[string]any{"channel": ch, "ts": k.ts}, nil
	}
	if m == nil || m.Ephemeral {
		return nil, &apiError{code: "message_not_found"}
	}
	s.deleteMessage(m)
	return map[string]any{"channel": ch, "ts": m.TS}, nil
}

// messageJSON is a message as chat.postMessage answers it.
func messageJSON(m *message) map[string]any {
	out := map[string]any{
		"type": "message", "subtype": "bot_message", "text": m.Text, "user": m.User,
		"bot_id": BotID, "app_id": AppID, "team": TeamID, "ts": m.TS,
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	return out
}

func (s *Server) conversationsOpen(r *request) (map[string]any, *apiError) {
	if ch := r.param("channel"); ch != "" {
		if _, ok := s.dmOwners[ch]; !ok {
			return nil, &apiError{code: "channel_not_found"}
		}
		return map[string]any{"no_op": true, "already_open": true, "channel": map[string]any{"id": ch}}, nil
	}
	ids := r.param("users")
	if ids == "" {
		return nil, &apiError{code: "users_list_not_supplied"}
	}
	if strings.Contains(ids, ",") {
		return nil, &apiError{code: "invalid_arguments", messages: []string{"[ERROR] slackfake opens one-to-one DMs only"}}
	}
	u, ok := s.users[ids]
	switch {
	case !ok:
		return nil, &apiError{code: "user_not_found"}
	case u.Deleted:
		return nil, &apiError{code: "user_disabled"}
	case u.IsBot:
		return nil, &apiError{code: "cannot_dm_bot"}
	}
	_, open := s.dms[ids]
	ch := s.dmChannel(ids)
	return map[string]any{
		"no_op": open, "already_open": open,
		"channel": map[string]any{"id": ch, "is_im": true, "user": ids, "is_open": true},
	}, nil
}

// userJSON is a user object as users.info answers it.
func userJSON(u *User) map[string]any {
	profile := map[string]any{
		"real_name": u.realName(), "real_name_normalized": u.realName(),
		"display_name": u.name(), "display_name_normalized": u.name(),
		"team": TeamID,
	}
	if u.IsBot {
		profile["bot_id"] = BotID
	} else if u.Email != "" {
		profile["email"] = u.Email
	}
	team, enterprise := TeamID, map[string]any{}
	if u.External {
		team, enterprise = ExternalTeamID, map[string]any{"id": u.ID, "enterprise_id": ExternalEnterpriseID}
	}
	return map[string]any{
		"enterprise_user": enterprise,
		"id":              u.ID, "team_id": team, "is_stranger": u.External && !u.SharesChannel, "name": u.name(), "deleted": u.Deleted,
		"real_name": u.realName(), "tz": u.tz(), "tz_label": u.tz(), "tz_offset": tzOffset(u.tz()),
		"profile": profile, "is_admin": false, "is_owner": false, "is_primary_owner": false,
		"is_restricted":       u.IsGuest || u.SingleChannelGuest,
		"is_ultra_restricted": u.SingleChannelGuest,
		"is_bot":              u.IsBot, "is_app_user": false, "updated": 1700000000,
		"is_email_confirmed": u.Email != "",
	}
}

func (s *Server) usersInfo(r *request) (map[string]any, *apiError) {
	u, ok := s.users[r.param("user")]
	if !ok {
		return nil, &apiError{code: "user_not_found"}
	}
	return map[string]any{"user": userJSON(u)}, nil
}

func (s *Server) usersLookupByEmail(r *request) (map[string]any, *apiError) {
	email := r.param("email")
	for _, u := range s.users {
		if email != "" && strings.EqualFold(u.Email, email) {
			return map[string]any{"user": userJSON(u)}, nil
		}
	}
	return nil, &apiError{code: "users_not_found"}
}

func (s *Server) usergroupsList(r *request) (map[string]any, *apiError) {
	groups := []any{}
	for _, g := range s.groups {
		j := map[string]any{
			"id": g.id, "team_id": TeamID, "is_usergroup": true, "is_subteam": true,
			"name": g.handle, "description": "", "handle": g.handle, "is_external": false,
			"date_create": g.created, "date_update": g.created, "date_delete": 0,
			"auto_type": nil, "created_by": "U0ADMIN", "updated_by": "U0ADMIN", "deleted_by": nil,
			"prefs":      map[string]any{"channels": []string{}, "groups": []string{}},
			"user_count": len(g.members),
		}
		if r.flag("include_users") {
			j["users"] = slices.Clone(g.members)
		}
		groups = append(groups, j)
	}
	return map[string]any{"usergroups": groups}, nil
}

func (s *Server) usergroupsUsersList(r *request) (map[string]any, *apiError) {
	id := r.param("usergroup")
	if id == "" {
		return nil, &apiError{code: "invalid_arguments", messages: []string{"[ERROR] missing required field: usergroup"}}
	}
	for _, g := range s.groups {
		if g.id == id {
			return map[string]any{"users": append([]string{}, g.members...)}, nil
		}
	}
	return nil, &apiError{code: "no_such_subteam"}
}

// maxModalStack is how many modals Slack stacks (views.push).
const maxModalStack = 3

func (s *Server) viewsOpen(r *request) (map[string]any, *apiError) {
	obj, aerr := checkView(r.param("view"), "modal")
	if aerr != nil {
		return nil, aerr
	}
	user, aerr := s.useTrigger(r.param("trigger_id"))
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.externalIDFree(obj, ""); aerr != nil {
		return nil, aerr
	}
	// views.open replaces whatever stack the user had open.
	for _, id := range s.modals[user] {
		delete(s.views, id)
	}
	v := s.newView(user, "modal", obj, "")
	s.modals[user] = []string{v.id}
	return map[string]any{"view": v.wire()}, nil
}

func (s *Server) viewsPush(r *request) (map[string]any, *apiError) {
	obj, aerr := checkView(r.param("view"), "modal")
	if aerr != nil {
		return nil, aerr
	}
	user, aerr := s.useTrigger(r.param("trigger_id"))
	if aerr != nil {
		return nil, aerr
	}
	return s.push(user, obj)
}

// push puts a modal on top of the user's stack.
func (s *Server) push(user string, obj map[string]any) (map[string]any, *apiError) {
	stack := s.modals[user]
	if len(stack) == 0 {
		return nil, &apiError{code: "not_found"}
	}
	if len(stack) >= maxModalStack {
		return nil, &apiError{code: "push_limit_reached"}
	}
	if aerr := s.externalIDFree(obj, ""); aerr != nil {
		return nil, aerr
	}
	v := s.newView(user, "modal", obj, stack[0])
	v.previousID = stack[len(stack)-1]
	s.modals[user] = append(stack, v.id)
	return map[string]any{"view": v.wire()}, nil
}

func (s *Server) viewsUpdate(r *request) (map[string]any, *apiError) {
	var v *view
	if id := r.param("view_id"); id != "" {
		v = s.views[id]
	} else if ext := r.param("external_id"); ext != "" {
		for _, x := range s.views {
			if str(x.obj["external_id"]) == ext {
				v = x
			}
		}
	} else {
		return nil, &apiError{code: "invalid_arguments", messages: []string{"[ERROR] either view_id or external_id is required"}}
	}
	if v == nil {
		return nil, &apiError{code: "not_found"}
	}
	obj, aerr := checkView(r.param("view"), v.typ)
	if aerr != nil {
		return nil, aerr
	}
	if h := r.param("hash"); h != "" && h != v.hash {
		return nil, &apiError{code: "hash_conflict"}
	}
	if aerr := s.externalIDFree(obj, v.id); aerr != nil {
		return nil, aerr
	}
	v.obj, v.hash, v.errors = obj, newHash(), nil
	return map[string]any{"view": v.wire()}, nil
}

func (s *Server) viewsPublish(r *request) (map[string]any, *apiError) {
	user := r.param("user_id")
	if _, ok := s.users[user]; !ok {
		return nil, &apiError{code: "user_not_found"}
	}
	obj, aerr := checkView(r.param("view"), "home")
	if aerr != nil {
		return nil, aerr
	}
	id, ok := s.homes[user]
	if !ok {
		v := s.newView(user, "home", obj, "")
		s.homes[user] = v.id
		return map[string]any{"view": v.wire()}, nil
	}
	v := s.views[id]
	if h := r.param("hash"); h != "" && h != v.hash {
		return nil, &apiError{code: "hash_conflict"}
	}
	v.obj, v.hash = obj, newHash()
	return map[string]any{"view": v.wire()}, nil
}

// externalIDFree answers duplicate_external_id when another view than self
// already has the view's external_id.
func (s *Server) externalIDFree(obj map[string]any, self string) *apiError {
	ext := str(obj["external_id"])
	if ext == "" {
		return nil
	}
	for _, v := range s.views {
		if v.id != self && str(v.obj["external_id"]) == ext {
			return &apiError{code: "duplicate_external_id"}
		}
	}
	return nil
}

// newView stores a view; rootID is the bottom of its modal stack ("" for
// itself).
func (s *Server) newView(user, typ string, obj map[string]any, rootID string) *view {
	v := &view{id: s.nextID("V"), user: user, typ: typ, obj: obj, hash: newHash()}
	v.rootID = rootID
	if rootID == "" {
		v.rootID = v.id
	}
	s.views[v.id] = v
	return v
}
