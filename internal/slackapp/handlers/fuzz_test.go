package handlers_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/command"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// The fuzz targets hand the handler what Slack could put in an interactive
// envelope, decoded as slack-go's socketmode decodes it. The service
// behind it is the real one (embedded Redis, the Slack fake), built once
// per fuzzing process. Requests in known states sit in the store under
// fixed IDs, so that inputs reach the domain's decisions, and are put
// back after every input, so that an input does the same whenever it
// runs.
//
// Run them with make fuzz, or one at a time:
//
//	go test -run='^$' -fuzz='^FuzzInteraction$' -fuzztime=60s ./internal/slackapp/handlers/

var updateCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite the slackfake-captured seeds in testdata/fuzz")

// fuzzTimeout bounds one input's handling, as Options.Timeout bounds an
// envelope's in production.
const fuzzTimeout = 10 * time.Second

// fuzzPeople are who may be named in jitbot's answers: the fixtures'
// requesters and approvers. Any other <@…> in an answer came from input.
var fuzzPeople = regexp.MustCompile(`^<@(UALICE|UBOB|ULEAD1|ULEAD2|UEVE)>$`)

// slackDate is jitbot's own date markup, <!date^unix^format|fallback>.
var slackDate = regexp.MustCompile(`^<!date\^[0-9]+\^[^|<>]*\|[^<>]*>$`)

// fuzzFixtures are the requests in the store, by ID: one per state an
// input can find a request in.
func fuzzFixtures(now time.Time) []grants.Request {
	alice := rules.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"}
	bob := rules.User{ID: "UBOB", Name: "bob", Email: "bob@example.com", Groups: []string{"sre"}}
	base := func(id grants.RequestID, who rules.User, role string, state grants.State) grants.Request {
		return grants.Request{
			ID: id, State: state, Requester: who, Role: role, Backend: grants.BackendSTS,
			Target: "arn:aws:iam::123456789012:role/jit-" + role, Duration: 30 * time.Minute,
			Reason: "checking replica lag on the primary", Incident: "INC-42", Rule: "true",
			ApprovalsRequired: 1, CreatedAt: now, Deadline: now.Add(time.Hour),
		}
	}
	approved := func(r grants.Request, state grants.State) grants.Request {
		r.Approvals = []grants.Approval{{Approver: "ULEAD1", At: now}}
		r.DecidedAt, r.GrantedAt, r.ExpiresAt = now, now, now.Add(time.Hour)
		r.SessionName, r.AccessKeyID = "jit-"+string(r.ID), "ASIAFIXTURE"
		if state == grants.Revoked {
			r.RevokedAt, r.RevokedBy, r.RevokeReason = now, "UALICE", "revoked by the requester"
		}
		r.State = state
		return r
	}
	breakglass := approved(base("JIT-6666AA", bob, "breakglass", grants.Active), grants.Active)
	breakglass.Approvals, breakglass.AutoApproved, breakglass.ReviewDue = nil, true, now.Add(24*time.Hour)
	denied := base("JIT-8888AA", alice, "readonly", grants.Denied)
	denied.DecidedBy, denied.DecidedAt, denied.DenyReason = "ULEAD1", now, "use the replica dashboard"
	timedOut := base("JIT-5555AA", alice, "readonly", grants.TimedOut)
	timedOut.DecidedAt = now
	return []grants.Request{
		base("JIT-2222AA", alice, "readonly", grants.Pending),
		approved(base("JIT-3333AA", alice, "readonly", grants.Active), grants.Active),
		approved(base("JIT-4444AA", alice, "readonly", grants.Active), grants.Revoked),
		timedOut,
		breakglass,
		base("JIT-7777AA", bob, "admin", grants.Pending),
		denied,
	}
}

// fuzzCall is one Slack Web API call that an input caused.
type fuzzCall struct {
	method string
	params url.Values
	err    string // Slack's error; "" when it answered ok
}

// fuzzCalls collects the calls made under one input's context. Work the
// input queued for later (DM updates) runs under the queue's context and
// is not counted.
type fuzzCalls struct {
	mu    sync.Mutex
	calls []fuzzCall
}

