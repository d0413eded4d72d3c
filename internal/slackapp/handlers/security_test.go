package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/handlers"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// The security tests run the whole bot in process, built by internal/app
// as jitbot serve builds it (durable audit log, audit channel, messenger,
// Slack directory with its production cache times), against the Slack
// fake. A forged payload (a button value Slack would never send) is handed
// to the handler directly through export_test.go: the fake delivers only
// buttons that exist.

// secCatalog: readonly is approved by ULEAD1 alone; admin by the members
// of @admin-leads, and only people in @sre may request it; quick times
// out after 2 s; breakglass is granted at once for an incident, and
// ULEAD1 reviews it.
const secCatalog = `defaults:
  max_duration: 1h
  default_duration: 10m
  request_ttl: 30m
roles:
  readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    approvers: [ULEAD1]
    eligible: 'true'
  admin:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-admin
    max_duration: 2h
    approvers: ["@admin-leads"]
    eligible: '"sre" in user.groups'
  quick:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-quick
    request_ttl: 2s
    approvers: [ULEAD1]
    eligible: 'true'
  breakglass:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-breakglass
    max_duration: 30m
    approvers: [ULEAD1]
    eligible: 'true'
    auto_approve: 'request.incident.startsWith("INC-")'
`

// The backend's credentials: only the requester's DM may ever show them.
// Letters and digits only, so that no encoding along the way (JSON, form,
// mrkdwn escaping) hides them from the scan.
const (
	secSecretKey    = "SECRETwJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
	secSessionToken = "TOKENFwoGZXIvYXdzEJrwEaDHxSESSIONq9zLJtM2wExAMPLE"
)

// secBackend issues the known credentials and counts its calls.
type secBackend struct {
	mu      sync.Mutex
	granted []grants.Grant
}

func (b *secBackend) Grant(_ context.Context, g grants.Grant) (grants.Issued, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.granted = append(b.granted, g)
	c := &grants.Credentials{AccessKeyID: "ASIASECTEST", SecretAccessKey: secSecretKey, SessionToken: secSessionToken, Expiration: g.Expires}
	return grants.Issued{Credentials: c, CredsExpire: g.Expires, AWSRequestID: "aws-req-" + string(g.RequestID)}, nil
}

func (b *secBackend) Revoke(context.Context, grants.Grant) (grants.Revocation, error) {
	return grants.Revocation{}, nil
}

func (b *secBackend) Cleanup(context.Context, grants.Grant) error { return nil }

// grantsOf returns the request IDs access was issued for.
func (b *secBackend) grantsOf() []grants.RequestID {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []grants.RequestID
	for _, g := range b.granted {
		ids = append(ids, g.RequestID)
	}
	return ids
}

// syncBuffer is a log sink that tests can read while the service writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type secEnv struct {
	slack    *slackfake.Server
	store    *redisstore.Store
	svc      *grants.Service
	h        *handlers.Handler
	evidence *auditlog.Log
	backend  *secBackend
	logs     *syncBuffer // every log line, at debug level
}

type secOptions struct {
	catalog string
	// socket runs Socket Mode and the scheduler; without it the handler is
	// only called directly (the fuzz targets) and nothing runs by itself.
	socket bool
	// transport, when set, carries the Slack client's calls (the fuzz
	// targets record them).
	transport http.RoundTripper
	// quiet discards the log (fuzzing would fill memory with it).
	quiet bool
}

// secUsers are the fake workspace's people. UBOB is in @sre, ULEAD2 in
// @admin-leads.
var secUsers = []slackfake.User{
	{ID: "UALICE", Name: "alice", Email: "alice@example.com"},
	{ID: "UBOB", Name: "bob", Email: "bob@example.com"},
	{ID: "ULEAD1", Name: "lead1", Email: "lead1@example.com"},
	{ID: "ULEAD2", Name: "lead2", Email: "lead2@example.com"},
	{ID: "UEVE", Name: "eve", Email: "eve@example.com"},
}

