package slackfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// responseMessage is what a response_url post or a slash command ack
// carries.
type responseMessage struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// serveResponseURL answers posts to /response/<id>. Slack answers a good
// post with 200 and a bad one with a 4xx status (slack-go's PostWebhook
// only looks at the status), so errors carry both.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	at := time.Now() // received: what the fake does with it next is not the bot's time
	params, ferr := flattenJSON(body)
	if params == nil {
		params = map[string][]string{}
	}
	params.Set("response_url", s.URL()+r.URL.Path)
	call := Call{Method: "response_url", Params: params, At: at}

	s.mu.Lock()
	status, aerr := http.StatusOK, (*apiError)(nil)
	retryAfter, limited := s.limited("response_url")
	ru := s.responseURLs[id]
	switch {
	case r.Method != http.MethodPost:
		status, aerr = http.StatusMethodNotAllowed, &apiError{code: "invalid_post_type"}
	case err != nil || ferr != nil:
		status, aerr = http.StatusBadRequest, &apiError{code: "invalid_payload"}
	case limited:
		status, aerr = http.StatusTooManyRequests, &apiError{code: "ratelimited"}
	case ru == nil:
		status, aerr = http.StatusNotFound, &apiError{code: "no_service"}
	case time.Since(ru.issued) > responseURLTTL:
		status, aerr = http.StatusNotFound, &apiError{code: "expired_url"}
	case ru.uses >= responseURLUses:
		status, aerr = http.StatusNotFound, &apiError{code: "used_url"}
	default:
		if code := s.failing("response_url"); code != "" {
			status, aerr = http.StatusNotFound, &apiError{code: code}
			break
		}
		var msg responseMessage
		json.Unmarshal(body, &msg) // flattenJSON has shown it is an object
		if aerr = s.respond(ru, msg); aerr != nil {
			status = http.StatusBadRequest
		} else {
			ru.uses++
		}
	}
	if aerr != nil {
		call.Error = aerr.code
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	if aerr != nil {
		if limited {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		writeJSON(w, status, errorBody(aerr))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// respond applies a message response to the conversation it answers:
// replace_original and delete_original act on the message that was
// clicked, response_type in_channel posts for everyone, and anything else
// is ephemeral to the user. Callers hold s.mu.
func (s *Server) respond(ru *responseURL, msg responseMessage) *apiError {
	var orig *message
	if ru.messageTS != "" {
		orig = s.findMessage(ru.channel, ru.messageTS)
	}
	if msg.DeleteOriginal {
		if orig != nil {
			s.deleteMessage(orig)
		}
		return nil
	}
	blocks, aerr := checkMessageBlocks(string(msg.Blocks))
	switch {
	case aerr != nil:
		return aerr
	case msg.Text == "" && blocks == nil:
		return &apiError{code: "no_text"}
	case tooLong(msg.Text, maxMessageText):
		return &apiError{code: "msg_too_long"}
	}
	switch {
	case msg.ReplaceOriginal && orig != nil:
		orig.update(msg.Text, blocks)
	case msg.ResponseType == "in_channel":
		s.post(ru.channel, msg.ThreadTS, msg.Text, BotUserID, blocks, false)
	default:
		s.post(ru.channel, msg.ThreadTS, msg.Text, ru.user, blocks, true)
	}
	return nil
}