func (c *fuzzCalls) add(call fuzzCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
}

func (c *fuzzCalls) all() []fuzzCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

type fuzzCallsKey struct{}

// recorder is the Slack client's transport: it passes calls on to the
// fake and notes each one, with Slack's answer, in the fuzzCalls of the
// request's context.
type recorder struct{ next http.RoundTripper }

func (rt recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	calls, _ := req.Context().Value(fuzzCallsKey{}).(*fuzzCalls)
	if calls == nil {
		return rt.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	call := fuzzCall{method: path.Base(req.URL.Path), params: callParams(req.Header.Get("Content-Type"), body)}
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		call.err = err.Error()
		calls.add(call)
		return nil, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	var ok struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(answer, &ok) != nil || !ok.OK {
		call.err = cmp.Or(ok.Error, resp.Status)
	}
	calls.add(call)
	return resp, err
}

// callParams reads a Web API call's form or JSON body as the fake does.
func callParams(contentType string, body []byte) url.Values {
	if strings.HasPrefix(contentType, "application/json") {
		var m map[string]json.RawMessage
		out := url.Values{}
		if json.Unmarshal(body, &m) != nil {
			return out
		}
		for k, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				out.Set(k, s)
			} else {
				out.Set(k, string(raw))
			}
		}
		return out
	}
	v, _ := url.ParseQuery(string(body))
	return v
}

// responses records the posts to response URLs, by the key that ends the
// URL the fuzz target gave the handler.
type responses struct {
	mu   sync.Mutex
	got  map[string][][]byte
	serv *httptest.Server
}

func (r *responses) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got[path.Base(req.URL.Path)] = append(r.got[path.Base(req.URL.Path)], body)
	r.mu.Unlock()
	w.Write([]byte("ok"))
}

func (r *responses) take(key string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got[key]
	delete(r.got, key)
	return got
}

type fuzzEnv struct {
	*secEnv
	fixtures  map[grants.RequestID]grants.Request
	responses *responses
	seq       atomic.Int64
}

// startFuzz builds the service once for a fuzzing process.
func startFuzz(f *testing.F) *fuzzEnv {
	f.Helper()
	e := &fuzzEnv{responses: &responses{got: map[string][][]byte{}}, fixtures: map[grants.RequestID]grants.Request{}}
	e.responses.serv = httptest.NewServer(e.responses)
	f.Cleanup(e.responses.serv.Close)
	e.secEnv = startSec(f, secOptions{quiet: true, transport: recorder{next: http.DefaultTransport}})
	for _, r := range fuzzFixtures(time.Now()) {
		if err := e.store.Create(context.Background(), &r); err != nil {
			f.Fatalf("store fixture %s: %v", r.ID, err)
		}
		e.fixtures[r.ID] = r
	}
	return e
}

// restore puts back every fixture the input may have changed.
func (e *fuzzEnv) restore(t *testing.T, cb slack.InteractionCallback) {
	t.Helper()
	named := []string{cb.View.PrivateMetadata}
	for _, a := range cb.ActionCallback.BlockActions {
		named = append(named, a.Value)
	}
	for _, id := range named {
		fixture, ok := e.fixtures[grants.RequestID(id)]
		if !ok {
			continue
		}
		if _, err := e.store.Update(context.Background(), fixture.ID, func(r *grants.Request) error {
			*r = fixture
			return nil
		}); err != nil {
			t.Fatalf("restore fixture %s: %v", id, err)
		}
	}
}