// startSec starts the bot, built as jitbot serve builds it, with the
// times shortened: the scheduler looks every 200 ms. Without o.socket
// only the Slack write queue runs.
func startSec(t testing.TB, o secOptions) *secEnv {
	t.Helper()
	if o.catalog == "" {
		o.catalog = secCatalog
	}
	e := &secEnv{slack: testenv.StartSlack(t), backend: &secBackend{}, logs: &syncBuffer{}}
	for _, u := range secUsers {
		e.slack.AddUser(u)
	}
	e.slack.AddUserGroup("S0SRE", "sre", "UBOB")
	e.slack.AddUserGroup("S0ADMINS", "admin-leads", "ULEAD2")

	var log *slog.Logger
	if o.quiet {
		log = slog.New(slog.DiscardHandler)
	} else {
		log = slog.New(slog.NewMultiHandler(
			slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
			slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}),
		))
	}
	a := newApp(t, e.slack, log, o.catalog, app.Options{
		Backends:       map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend},
		SlackTransport: o.transport,
		Tune:           func(o *grants.Options) { o.MaxIdle = 200 * time.Millisecond },
	})
	e.store, e.svc, e.h, e.evidence = a.Store(), a.Service(), a.Handler(), a.AuditLog()
	if !o.socket {
		runUntilCleanup(t, a.Queue().Run)
		return e
	}
	runUntilCleanup(t, a.Run)
	e.slack.WaitFor(t, "connected", 10*time.Second, func() bool { return e.slack.Connections() > 0 })
	return e
}

var requestIDRE = regexp.MustCompile(`JIT-[0-9A-Z]{6}`)

// command types /jit text as user and returns the answer they see.
func (e *secEnv) command(t *testing.T, user, text string) string {
	t.Helper()
	n := len(e.slack.Ephemerals(user))
	e.slack.SlashCommand(t, user, text)
	return e.ephemeral(t, user, n, "the answer to /jit "+text, "")
}

// ephemeral waits for the (n+1)th ephemeral message of user, which must
// contain want, and returns its text and blocks.
func (e *secEnv) ephemeral(t *testing.T, user string, n int, what, want string) string {
	t.Helper()
	var got string
	e.slack.WaitFor(t, what, 15*time.Second, func() bool {
		m := e.slack.Ephemerals(user)
		if len(m) <= n {
			return false
		}
		got = m[n].Text + string(m[n].Blocks)
		return true
	})
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q does not say %q", what, got, want)
	}
	return got
}

// request files a request with /jit and returns its ID.
func (e *secEnv) request(t *testing.T, user, text string) grants.RequestID {
	t.Helper()
	ack := e.command(t, user, text)
	id := requestIDRE.FindString(ack)
	if id == "" {
		t.Fatalf("/jit %s: no request ID in %q", text, ack)
	}
	return grants.RequestID(id)
}

// dm waits for a DM to user that contains every one of want.
func (e *secEnv) dm(t *testing.T, user string, want ...string) slackfake.Message {
	t.Helper()
	return e.slack.WaitMessage(t, user+" gets "+strings.Join(want, ", "), 15*time.Second, func(m slackfake.Message) bool {
		if m.Channel != e.slack.DMChannel(user) {
			return false
		}
		all := m.Text + string(m.Blocks)
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false
			}
		}
		return true
	})
}

// approvalDM is the approval DM of approver about id.
func (e *secEnv) approvalDM(t *testing.T, approver string, id grants.RequestID) slackfake.Message {
	t.Helper()
	return e.dm(t, approver, string(id), blockkit.ActionApprove)
}

// waitState waits until the record of id is in state.
func (e *secEnv) waitState(t *testing.T, id grants.RequestID, state grants.State) *grants.Request {
	t.Helper()
	var r *grants.Request
	e.slack.WaitFor(t, fmt.Sprintf("%s is %s", id, state), 15*time.Second, func() bool {
		var err error
		r, err = e.svc.Get(context.Background(), id)
		return err == nil && r.State == state
	})
	return r
}

// auditEntries returns the durable audit log's entries about id.
func (e *secEnv) auditEntries(t *testing.T, id grants.RequestID) []auditlog.Entry {
	t.Helper()
	all, err := e.evidence.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditlog.Entry
	for _, s := range all {
		if s.Entry.RequestID == string(id) {
			out = append(out, s.Entry)
		}
	}
	return out
}

// refusals counts the durable audit log's refused decisions of actor on
// id that say why.
func (e *secEnv) refusals(t *testing.T, id grants.RequestID, actor, why string) int {
	t.Helper()
	n := 0
	for _, en := range e.auditEntries(t, id) {
		if en.Type == string(grants.EventRefused) && en.Actor == actor && strings.Contains(en.Outcome, why) {
			n++
		}
	}
	return n
}

// waitRefused waits for the durable audit log to record one more refused
// decision of actor on id than before.
func (e *secEnv) waitRefused(t *testing.T, id grants.RequestID, actor, why string, before int) {
	t.Helper()
	e.slack.WaitFor(t, fmt.Sprintf("refusal of %s by %s audited", id, actor), 10*time.Second, func() bool {
		return e.refusals(t, id, actor, why) > before
	})
}

// replay hands the handler a payload as Socket Mode would have delivered
// it: the bytes are decoded as slack-go's socketmode decodes them, then
// routed as dispatch routes them. It returns once the handler is done.
func (e *secEnv) replay(t *testing.T, payload []byte) {
	t.Helper()
	var cb slack.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		t.Fatalf("forged payload does not decode: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if cb.Type == slack.InteractionTypeViewSubmission {
		if _, then := e.h.Submission(cb); then != nil {
			then(ctx)
		}
		return
	}
	e.h.Interaction(ctx, cb)
}

// forge returns payload with every occurrence of from replaced by to, as
// JSON string contents.
func forge(t *testing.T, payload json.RawMessage, from, to string) []byte {
	t.Helper()
	q := func(s string) []byte {
		b, _ := json.Marshal(s)
		return b[1 : len(b)-1]
	}
	if !bytes.Contains(payload, q(from)) {
		t.Fatalf("payload has no %q to forge: %s", from, payload)
	}
	return bytes.ReplaceAll(payload, q(from), q(to))
}

// TestForgedButtonValue: the request ID in a button's value is the only
// thing a click names, and whoever clicks is checked against that
// request's role. A payload that names another request (Slack never sends
// one; a compromised client or a replay could) is refused, audited and
// grants nothing.
func TestForgedButtonValue(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	mine := e.request(t, "UALICE", "request readonly 5m checking replica lag for INC-42")
	other := e.request(t, "UBOB", "request admin 5m rotating the admin password")
	lead1DM := e.approvalDM(t, "ULEAD1", mine)
	lead2DM := e.approvalDM(t, "ULEAD2", other)

	// A real click first, to have a real payload to forge from.
	clicked := e.slack.Click(t, "ULEAD1", lead1DM.Channel, lead1DM.TS, blockkit.ActionApprove, string(mine))
	e.waitState(t, mine, grants.Active)

	tests := []struct {
		name  string
		click func(t *testing.T)
	}{
		{name: "value rewritten in the approver's own DM", click: func(t *testing.T) {
			e.replay(t, forge(t, clicked.Payload, string(mine), string(other)))
		}},
		{name: "button of another approver's DM", click: func(t *testing.T) {
			e.slack.ForgedClick(t, "ULEAD1", lead2DM.Channel, lead2DM.TS, blockkit.ActionApprove, string(other))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(e.slack.Ephemerals("ULEAD1"))
			audited := e.refusals(t, other, "ULEAD1", "not an approver")
			tt.click(t)
			e.ephemeral(t, "ULEAD1", n, "the forged click is refused", "you are not an approver of admin")
			e.waitRefused(t, other, "ULEAD1", "not an approver", audited)
			r, err := e.svc.Get(t.Context(), other)
			if err != nil || r.State != grants.Pending || len(r.Approvals) != 0 {
				t.Errorf("%s after the forged click: %+v, %v; want pending with no approval", other, r, err)
			}
			if got := e.backend.grantsOf(); !slices.Equal(got, []grants.RequestID{mine}) {
				t.Errorf("access issued for %v, want only %s", got, mine)
			}
		})
	}
}