// handle runs cb as dispatch would, under a deadline, and returns the ack
// payload of a view submission with the Slack calls and response URL
// posts it caused. It fails the test when the handler panics or outlives
// its deadline by more than 5 s.
func (e *fuzzEnv) handle(t *testing.T, cb slack.InteractionCallback) (ack any, calls []fuzzCall, answers [][]byte) {
	t.Helper()
	key := strconv.FormatInt(e.seq.Add(1), 10)
	if cb.ResponseURL != "" {
		// Slack's own URL in production; here, one that records.
		cb.ResponseURL = e.responses.serv.URL + "/response/" + key
	}
	rec := &fuzzCalls{}
	ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), fuzzCallsKey{}, rec), fuzzTimeout)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		if cb.Type == slack.InteractionTypeViewSubmission {
			var then func(context.Context)
			ack, then = e.h.Submission(cb)
			if ack != nil && then != nil {
				done <- "submission returned both field errors and work to do"
				return
			}
			if then != nil {
				then(ctx)
			}
		} else {
			e.h.Interaction(ctx, cb)
		}
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(fuzzTimeout + 5*time.Second):
		t.Fatalf("the handler still runs %v after its deadline", 5*time.Second)
	}
	e.restore(t, cb)
	return ack, rec.all(), e.responses.take(key)
}

// knownActions are the buttons jitbot puts in messages.
var knownActions = []string{blockkit.ActionApprove, blockkit.ActionDeny, blockkit.ActionRevoke, blockkit.ActionExtend, blockkit.ActionAcknowledge}

// inputErrors are the input blocks of each modal, which are all that
// response_action errors may name.
var inputErrors = map[string][]string{
	blockkit.ViewRequest: {blockkit.InputRole, blockkit.InputDuration, blockkit.InputIncident, blockkit.InputReason},
	blockkit.ViewDeny:    {blockkit.InputReason},
	blockkit.ViewExtend:  {blockkit.InputDuration},
}

// expectedErrors are the Slack errors an input explains: a trigger_id
// that Slack did not issue, a user that does not exist. Any other error
// means jitbot built something Slack refuses, and the person who clicked
// is left without an answer.
var expectedErrors = []string{"invalid_trigger_id", "expired_trigger_id", "exchanged_trigger_id", "channel_not_found", "user_not_found", "user_disabled", "cannot_dm_bot"}