// TestLateApproval: a click on an approval DM after the request timed out,
// or after the access it gave has ended, is refused with a message that
// says why, and issues nothing.
func TestLateApproval(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	tests := []struct {
		name     string
		request  string
		approver string // who clicks Approve first; "" for nobody
		state    grants.State
		want     string
	}{
		{name: "after the request timed out", request: "request quick 5m checking replica lag for INC-42", state: grants.TimedOut, want: "timed out before anyone decided"},
		{name: "after the grant expired", request: "request readonly 2s checking replica lag for INC-42", approver: "ULEAD1", state: grants.Revoked, want: "was already approved by <@ULEAD1>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.request(t, "UALICE", tt.request)
			dm := e.approvalDM(t, "ULEAD1", id)
			if tt.approver != "" {
				e.slack.Click(t, tt.approver, dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
			}
			e.waitState(t, id, tt.state)
			before := e.backend.grantsOf()

			n := len(e.slack.Ephemerals("ULEAD1"))
			// Click sees the buttons as they were: the DM may not have
			// been updated on the approver's screen yet.
			e.slack.Click(t, "ULEAD1", dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
			e.ephemeral(t, "ULEAD1", n, "the late click is answered", tt.want)
			if r, _ := e.svc.Get(t.Context(), id); r.State != tt.state {
				t.Errorf("%s moved from %s to %s", id, tt.state, r.State)
			}
			if got := e.backend.grantsOf(); len(got) != len(before) {
				t.Errorf("a late click issued access: %v", got[len(before):])
			}
		})
	}
}

// TestApproverRemovedFromGroup: approvers are resolved at the click, so
// someone taken out of the approving user group after the DM was sent can
// no longer approve or deny with it.
func TestApproverRemovedFromGroup(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	id := e.request(t, "UBOB", "request admin 5m rotating the admin password")
	dm := e.approvalDM(t, "ULEAD2", id)
	e.slack.SetUserGroupMembers("admin-leads", "ULEAD1")

	n := len(e.slack.Ephemerals("ULEAD2"))
	e.slack.Click(t, "ULEAD2", dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
	e.ephemeral(t, "ULEAD2", n, "the removed approver's click is refused", "you are not an approver of admin")
	e.waitRefused(t, id, "ULEAD2", "not an approver", 0)
	if r, _ := e.svc.Get(t.Context(), id); r.State != grants.Pending || len(r.Approvals) != 0 {
		t.Errorf("after the refused click: state %s, approvals %v", r.State, r.Approvals)
	}
	if got := e.backend.grantsOf(); len(got) != 0 {
		t.Errorf("access issued: %v", got)
	}
}

// TestEligibilityFlipsBeforeApproval: the requester is removed from the
// user group the role's eligible rule needs after filing the request. The
// approver's click then denies the request with the reason, and nothing is
// issued. The approval comes right after the change: the directory must
// answer who the requester is at the moment of the decision
// (grants.Directory), not as they were some seconds ago.
func TestEligibilityFlipsBeforeApproval(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	id := e.request(t, "UBOB", "request admin 5m rotating the admin password")
	dm := e.approvalDM(t, "ULEAD2", id)
	e.slack.SetUserGroupMembers("sre")

	n := len(e.slack.Ephemerals("ULEAD2"))
	e.slack.Click(t, "ULEAD2", dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
	var r *grants.Request
	e.slack.WaitFor(t, string(id)+" decided", 15*time.Second, func() bool {
		r, _ = e.svc.Get(context.Background(), id)
		return r != nil && r.State != grants.Pending
	})
	if r.State != grants.Denied {
		t.Fatalf("%s is %s, granted %v: bob left @sre before the click, but the approval saw him as he was", id, r.State, e.backend.grantsOf())
	}
	e.ephemeral(t, "ULEAD2", n, "the approver is told", "no longer qualifies for admin")
	if !strings.Contains(r.DenyReason, "no longer eligible") || !strings.Contains(r.DenyReason, "not eligible for admin") {
		t.Errorf("deny reason %q does not say why", r.DenyReason)
	}
	e.dm(t, "UBOB", string(id), "no longer eligible")
	if got := e.backend.grantsOf(); len(got) != 0 {
		t.Errorf("access issued to a requester who is no longer eligible: %v", got)
	}
}

// injections are the control sequences of Slack's mrkdwn that user text
// must never carry into a message: broadcasts, a user mention, a user
// group mention and a link with a lying label.
var injections = []string{"<!channel>", "<!here>", "<!everyone>", "<@UEVIL1>", "<!subteam^S0EVIL|@evil>", "<https://evil.example/x|click>"}

// rawInjection finds, in what jitbot sent, the start of any of them as
// Slack would parse it.
var rawInjection = regexp.MustCompile(`<!channel|<!here|<!everyone|<@UEVIL|<!subteam|<https?://evil`)

// TestMentionInjection puts mrkdwn control sequences in every field a user
// or their Slack profile supplies: reason and incident (typed and in the
// modal), deny reason, display name, email, a role name and a request ID
// typed in a command, a button value and a modal's private metadata. Then
// it reads every Slack call jitbot made: none may carry them raw, while
// jitbot's own mentions of people still work.
func TestMentionInjection(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	all := strings.Join(injections, " ")
	e.slack.AddUser(slackfake.User{ID: "UMAL", Name: "mal" + injections[0], RealName: "Mal " + injections[3], Email: "mal" + injections[1] + "@example.com"})

	// Typed: reason and incident.
	typed := e.request(t, "UMAL", "request readonly 5m --incident "+injections[5]+" checking lag "+all)
	// In the modal: reason and incident.
	e.slack.SlashCommand(t, "UMAL", "")
	var modal slackfake.View
	e.slack.WaitFor(t, "the request modal opens", 10*time.Second, func() bool {
		v := e.slack.Views("UMAL")
		if len(v) > 0 {
			modal = v[len(v)-1]
		}
		return len(v) > 0
	})
	ack := e.slack.SubmitView(t, "UMAL", modal.ID, map[string]map[string]any{
		blockkit.InputRole:     {blockkit.InputRole: slackfake.Selected("readonly")},
		blockkit.InputIncident: {blockkit.InputIncident: slackfake.PlainText(injections[4])},
		blockkit.InputReason:   {blockkit.InputReason: slackfake.PlainText("from the modal " + all)},
	}).Ack(t, 5*time.Second)
	if len(ack) > 0 && strings.Contains(string(ack), "errors") {
		t.Fatalf("request modal refused: %s", ack)
	}
	dm := e.slack.WaitMessage(t, "the modal request is acknowledged", 10*time.Second, func(m slackfake.Message) bool {
		return m.Channel == e.slack.DMChannel("UMAL") && strings.Contains(m.Text, "Requested")
	})
	fromModal := grants.RequestID(requestIDRE.FindString(dm.Text))

	// Denied with a reason from the deny modal.
	deny := e.approvalDM(t, "ULEAD1", typed)
	e.slack.Click(t, "ULEAD1", deny.Channel, deny.TS, blockkit.ActionDeny, string(typed))
	var denyModal slackfake.View
	e.slack.WaitFor(t, "the deny modal opens", 10*time.Second, func() bool {
		v := e.slack.Views("ULEAD1")
		if len(v) > 0 {
			denyModal = v[len(v)-1]
		}
		return len(v) > 0
	})
	e.slack.SubmitView(t, "ULEAD1", denyModal.ID, map[string]map[string]any{
		blockkit.InputReason: {blockkit.InputReason: slackfake.PlainText("no: " + all)},
	}).Ack(t, 5*time.Second)
	e.waitState(t, typed, grants.Denied)
	e.dm(t, "UMAL", string(typed), "Denied")

	// Approved, then revoked by the requester.
	approve := e.approvalDM(t, "ULEAD1", fromModal)
	e.slack.Click(t, "ULEAD1", approve.Channel, approve.TS, blockkit.ActionApprove, string(fromModal))
	e.waitState(t, fromModal, grants.Active)
	e.command(t, "UMAL", "list")
	for _, u := range []string{"ULEAD1", "UMAL"} {
		e.slack.OpenHome(t, u)
		e.slack.WaitFor(t, u+"'s App Home", 10*time.Second, func() bool { return e.slack.Home(u) != nil })
	}
	e.command(t, "UMAL", "revoke "+string(fromModal))
	e.waitState(t, fromModal, grants.Revoked)

	// Typed where jitbot expects a role or an ID.
	for _, in := range injections {
		e.command(t, "UMAL", "request "+in+" 5m checking replica lag for INC-42")
		e.command(t, "UMAL", "revoke "+in)
		e.command(t, "UMAL", "extend "+in+" 30m")
	}
	// Forged: a button value and a deny modal's private metadata. The
	// answers go by DM (no response_url), the other way jitbot answers.
	clicked := e.slack.Click(t, "ULEAD1", approve.Channel, approve.TS, blockkit.ActionApprove, string(fromModal))
	for _, in := range injections {
		for _, action := range []string{blockkit.ActionApprove, blockkit.ActionRevoke, blockkit.ActionExtend, blockkit.ActionAcknowledge} {
			p := forge(t, clicked.Payload, string(fromModal), in)
			p = forge(t, p, blockkit.ActionApprove, action)
			e.replay(t, setField(t, p, "response_url", ""))
		}
		e.replay(t, denySubmission(t, "ULEAD1", in, all))
	}
	e.slack.WaitFor(t, "the audit channel shows the denial", 10*time.Second, func() bool {
		return slices.ContainsFunc(e.slack.Messages("C0AUDIT001"), func(m slackfake.Message) bool {
			return strings.Contains(m.Text+string(m.Blocks), "no: &lt;!channel&gt;")
		})
	})

	own := 0
	for _, c := range e.slack.Calls("") {
		for k, vs := range c.Params {
			for _, v := range vs {
				for _, s := range mrkdwnStrings(k, v) {
					if loc := rawInjection.FindStringIndex(s); loc != nil {
						t.Errorf("%s %s carries user text as markup: …%s…", c.Method, k, excerpt(s, loc[0]))
					}
					if strings.Contains(s, "<@ULEAD1>") || strings.Contains(s, "<@UMAL>") {
						own++
					}
				}
			}
		}
	}
	if own == 0 {
		t.Errorf("jitbot's own mentions of people (<@ULEAD1>, <@UMAL>) are gone from every message")
	}
	// The injected text is still shown, escaped.
	if !slices.ContainsFunc(e.slack.Calls("chat.postMessage"), func(c slackfake.Call) bool {
		return strings.Contains(unescapeJSON(c.Params.Get("blocks")), "&lt;!channel&gt;")
	}) {
		t.Errorf("no message shows the user's text escaped (&lt;!channel&gt;)")
	}
}

// setField sets a top-level field of a JSON payload.
func setField(t *testing.T, payload []byte, key string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUsageIsEscaped: when a form cannot be opened, the answer shows how
// to type the command instead. Its <role>, <id> and <duration> are
// jitbot's own words, but Slack reads an unescaped <…> as markup (a link
// or a mention), so they must be escaped like everything else.
func TestUsageIsEscaped(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	id := e.request(t, "UALICE", "request readonly 30m checking replica lag for INC-42")
	dm := e.approvalDM(t, "ULEAD1", id)
	e.slack.Click(t, "ULEAD1", dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
	e.waitState(t, id, grants.Active)
	e.command(t, "UALICE", "list")
	list := e.slack.Ephemerals("UALICE")
	listed := list[len(list)-1]

	tests := []struct {
		name, usage string
		act         func(t *testing.T)
	}{
		{name: "request form", usage: "/jit request &lt;role&gt;", act: func(t *testing.T) {
			e.slack.SlashCommand(t, "UALICE", "")
		}},
		{name: "extend form", usage: "/jit extend &lt;id&gt; &lt;duration&gt;", act: func(t *testing.T) {
			e.slack.Click(t, "UALICE", listed.Channel, listed.TS, blockkit.ActionExtend, string(id))
		}},
		{name: "unknown role", usage: "/jit request &lt;role&gt;", act: func(t *testing.T) {
			e.slack.SlashCommand(t, "UALICE", "request nope 30m checking replica lag for INC-42")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(e.slack.Ephemerals("UALICE"))
			e.slack.FailNext("views.open", 1, "internal_error")
			tt.act(t)
			got := e.ephemeral(t, "UALICE", n, "the answer", "")
			if !strings.Contains(got, tt.usage) {
				t.Errorf("answer %q does not show the usage escaped (%s)", got, tt.usage)
			}
			if loc := regexp.MustCompile(`<(role|id|duration|reason)`).FindStringIndex(got); loc != nil {
				t.Errorf("answer has unescaped markup: …%s…", excerpt(got, loc[0]))
			}
			e.slack.FailNext("views.open", 0, "")
		})
	}
}

// denySubmission is the view_submission payload of the deny modal with
// metadata as its private_metadata: Slack returns whatever jitbot put
// there, but a forged payload may carry anything.
func denySubmission(t *testing.T, user, metadata, reason string) []byte {
	t.Helper()
	p := map[string]any{
		"type": "view_submission", "user": map[string]any{"id": user}, "trigger_id": "1.1.forged",
		"view": map[string]any{
			"id": "VFORGED", "type": "modal", "callback_id": blockkit.ViewDeny, "private_metadata": metadata,
			"state": map[string]any{"values": map[string]any{
				blockkit.InputReason: map[string]any{blockkit.InputReason: map[string]any{"type": "plain_text_input", "value": reason}},
			}},
		},
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mrkdwnStrings returns the strings of a Slack call parameter that Slack
// parses as mrkdwn: a message's text, and in JSON (blocks, a view) every
// string except the text of plain_text objects and the machine fields
// (values, IDs, metadata, URLs), which Slack shows literally or not at all.
func mrkdwnStrings(key, value string) []string {
	switch key {
	case "blocks", "view", "attachments":
	case "text":
		return []string{value}
	default:
		return nil
	}
	var v any
	if json.Unmarshal([]byte(value), &v) != nil {
		return []string{value}
	}
	var out []string
	var walk func(v any, key string, plain bool)
	walk = func(v any, key string, plain bool) {
		switch x := v.(type) {
		case map[string]any:
			isPlain := x["type"] == "plain_text"
			for k, c := range x {
				walk(c, k, isPlain)
			}
		case []any:
			for _, c := range x {
				walk(c, key, false)
			}
		case string:
			switch {
			case plain && key == "text":
			case slices.Contains([]string{"value", "initial_value", "private_metadata", "action_id", "block_id", "callback_id", "external_id", "url", "type", "style"}, key):
			default:
				out = append(out, x)
			}
		}
	}
	walk(v, "", false)
	return out
}

func excerpt(s string, at int) string {
	return s[max(0, at-40):min(len(s), at+60)]
}

var jsonHTML = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

// unescapeJSON undoes Go's HTML-safe escaping of <, > and & in JSON text.
func unescapeJSON(s string) string { return jsonHTML.Replace(s) }

// TestSecretsOnlyInTheRequesterDM: after an STS grant, its secret key and
// session token are in the requester's DM and nowhere else: not in any
// other Slack call, not in Redis (records, refs, queues, limits, the audit
// stream), not in the durable audit log, not in any log line.
func TestSecretsOnlyInTheRequesterDM(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	id := e.request(t, "UALICE", "request readonly 30m checking replica lag for INC-42")
	dm := e.approvalDM(t, "ULEAD1", id)
	e.slack.Click(t, "ULEAD1", dm.Channel, dm.TS, blockkit.ActionApprove, string(id))
	e.dm(t, "UALICE", string(id), secSecretKey, secSessionToken)
	e.command(t, "UALICE", "list")
	e.slack.OpenHome(t, "UALICE")
	e.slack.OpenHome(t, "ULEAD1")
	e.command(t, "UALICE", "revoke "+string(id))
	e.waitState(t, id, grants.Revoked)
	e.dm(t, "UALICE", string(id), "revoked")
	e.slack.WaitFor(t, "the audit log has the revocation", 10*time.Second, func() bool {
		return slices.ContainsFunc(e.auditEntries(t, id), func(en auditlog.Entry) bool { return en.Type == string(grants.EventRevoked) })
	})

	secrets := map[string]string{"secret key": secSecretKey, "session token": secSessionToken}
	scan := func(where, text string) {
		t.Helper()
		for name, s := range secrets {
			// A cut or wrapped copy would still be a leak: look for a
			// piece of it too.
			for _, piece := range []string{s, s[10:30]} {
				if strings.Contains(text, piece) {
					t.Errorf("the %s is in %s", name, where)
					break
				}
			}
		}
	}

	requesterDM := []string{"UALICE", e.slack.DMChannel("UALICE")}
	inDM := 0
	for i, c := range e.slack.Calls("") {
		var all strings.Builder
		for k, vs := range c.Params {
			fmt.Fprintf(&all, "%s=%s\n", k, strings.Join(vs, "\n"))
		}
		text := unescapeJSON(all.String())
		if slices.Contains(requesterDM, c.Params.Get("channel")) && (c.Method == "chat.postMessage" || c.Method == "chat.update") {
			if strings.Contains(text, secSecretKey) {
				inDM++
			}
			continue
		}
		scan(fmt.Sprintf("Slack call %d (%s)", i, c.Method), text)
	}
	if inDM != 1 {
		t.Errorf("the credentials went to the requester's DM %d times, want once", inDM)
	}
	for _, a := range e.slack.Acks() {
		scan("a Socket Mode ack", unescapeJSON(string(a.Payload)))
	}
	for key, value := range redisDump(t, e.store) {
		scan("Redis key "+key, value)
	}
	entries, err := e.evidence.Read(t.Context(), "-", 0)
	if err != nil || len(entries) == 0 {
		t.Fatalf("audit log: %d entries, %v", len(entries), err)
	}
	for _, en := range entries {
		scan(fmt.Sprintf("audit entry %d (%s)", en.Entry.Seq, en.Entry.Type), string(en.Raw))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, string(id)) {
		t.Fatalf("the log does not mention %s: is it captured?", id)
	}
	scan("the log", logs)
}

// redisDump returns every key of the store's Redis with its contents as
// text, whatever its type.
func redisDump(t *testing.T, store *redisstore.Store) map[string]string {
	t.Helper()
	ctx := t.Context()
	c := store.Client()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("redis KEYS: %v", err)
	}
	if len(keys) == 0 {
		t.Fatalf("redis is empty: is this the store's client?")
	}
	out := map[string]string{}
	for _, k := range keys {
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("redis TYPE %s: %v", k, err)
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "hash":
			v, err = c.HGetAll(ctx, k).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = c.SMembers(ctx, k).Result()
		case "zset":
			v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("redis key %s has type %s, which the scan cannot read", k, typ)
		}
		if err != nil {
			t.Fatalf("redis read %s (%s): %v", k, typ, err)
		}
		out[k] = fmt.Sprint(v)
	}
	return out
}