// FuzzInteraction: whatever Socket Mode delivers as an interactive
// payload, the handler never panics and returns within its deadline; it
// ignores what is no click on one of jitbot's buttons and no submission of
// one of its modals; a click that names no request in the store gets one
// answer, to the one who clicked; field errors name only the modal's own
// inputs; every message it sends is one Slack accepts; and no text from
// the payload becomes a mention, broadcast or link in it.
func FuzzInteraction(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"type":"block_actions"}`,
		`{"type":"block_actions","user":{"id":"ULEAD1"},"actions":[]}`,
		`{"type":"block_actions","user":{"id":"ULEAD1"},"actions":[{"block_id":"a","action_id":"jit_approve","value":"JIT-2222AA"}],"response_url":"x"}`,
		`{"type":"block_actions","user":{"id":"UALICE"},"actions":[{"block_id":"a","action_id":"jit_approve","value":"JIT-2222AA"}]}`,
		`{"type":"block_actions","user":{"id":"ULEAD1"},"actions":[{"block_id":"a","action_id":"jit_approve","value":"<!channel>"}],"response_url":"x"}`,
		`{"type":"block_actions","user":{"id":"UEVE"},"actions":[{"block_id":"a","action_id":"jit_revoke","value":"JIT-3333AA"}],"view":{"type":"home"}}`,
		`{"type":"block_actions","user":{"id":"UALICE"},"actions":[{"block_id":"a","action_id":"jit_extend","value":"JIT-3333AA"}],"trigger_id":"1.2.3"}`,
		`{"type":"block_actions","user":{"id":"ULEAD1"},"actions":[{"block_id":"a","action_id":"jit_acknowledge","value":"JIT-6666AA"}],"response_url":"x"}`,
		`{"type":"block_actions","user":{"id":"ULEAD1"},"actions":[{"block_id":"a","action_id":"jit_deny","value":"JIT-2222AA"}],"trigger_id":"1.2.3"}`,
		`{"type":"block_actions","user":{"id":"ULEAD1"},"actions":[{"block_id":"a","action_id":"something_else","value":"JIT-2222AA"}]}`,
		`{"type":"view_submission","user":{"id":"UALICE"},"view":{"callback_id":"jit_request"}}`,
		`{"type":"view_submission","user":{"id":"ULEAD1"},"view":{"callback_id":"jit_deny","private_metadata":"JIT-2222AA","state":{"values":{"reason":{"reason":{"type":"plain_text_input","value":"use the replica"}}}}}}`,
		`{"type":"view_submission","user":{"id":"UALICE"},"view":{"callback_id":"jit_extend","private_metadata":"JIT-3333AA","state":{"values":{"duration":{"duration":{"type":"plain_text_input","value":"15m"}}}}}}`,
		`{"type":"view_submission","user":{"id":"UALICE"},"view":{"callback_id":"unknown"}}`,
		`{"type":"view_closed","user":{"id":"UALICE"},"view":{"callback_id":"jit_request"}}`,
		`{"type":"shortcut","callback_id":"jit","user":{"id":"UALICE"}}`,
	} {
		f.Add([]byte(seed))
	}
	e := startFuzz(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var cb slack.InteractionCallback
		if json.Unmarshal(payload, &cb) != nil {
			return // socketmode reports it as a bad message; no handler sees it
		}
		ack, calls, answers := e.handle(t, cb)

		if cb.Type == slack.InteractionTypeViewSubmission {
			checkAck(t, cb.View.CallbackID, ack)
		}
		clicked := cb.Type == slack.InteractionTypeBlockActions && len(cb.ActionCallback.BlockActions) > 0 &&
			slices.Contains(knownActions, cb.ActionCallback.BlockActions[0].ActionID)
		if cb.Type != slack.InteractionTypeViewSubmission && !clicked && (len(calls) > 0 || len(answers) > 0) {
			t.Fatalf("an interaction jitbot does not handle caused %d Slack calls and %d answers", len(calls), len(answers))
		}
		if clicked {
			value := cb.ActionCallback.BlockActions[0].Value
			if _, stored := e.fixtures[grants.RequestID(value)]; !stored && (cb.ResponseURL != "" || cb.User.ID != "") {
				n := len(answers)
				for _, c := range calls {
					if c.method == "chat.postMessage" && c.params.Get("channel") == cb.User.ID {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("a click naming no stored request (%q) got %d answers, want 1", value, n)
				}
			}
		}
		for _, c := range calls {
			if c.err != "" && !slices.Contains(expectedErrors, c.err) {
				t.Errorf("Slack refused %s: %s (params %v)", c.method, c.err, c.params)
			}
			for k, vs := range c.params {
				for _, v := range vs {
					checkMarkup(t, c.method+" "+k, k, v)
				}
			}
		}
		for _, a := range answers {
			var msg map[string]json.RawMessage
			if err := json.Unmarshal(a, &msg); err != nil {
				t.Fatalf("response URL post is no JSON object: %v: %s", err, a)
			}
			var text string
			json.Unmarshal(msg["text"], &text)
			if text == "" || utf8.RuneCountInString(text) > blockkit.MaxMessageText {
				t.Errorf("answer text of %d characters: %q", utf8.RuneCountInString(text), text)
			}
			checkMarkup(t, "response_url text", "text", text)
			checkMarkup(t, "response_url blocks", "blocks", string(msg["blocks"]))
		}
	})
}

// checkAck checks the ack of a view submission: field errors name only
// the modal's inputs, and say something.
func checkAck(t *testing.T, callbackID string, ack any) {
	t.Helper()
	if ack == nil {
		return
	}
	resp, ok := ack.(*slack.ViewSubmissionResponse)
	if !ok {
		t.Fatalf("view submission ack is a %T", ack)
	}
	if resp.ResponseAction != slack.RAErrors || len(resp.Errors) == 0 {
		t.Fatalf("view submission ack %+v: want field errors", resp)
	}
	for block, msg := range resp.Errors {
		if !slices.Contains(inputErrors[callbackID], block) {
			t.Errorf("field error on %q, which is no input of modal %q", block, callbackID)
		}
		if strings.TrimSpace(msg) == "" {
			t.Errorf("empty field error on %q", block)
		}
	}
}

// checkMarkup fails when a Slack parameter that Slack reads as mrkdwn has
// a <…> sequence that jitbot did not mean: anything but its mentions of
// the fixtures' people and its dates.
func checkMarkup(t *testing.T, where, key, value string) {
	t.Helper()
	for _, s := range mrkdwnStrings(key, value) {
		for i := 0; i < len(s); i++ {
			if s[i] != '<' {
				continue
			}
			end := strings.IndexByte(s[i:], '>')
			seq := s[i:]
			if end >= 0 {
				seq = s[i : i+end+1]
			}
			if !fuzzPeople.MatchString(seq) && !slackDate.MatchString(seq) {
				t.Errorf("%s has a <…> sequence that is neither a known person's mention nor a date: %q in …%s…", where, seq, excerpt(s, i))
			}
		}
	}
}

// FuzzSubmission: whatever the request modal holds, requestForm never
// panics, its errors name only the modal's inputs, and when it finds none
// the request is one the form promises: a role of the catalog, a duration
// of 0 (the role's default) or between JIT_MIN_DURATION and the role's
// max_duration, a reason of 10 to 500 characters and an incident of at most
// 100 characters without white space.
func FuzzSubmission(f *testing.F) {
	for _, seed := range [][4]string{
		{"readonly", "", "", "checking replica lag on the primary"},
		{"admin", "2h", "INC-42", "rotating the admin password"},
		{"admin", "2h1s", "INC-42", "rotating the admin password"},
		{"quick", "0s", "", "checking replica lag on the primary"},
		{"readonly", "-5m", "", "checking replica lag on the primary"},
		{"", "1d", strings.Repeat("I", 101), "short"},
		{"readonly", "1h", "INC 42", strings.Repeat("é", 501)},
		{"readonly", " 30m ", "\tINC-42\n", "   padded reason here   "},
		{"nope", "99999999999h", "<!channel>", "<@U123> <https://evil|click> *bold*"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	e := startFuzz(f)
	minDuration := time.Second // the handler's MinDuration in startSec
	f.Fuzz(func(t *testing.T, role, duration, incident, reason string) {
		cb := requestSubmission(t, "UALICE", role, duration, incident, reason)
		ack, then := e.h.Submission(cb)
		checkAck(t, blockkit.ViewRequest, ack)
		in, errs := e.h.RequestForm(cb.User.ID, cb.View.State)
		if (ack == nil) != (len(errs) == 0) || (then == nil) == (len(errs) == 0) {
			t.Fatalf("submission ack %v and work %v disagree with requestForm's %d errors", ack, then != nil, len(errs))
		}
		if len(errs) > 0 {
			return
		}
		r, ok := e.svc.Catalog().Role(in.Role)
		if !ok {
			t.Fatalf("accepted role %q, which is not in the catalog", in.Role)
		}
		if in.Duration != 0 && (in.Duration < minDuration || in.Duration > r.MaxDuration) {
			t.Errorf("accepted duration %v for %s, outside [%v, %v]", in.Duration, r.Name, minDuration, r.MaxDuration)
		}
		if n := utf8.RuneCountInString(in.Reason); n < command.MinReason || n > command.MaxReason || in.Reason != strings.TrimSpace(in.Reason) {
			t.Errorf("accepted a reason of %d characters: %q", n, in.Reason)
		}
		if n := utf8.RuneCountInString(in.Incident); n > grants.MaxIncident || strings.ContainsFunc(in.Incident, unicode.IsSpace) {
			t.Errorf("accepted incident %q (%d characters)", in.Incident, n)
		}
		if in.UserID != "UALICE" {
			t.Errorf("request filed for %q, not for who submitted", in.UserID)
		}
	})
}

// requestSubmission is the view_submission payload of the request modal,
// as Slack sends it, decoded as socketmode decodes it. Going through JSON
// does to the strings what the wire does (invalid UTF-8 becomes U+FFFD).
func requestSubmission(t *testing.T, user, role, duration, incident, reason string) slack.InteractionCallback {
	t.Helper()
	text := func(v string) map[string]any { return map[string]any{"type": "plain_text_input", "value": v} }
	payload := map[string]any{
		"type": "view_submission", "user": map[string]any{"id": user},
		"view": map[string]any{
			"id": "V0REQUEST", "type": "modal", "callback_id": blockkit.ViewRequest,
			"state": map[string]any{"values": map[string]any{
				blockkit.InputRole: map[string]any{blockkit.InputRole: map[string]any{
					"type": "static_select", "selected_option": map[string]any{"value": role},
				}},
				blockkit.InputDuration: map[string]any{blockkit.InputDuration: text(duration)},
				blockkit.InputIncident: map[string]any{blockkit.InputIncident: text(incident)},
				blockkit.InputReason:   map[string]any{blockkit.InputReason: text(reason)},
			}},
		},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal(b, &cb); err != nil {
		t.Fatalf("request modal payload does not decode: %v", err)
	}
	return cb
}

// TestFuzzSeeds rewrites the seeds that are real payloads: it drives the
// service through the Slack fake, takes the payloads the fake delivered
// and files them in testdata/fuzz with the fixtures' IDs in place of the
// ones that were drawn. Run it after a change to slackfake's payloads:
//
//	go test -run '^TestFuzzSeeds$' -update-fuzz-corpus ./internal/slackapp/handlers/
func TestFuzzSeeds(t *testing.T) {
	if !*updateCorpus {
		// Without the flag, check that the captured seeds the fuzz
		// targets start from are in the repository.
		for dir, least := range map[string]int{"testdata/fuzz/FuzzInteraction": 9, "testdata/fuzz/FuzzSubmission": 2} {
			files, err := os.ReadDir(dir)
			if err != nil || len(files) < least {
				t.Errorf("%s holds %d seed files (err %v), want at least %d; regenerate with -update-fuzz-corpus", dir, len(files), err, least)
			}
		}
		return
	}
	e := startSec(t, secOptions{socket: true})
	seeds := map[string][]byte{}
	keep := func(name string, env slackfake.Envelope, fixture grants.RequestID, drawn ...grants.RequestID) {
		p := []byte(env.Payload)
		for _, id := range drawn {
			p = bytes.ReplaceAll(p, []byte(id), []byte(fixture))
		}
		p = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`).ReplaceAll(p, []byte("https://hooks.slack.com"))
		seeds[name] = p
	}

	// The request modal, submitted.
	e.slack.SlashCommand(t, "UALICE", "")
	modal := e.openView(t, "UALICE", blockkit.ViewRequest)
	sub := e.slack.SubmitView(t, "UALICE", modal.ID, map[string]map[string]any{
		blockkit.InputRole:     {blockkit.InputRole: slackfake.Selected("readonly")},
		blockkit.InputDuration: {blockkit.InputDuration: slackfake.PlainText("30m")},
		blockkit.InputIncident: {blockkit.InputIncident: slackfake.PlainText("INC-42")},
		blockkit.InputReason:   {blockkit.InputReason: slackfake.PlainText("checking replica lag on the primary")},
	})
	keep("view-submission-request", sub, "")
	ack := sub.Ack(t, 5*time.Second)
	if len(ack) > 0 {
		t.Fatalf("request modal refused: %s", ack)
	}
	granted := grants.RequestID(requestIDRE.FindString(e.dm(t, "UALICE", "Requested").Text))

	// Deny: the button, then the modal.
	denied := e.request(t, "UALICE", "request readonly 30m checking replica lag on the primary")
	dm := e.approvalDM(t, "ULEAD1", denied)
	keep("block-actions-deny", e.slack.Click(t, "ULEAD1", dm.Channel, dm.TS, blockkit.ActionDeny, string(denied)), "JIT-2222AA", denied)
	denyModal := e.openView(t, "ULEAD1", blockkit.ViewDeny)
	keep("view-submission-deny", e.slack.SubmitView(t, "ULEAD1", denyModal.ID, map[string]map[string]any{
		blockkit.InputReason: {blockkit.InputReason: slackfake.PlainText("use the replica dashboard")},
	}), "JIT-2222AA", denied)
	e.waitState(t, denied, grants.Denied)

	// Approve, from the DM and from the App Home.
	dm = e.approvalDM(t, "ULEAD1", granted)
	pending := e.request(t, "UBOB", "request readonly 30m rotating the read replica")
	e.approvalDM(t, "ULEAD1", pending)
	e.slack.OpenHome(t, "ULEAD1")
	e.slack.WaitFor(t, "ULEAD1's App Home lists "+string(pending), 10*time.Second, func() bool {
		return bytes.Contains(e.slack.Home("ULEAD1"), []byte(pending))
	})
	keep("block-actions-approve-home", e.slack.ClickHome(t, "ULEAD1", blockkit.ActionApprove, string(pending)), "JIT-2222AA", pending)
	keep("block-actions-approve", e.slack.Click(t, "ULEAD1", dm.Channel, dm.TS, blockkit.ActionApprove, string(granted)), "JIT-2222AA", granted)
	e.waitState(t, granted, grants.Active)

	// Extend and revoke, from /jit list.
	e.command(t, "UALICE", "list")
	list := e.slack.Ephemerals("UALICE")
	last := list[len(list)-1]
	keep("block-actions-extend", e.slack.Click(t, "UALICE", last.Channel, last.TS, blockkit.ActionExtend, string(granted)), "JIT-3333AA", granted)
	extendModal := e.openView(t, "UALICE", blockkit.ViewExtend)
	keep("view-submission-extend", e.slack.SubmitView(t, "UALICE", extendModal.ID, map[string]map[string]any{
		blockkit.InputDuration: {blockkit.InputDuration: slackfake.PlainText("15m")},
	}), "JIT-3333AA", granted)
	keep("block-actions-revoke", e.slack.Click(t, "UALICE", last.Channel, last.TS, blockkit.ActionRevoke, string(granted)), "JIT-3333AA", granted)

	// Review of a break-glass grant.
	bg := e.request(t, "UBOB", "request breakglass 15m --incident INC-42 database on fire")
	review := e.dm(t, "ULEAD1", string(bg), blockkit.ActionAcknowledge)
	keep("block-actions-acknowledge", e.slack.Click(t, "ULEAD1", review.Channel, review.TS, blockkit.ActionAcknowledge, string(bg)), "JIT-6666AA", bg)

	dir := filepath.Join("testdata", "fuzz", "FuzzInteraction")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, p := range seeds {
		writeSeed(t, filepath.Join(dir, name), fmt.Sprintf("[]byte(%s)", strconv.Quote(string(p))))
	}

	// The submission's strings, for FuzzSubmission.
	var cb slack.InteractionCallback
	if err := json.Unmarshal(seeds["view-submission-request"], &cb); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join("testdata", "fuzz", "FuzzSubmission")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, v := range []string{handlers.Selected(cb.View.State, blockkit.InputRole), handlers.Value(cb.View.State, blockkit.InputDuration),
		handlers.Value(cb.View.State, blockkit.InputIncident), handlers.Value(cb.View.State, blockkit.InputReason)} {
		args = append(args, fmt.Sprintf("string(%s)", strconv.Quote(v)))
	}
	writeSeed(t, filepath.Join(dir, "slackfake-request-modal"), args...)
}

// openView waits for user's top modal to be the one with callbackID.
func (e *secEnv) openView(t *testing.T, user, callbackID string) slackfake.View {
	t.Helper()
	var view slackfake.View
	e.slack.WaitFor(t, callbackID+" modal opens for "+user, 10*time.Second, func() bool {
		v := e.slack.Views(user)
		if len(v) == 0 {
			return false
		}
		view = v[len(v)-1]
		return view.CallbackID == callbackID
	})
	return view
}

// writeSeed writes one corpus file in the go test fuzz v1 format.
func writeSeed(t *testing.T, file string, values ...string) {
	t.Helper()
	body := "go test fuzz v1\n" + strings.Join(values, "\n") + "\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
