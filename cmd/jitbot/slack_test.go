package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// The end-to-end tests of this file run the real jitbot binary against the
// Slack fake (real slack-go client, real websocket), a real redis-server
// and moto behind the recording proxy, and drive it as Slack and its users
// would.

const slackCatalog = `defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  readonly:
    description: Read-only access to production
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    max_duration: 2h
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
    incident_pattern: '^INC-[0-9]+$'
    breakglass_limit: 3
    review_within: 4s
  vendor:
    description: Vendor support access
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    max_duration: 2h
    approvers: [ULEAD1, ULEAD2]
    eligible: 'user.is_guest || user.is_external'
    auto_approve: 'true'
    allow_guests: true
    guest_max_duration: 30m
  admin:
    description: Administrators of production
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    reconcile: report
    approvers: ["@platform-leads"]
    approvals_required: 2
    eligible: '"sre" in user.groups'
  ops:
    backend: aws_iam_group
    group: jit-ops
    iam_user: 'user.email.split("@")[0]'
    reconcile: enforce
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
  pager:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    max_duration: 1h
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
    auto_approve: 'user.oncall && request.incident != ""'
  quick:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    request_ttl: 3s
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
`

const auditChannel = "C0AUDIT001"

// bot is one running jitbot with everything around it.
type bot struct {
	slack   *slackfake.Server
	redis   *testenv.Redis
	moto    *testenv.Moto
	proxy   *testenv.Proxy
	iam     *iam.Client
	env     []string
	catalog string // path of the role catalog the bot runs with
	cmd     *exec.Cmd
	logs    *lines
}

// lines collects the bot's log output, for assertions on what it wrote.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.all = append(l.all, s); l.mu.Unlock() }

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// startBot starts jitbot with the test configuration plus extraEnv.
func startBot(t *testing.T, extraEnv ...string) *bot {
	t.Helper()
	b := &bot{slack: testenv.StartSlack(t), redis: testenv.StartRedis(t), moto: testenv.StartMoto(t)}
	b.proxy = testenv.StartProxy(t, b.moto.URL())
	b.iam = iam.NewFromConfig(testenv.AWSConfig(t, b.moto.URL()))
	(&stack{iam: b.iam}).fixtures(t)
	ctx := t.Context()
	// EntityAlreadyExists is the SDK retrying a call whose answer was
	// lost after moto had made the entity: it is there, as wanted.
	var exists *iamtypes.EntityAlreadyExistsException
	if _, err := b.iam.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("jit-ops")}); err != nil && !errors.As(err, &exists) {
		t.Fatal(err)
	}
	for _, u := range []string{"mallory", "eve"} {
		if _, err := b.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil && !errors.As(err, &exists) {
			t.Fatal(err)
		}
	}

	for _, u := range []slackfake.User{
		{ID: "UALICE", Name: "alice", RealName: "Alice Doe", Email: "alice@example.com"},
		{ID: "UBOB", Name: "bob", RealName: "Bob Roe", Email: "bob@example.com"},
		{ID: "ULEAD1", Name: "lead1", RealName: "Lea Lead", Email: "lead1@example.com"},
		{ID: "ULEAD2", Name: "lead2", RealName: "Leo Lead", Email: "lead2@example.com"},
		{ID: "UEVE", Name: "eve", RealName: "Eve Stranger", Email: "eve@example.com"},
		{ID: "UGUEST", Name: "guest", RealName: "Gus Guest", Email: "guest@example.com", IsGuest: true},
		{ID: "UVIC", Name: "vic", RealName: "Vic Vendor", Email: "vic@vendor.example", External: true},
	} {
		b.slack.AddUser(u)
	}
	b.slack.AddUserGroup("S0LEADS", "platform-leads", "ULEAD1", "ULEAD2")
	b.slack.AddUserGroup("S0SRE", "sre", "UALICE", "UBOB", "UGUEST", "ULEAD1")
	b.slack.AddUserGroup("S0ONCALL", "oncall", "UBOB")

	dir := t.TempDir()
	catalog := filepath.Join(dir, "roles.yaml")
	writeFile(t, catalog, slackCatalog)
	b.env = cleanEnv(
		"SLACK_APP_TOKEN="+b.slack.AppToken(), "SLACK_BOT_TOKEN="+b.slack.BotToken(), "SLACK_API_URL="+b.slack.APIURL(),
		"JIT_RULES="+catalog, "JIT_AUDIT_CHANNEL="+auditChannel, "REDIS_URL="+b.redis.URL(),
		fmt.Sprintf("JIT_HTTP_ADDR=127.0.0.1:%d", testenv.FreePort(t)), "JIT_LOG_LEVEL=debug",
		"AWS_ENDPOINT_URL="+b.proxy.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"JIT_RECONCILE_INTERVAL=10s",
	)
	b.env = append(b.env, extraEnv...)
	b.catalog = catalog
	b.start(t)
	return b
}

// start runs the binary and waits until it is connected to Slack.
func (b *bot) start(t *testing.T) {
	t.Helper()
	before := b.slack.Connections()
	cmd := exec.Command(binary, "serve")
	cmd.Env = b.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if b.logs == nil {
		// The log of every process b runs, shown once if the test fails;
		// registered first, it runs after the last process has stopped.
		b.logs = &lines{}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("jitbot log:\n%s", b.logs.text())
			}
		})
	}
	done := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stderr)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			b.logs.add(s.Text())
		}
		close(done)
	}()
	b.cmd = cmd
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
	})
	b.slack.WaitFor(t, "jitbot connected over Socket Mode", 20*time.Second, func() bool { return b.slack.Connections() > before })
}

// command runs a slash command and returns the first ephemeral answer the
// user gets after it.
func (b *bot) command(t *testing.T, user, text string) string {
	t.Helper()
	n := len(b.slack.Ephemerals(user))
	env := b.slack.SlashCommand(t, user, text)
	if d := env.AckDelay(); d <= 0 {
		t.Errorf("/jit %s: not acknowledged", text)
	}
	var got string
	b.slack.WaitFor(t, "an answer to /jit "+text, 10*time.Second, func() bool {
		if e := b.slack.Ephemerals(user); len(e) > n {
			got = e[n].Text + string(e[n].Blocks)
			return true
		}
		return false
	})
	return got
}

// visible is a message as people read it: its text and its blocks' JSON
// without the HTML escaping of encoding/json (which writes < as \u003c), so
// assertions see what Slack would render.
func visible(m slackfake.Message) string {
	var v any
	if len(m.Blocks) > 0 && json.Unmarshal(m.Blocks, &v) == nil {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return m.Text + "\n" + b.String()
	}
	return m.Text + "\n" + string(m.Blocks)
}

// requestID finds the JIT-XXXXXX in an answer.
func requestID(t *testing.T, s string) string {
	t.Helper()
	i := strings.Index(s, "JIT-")
	if i < 0 || len(s) < i+10 {
		t.Fatalf("no request ID in %q", s)
	}
	return s[i : i+10]
}

// approvalDM waits for the approval DM about id in user's DMs.
func (b *bot) approvalDM(t *testing.T, user, id string) slackfake.Message {
	t.Helper()
	var m slackfake.Message
	b.slack.WaitFor(t, user+" gets an approval DM for "+id, 10*time.Second, func() bool {
		for _, dm := range b.slack.DMs(user) {
			if strings.Contains(string(dm.Blocks), `"value":"`+id+`"`) && strings.Contains(string(dm.Blocks), "jit_approve") {
				m = dm
				return true
			}
		}
		return false
	})
	return m
}

// dmWith waits for a DM to user containing all of want.
func (b *bot) dmWith(t *testing.T, user string, want ...string) slackfake.Message {
	t.Helper()
	var m slackfake.Message
	b.slack.WaitFor(t, fmt.Sprintf("%s gets a DM with %q", user, want), 10*time.Second, func() bool {
		for _, dm := range b.slack.DMs(user) {
			all := dm.Text + string(dm.Blocks)
			if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(all, w) }) {
				m = dm
				return true
			}
		}
		return false
	})
	return m
}

func (b *bot) click(t *testing.T, user string, m slackfake.Message, action, value string) {
	t.Helper()
	env := b.slack.Click(t, user, m.Channel, m.TS, action, value)
	if env.AckDelay() <= 0 {
		t.Errorf("click %s by %s not acknowledged", action, user)
	}
}

func (b *bot) members(t *testing.T) []string {
	t.Helper()
	return (&stack{iam: b.iam}).members(t)
}

// audit returns the audit channel's parent message about id and the
// events in its thread, one string each: a reply that folds several
// events (posted while Slack held the channel back) lists them as "• "
// lines.
func (b *bot) audit(id string) (parent slackfake.Message, replies []string) {
	msgs := b.slack.Messages(auditChannel)
	for _, m := range msgs {
		if m.ThreadTS == "" && !strings.HasPrefix(m.Text, "Audit digest") && strings.Contains(m.Text+string(m.Blocks), id) {
			parent = m
		}
	}
	for _, m := range msgs {
		if parent.TS != "" && m.ThreadTS == parent.TS && m.TS != parent.TS {
			if !strings.HasPrefix(m.Text, "• ") {
				replies = append(replies, m.Text)
				continue
			}
			for _, e := range strings.Split(m.Text, "\n• ") {
				replies = append(replies, strings.TrimPrefix(e, "• "))
			}
		}
	}
	return parent, replies
}

func (b *bot) waitAudit(t *testing.T, id string, n int) (slackfake.Message, []string) {
	t.Helper()
	var parent slackfake.Message
	var replies []string
	b.slack.WaitFor(t, fmt.Sprintf("%d audit replies for %s", n, id), 10*time.Second, func() bool {
		parent, replies = b.audit(id)
		return len(replies) >= n
	})
	return parent, replies
}

// TestSlackAuditFloodUpdatesParentOnce: while Slack rate-limits posting,
// a break-glass request's three events (requested, auto-approved,
// granted) queue up behind the audit parent's first post; they are
// shown in its thread in order (folded into fewer replies), and the parent
// is posted or updated once more at most, to the final state, not once per
// event.
func TestSlackAuditFloodUpdatesParentOnce(t *testing.T) {
	b := startBot(t)
	// The first posts of each queue (audit parent, review DMs, requester
	// DM) are refused for a second; the request's events come meanwhile.
	b.slack.RateLimit("chat.postMessage", 3, time.Second)
	id := requestID(t, b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire"))
	b.dmWith(t, "UBOB", id, "export AWS_SESSION_TOKEN=")
	parent, replies := b.waitAudit(t, id, 3)
	for i, want := range []string{"requested", "approved automatically", "granted"} {
		if i >= len(replies) || !strings.Contains(replies[i], want) {
			t.Errorf("audit reply %d does not say %q: %q", i+1, want, replies)
		}
	}
	if got := parent.Text + string(parent.Blocks); parent.Updates > 1 || !strings.Contains(got, "ACTIVE") {
		t.Errorf("audit parent updated %d times, showing %s; want at most once, to ACTIVE", parent.Updates, got)
	}
}

func TestSlackGroupGrantApprovedByTwo(t *testing.T) {
	b := startBot(t)
	ack := b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag")
	id := requestID(t, ack)
	for _, want := range []string{"<@ULEAD1>", "<@ULEAD2>"} {
		if !strings.Contains(ack, want) {
			t.Errorf("acknowledgement %q does not say %s was asked", ack, want)
		}
	}
	dm1, dm2 := b.approvalDM(t, "ULEAD1", id), b.approvalDM(t, "ULEAD2", id)
	if got := b.slack.DMs("UALICE"); len(got) != 0 {
		t.Errorf("the requester got DMs before any decision: %v", got)
	}

	b.click(t, "ULEAD1", dm1, "jit_approve", id)
	b.slack.WaitFor(t, "first approval recorded", 10*time.Second, func() bool {
		return b.proxy.Count("AddUserToGroup") == 0 && strings.Contains(b.auditText(id), "1 of 2")
	})
	b.click(t, "ULEAD2", dm2, "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-admins")
	if m := b.members(t); !slices.Equal(m, []string{"alice"}) {
		t.Errorf("jit-admins members = %v, want [alice]", m)
	}
	// Every approver's copy now shows the outcome, without buttons.
	for _, u := range []string{"ULEAD1", "ULEAD2"} {
		b.slack.WaitFor(t, u+"'s copy updated", 10*time.Second, func() bool {
			for _, dm := range b.slack.DMs(u) {
				if dm.TS == dm1.TS || dm.TS == dm2.TS {
					return dm.Updates > 0 && !strings.Contains(string(dm.Blocks), "jit_approve")
				}
			}
			return false
		})
	}
	parent, replies := b.waitAudit(t, id, 4)
	if !strings.Contains(parent.Text+string(parent.Blocks), "ACTIVE") || parent.Updates == 0 {
		t.Errorf("audit parent does not show the current state: %s", parent.Text)
	}
	t.Logf("audit replies: %q", replies)

	// Revoke early from the list: alice relinquishes.
	answer := b.command(t, "UALICE", "revoke "+id)
	if !strings.Contains(answer, "Revoked") {
		t.Errorf("revoke answered %q", answer)
	}
	b.slack.WaitFor(t, "alice removed from jit-admins", 10*time.Second, func() bool { return len(b.members(t)) == 0 })
	b.dmWith(t, "UALICE", id, "revoked")
}

func (b *bot) auditText(id string) string {
	parent, replies := b.audit(id)
	return visible(parent) + strings.Join(replies, "\n")
}

func TestSlackSTSCredentialsOnlyInTheRequesterDM(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.dmWith(t, "UALICE", id, "export AWS_ACCESS_KEY_ID=", "export AWS_SECRET_ACCESS_KEY=", "export AWS_SESSION_TOKEN=")
	secret, token := exportValue(t, dm, "AWS_SECRET_ACCESS_KEY"), exportValue(t, dm, "AWS_SESSION_TOKEN")
	b.waitAudit(t, id, 3)

	// Nowhere else: not another user's DM, not the audit channel, not an
	// ephemeral answer, not the bot's own log.
	for _, call := range b.slack.Calls("") {
		for _, v := range call.Params {
			text := strings.Join(v, " ")
			if ch := call.Params.Get("channel"); (strings.Contains(text, secret) || strings.Contains(text, token)) && ch != dm.Channel && ch != "UALICE" {
				t.Errorf("a secret left the requester's DM: %s to %s", call.Method, call.Params.Get("channel"))
			}
		}
	}
	if log := b.logs.text(); strings.Contains(log, secret) || strings.Contains(log, token) {
		t.Errorf("a secret is in jitbot's log")
	}
	if p := onlyAssumeRole(t, b.proxy); p.Get("SourceIdentity") != "alice@example.com" || p.Get("DurationSeconds") != "1800" {
		t.Errorf("AssumeRole sent SourceIdentity %q DurationSeconds %q", p.Get("SourceIdentity"), p.Get("DurationSeconds"))
	}
}

func exportValue(t *testing.T, m slackfake.Message, name string) string {
	t.Helper()
	all := m.Text + string(m.Blocks)
	i := strings.Index(all, "export "+name+"=")
	if i < 0 {
		t.Fatalf("no %s in %s", name, all)
	}
	v := all[i+len("export "+name+"="):]
	end := strings.IndexAny(v, "\\\n\" `")
	if end < 0 {
		end = len(v)
	}
	if end < 8 {
		t.Fatalf("%s looks empty in %q", name, all)
	}
	return v[:end]
}

func onlyAssumeRole(t *testing.T, p *testenv.Proxy) interface{ Get(string) string } {
	t.Helper()
	calls := p.Calls("AssumeRole")
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls, want 1", len(calls))
	}
	return calls[0].Params
}

func TestSlackDenyWithReasonFromTheModal(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request readonly 1h checking replica lag for INC-42"))
	dm := b.approvalDM(t, "ULEAD2", id)
	b.click(t, "ULEAD2", dm, "jit_deny", id)
	var view slackfake.View
	b.slack.WaitFor(t, "the deny modal opens", 10*time.Second, func() bool {
		v := b.slack.Views("ULEAD2")
		if len(v) == 0 {
			return false
		}
		view = v[len(v)-1]
		return true
	})
	env := b.slack.SubmitView(t, "ULEAD2", view.ID, map[string]map[string]any{
		"reason": {"reason": slackfake.PlainText("use the read replica dashboard <!channel>")},
	})
	if ack := env.Ack(t, 5*time.Second); strings.Contains(string(ack), "errors") {
		t.Fatalf("deny modal refused: %s", ack)
	}
	m := b.dmWith(t, "UALICE", id, "use the read replica dashboard")
	if all := visible(m); strings.Contains(all, "<!channel>") || !strings.Contains(all, "&lt;!channel&gt;") {
		t.Errorf("deny reason not escaped in the requester's DM: %s", all)
	}
	if b.proxy.Count("AssumeRole") != 0 {
		t.Errorf("a denied request reached AWS")
	}
	// The other approver's copy says who denied it; a late click is told.
	b.slack.WaitFor(t, "ULEAD1's copy shows the denial", 10*time.Second, func() bool {
		c := b.approvalCopy("ULEAD1", id)
		return c.Updates > 0 && strings.Contains(c.Text+string(c.Blocks), "ULEAD2")
	})
	late := b.approvalCopy("ULEAD1", id)
	n := len(b.slack.Ephemerals("ULEAD1"))
	b.click(t, "ULEAD1", late, "jit_approve", id)
	b.slack.WaitFor(t, "the late approver is told", 10*time.Second, func() bool {
		e := b.slack.Ephemerals("ULEAD1")
		return len(e) > n && strings.Contains(e[n].Text, "already denied by <@ULEAD2>")
	})
}

// approvalCopy is user's DM about id, whatever its state.
func (b *bot) approvalCopy(user, id string) slackfake.Message {
	for _, dm := range b.slack.DMs(user) {
		if strings.Contains(dm.Text+string(dm.Blocks), id) {
			return dm
		}
	}
	return slackfake.Message{}
}

// refusedClick has user click action on the message m, a button that
// Slack may never have shown them, and waits for the refusal saying want
// and for it in the request's audit thread.
func (b *bot) refusedClick(t *testing.T, user string, m slackfake.Message, action, id, want string) {
	t.Helper()
	n := len(b.slack.Ephemerals(user))
	b.slack.ForgedClick(t, user, m.Channel, m.TS, action, id)
	b.slack.WaitFor(t, user+"'s "+action+" refused", 10*time.Second, func() bool {
		e := b.slack.Ephemerals(user)
		return len(e) > n && strings.Contains(e[n].Text, want)
	})
	b.slack.WaitFor(t, user+"'s refusal audited", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), user)
	})
}

// TestSlackNoSelfApprovalAndStaleApprovers covers the two ways someone who
// may not decide could reach a button. A requester who is also an approver
// never gets one for their own request (the domain would refuse it anyway,
// see TestApprovalIntegrityOnRealStore). An approver removed from the approving group
// after the DM was sent still has the button, and their click is refused
// and audited.
func TestSlackNoSelfApprovalAndStaleApprovers(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "ULEAD1", "request readonly 1h checking replica lag for INC-42"))
	b.approvalDM(t, "ULEAD2", id)
	if c := b.approvalCopy("ULEAD1", id); c.TS != "" {
		t.Errorf("the requester got an approval DM for their own request")
	}
	if got := b.command(t, "ULEAD1", "list"); strings.Contains(got, "jit_approve") {
		t.Errorf("the requester's /jit list offers to approve their own request: %s", got)
	}
	b.slack.OpenHome(t, "ULEAD1")
	b.slack.WaitFor(t, "lead1's App Home", 10*time.Second, func() bool { return strings.Contains(string(b.slack.Home("ULEAD1")), id) })
	if home := string(b.slack.Home("ULEAD1")); strings.Contains(home, `"jit_approve"`) {
		t.Errorf("the requester's App Home offers to approve their own request")
	}

	// Slack never delivers a click on a button someone cannot see, but
	// the decision rests on who clicked, not on where the button was.
	lead2Copy := b.approvalDM(t, "ULEAD2", id)
	for _, forged := range []struct{ user, want string }{
		{"ULEAD1", "you cannot approve your own request"},
		{"UEVE", "you are not an approver of readonly"},
	} {
		b.refusedClick(t, forged.user, lead2Copy, "jit_approve", id, forged.want)
	}
	if r := b.approvalCopy("ULEAD2", id); !strings.Contains(string(r.Blocks), "jit_approve") {
		t.Errorf("a refused click decided the request: lead2's copy has no buttons")
	}

	id = requestID(t, b.command(t, "UALICE", "request readonly 1h checking replica lag for INC-42"))
	stale := b.approvalDM(t, "ULEAD1", id)
	b.slack.SetUserGroupMembers("platform-leads", "ULEAD2")
	n := len(b.slack.Ephemerals("ULEAD1"))
	b.click(t, "ULEAD1", stale, "jit_approve", id)
	b.slack.WaitFor(t, "the removed approver is refused", 10*time.Second, func() bool {
		e := b.slack.Ephemerals("ULEAD1")
		return len(e) > n && strings.Contains(e[n].Text, "you are not an approver of readonly")
	})
	b.slack.WaitFor(t, "the refusal is audited", 10*time.Second, func() bool {
		a := b.auditText(id)
		return strings.Contains(a, "ULEAD1") && strings.Contains(strings.ToLower(a), "refused")
	})
	if b.proxy.Count("AssumeRole") != 0 {
		t.Errorf("a refused click reached AWS")
	}
}

func TestSlackDoubleClickAndRedeliveryGrantOnce(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.approvalDM(t, "ULEAD2", id)
	var envs []slackfake.Envelope
	for range 5 {
		envs = append(envs, b.slack.Click(t, "ULEAD2", dm.Channel, dm.TS, "jit_approve", id))
	}
	b.slack.Redeliver(t, envs[0])
	b.dmWith(t, "UALICE", id, "jit-admins")
	time.Sleep(500 * time.Millisecond) // let the other clicks land; they must change nothing
	if n := b.proxy.Count("AddUserToGroup"); n != 1 {
		t.Errorf("AddUserToGroup called %d times, want 1", n)
	}
	granted := 0
	for _, m := range b.slack.DMs("UALICE") {
		if strings.Contains(m.Text+string(m.Blocks), "jit-admins") {
			granted++
		}
	}
	if granted != 1 {
		t.Errorf("alice got %d grant DMs, want 1", granted)
	}
}

// openModal opens the request form as user, with /jit alone.
func (b *bot) openModal(t *testing.T, user string) slackfake.View {
	t.Helper()
	n := len(b.slack.Views(user))
	b.slack.SlashCommand(t, user, "")
	var view slackfake.View
	b.slack.WaitFor(t, "the request modal opens", 10*time.Second, func() bool {
		v := b.slack.Views(user)
		if len(v) <= n {
			return false
		}
		view = v[n]
		return true
	})
	return view
}

func TestSlackRequestModal(t *testing.T) {
	b := startBot(t)
	view := b.openModal(t, "UALICE")
	if js := string(view.JSON); !strings.Contains(js, `"value":"readonly"`) || !strings.Contains(js, `"value":"admin"`) {
		t.Errorf("modal does not offer alice's roles: %s", js)
	}

	// Slack itself enforces the input's min and max length; jitbot checks
	// what only it knows, such as the role's maximum duration.
	bad := b.slack.SubmitView(t, "UALICE", view.ID, map[string]map[string]any{
		"role":     {"role": slackfake.Selected("readonly")},
		"duration": {"duration": slackfake.PlainText("3h")},
		"incident": {"incident": slackfake.PlainText("INC 42")},
		"reason":   {"reason": slackfake.PlainText("checking replica lag for INC-42")},
	})
	ack := string(bad.Ack(t, 5*time.Second))
	for _, want := range []string{`"response_action":"errors"`, `"duration"`, `"incident"`, "at most 2h"} {
		if !strings.Contains(ack, want) {
			t.Errorf("ack of a bad submission %s lacks %s", ack, want)
		}
	}

	good := b.slack.SubmitView(t, "UALICE", view.ID, map[string]map[string]any{
		"role":     {"role": slackfake.Selected("readonly")},
		"duration": {"duration": slackfake.PlainText("45m")},
		"incident": {"incident": slackfake.PlainText("INC-42")},
		"reason":   {"reason": slackfake.PlainText("checking replica lag for INC-42")},
	})
	if ack := string(good.Ack(t, 5*time.Second)); strings.Contains(ack, "errors") {
		t.Fatalf("good submission refused: %s", ack)
	}
	m := b.dmWith(t, "UALICE", "JIT-", "<@ULEAD1>")
	id := requestID(t, m.Text+string(m.Blocks))
	b.approvalDM(t, "ULEAD2", id)
}

func TestSlackBadInput(t *testing.T) {
	b := startBot(t)
	long := strings.Repeat("x", 5000)
	tests := []struct{ name, user, text, want string }{
		{name: "no arguments to request", user: "UALICE", text: "request", want: "/jit request &lt;role&gt;"},
		{name: "unknown role", user: "UALICE", text: "request nosuch 1h fixing INC-42 replica lag", want: "nosuch"},
		{name: "over the maximum", user: "UALICE", text: "request readonly 3h fixing INC-42 replica lag", want: "2h"},
		{name: "out of bounds shows the form", user: "UALICE", text: "request readonly 3h fixing INC-42 replica lag", want: "Usage: /jit request &lt;role&gt;"},
		{name: "under the minimum", user: "UALICE", text: "request readonly 10s fixing INC-42 replica lag", want: "1m"},
		{name: "reason too short", user: "UALICE", text: "request readonly 1h fix", want: "at least 10"},
		{name: "reason 5000 characters", user: "UALICE", text: "request readonly 1h " + long, want: "500"},
		{name: "guest", user: "UGUEST", text: "request readonly 1h fixing INC-42 replica lag", want: "guest"},
		{name: "ineligible", user: "UEVE", text: "request readonly 1h fixing INC-42 replica lag", want: "not eligible"},
		{name: "unknown sub-command", user: "UALICE", text: "requets readonly", want: "request"},
		{name: "revoke unknown", user: "UALICE", text: "revoke JIT-ZZZZZZ", want: "JIT-ZZZZZZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.command(t, tt.user, tt.text); !strings.Contains(got, tt.want) {
				t.Errorf("/jit %.40s answered %q, want it to mention %q", tt.text, got, tt.want)
			}
		})
	}
	if n := len(b.slack.Messages(auditChannel)); n != 0 {
		t.Errorf("bad input reached the audit channel: %d messages", n)
	}
	if !strings.Contains(b.command(t, "UALICE", "help"), "/jit request") {
		t.Errorf("help does not show the request form")
	}
}

func TestSlackUserTextIsEscaped(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request readonly 1h <!channel> ping <@ULEAD1> & <https://evil.example|click>"))
	dm := b.approvalDM(t, "ULEAD2", id)
	_, _ = b.waitAudit(t, id, 1)
	for where, text := range map[string]string{"approval DM": visible(dm), "audit": b.auditText(id)} {
		if strings.Contains(text, "<!channel>") || strings.Contains(text, "<https://evil") || strings.Contains(text, "ping <@ULEAD1>") {
			t.Errorf("%s lets user text become mentions or links: %s", where, text)
		}
		if !strings.Contains(text, "&lt;!channel&gt;") {
			t.Errorf("%s does not show the reason escaped: %s", where, text)
		}
	}
}

func TestSlackListHomeExtendAndTimeout(t *testing.T) {
	b := startBot(t)
	// 20m, so the extension still fits the role's 1 h MaxSessionDuration.
	id := requestID(t, b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire"))
	// bob is on call with an incident: break-glass, no approver needed.
	b.dmWith(t, "UBOB", id, "export AWS_SESSION_TOKEN=")
	if _, replies := b.waitAudit(t, id, 3); !strings.Contains(strings.Join(replies, "\n"), "BREAK-GLASS") {
		t.Errorf("break-glass grant is not loud in the audit thread: %q", replies)
	}

	pending := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	if got := b.command(t, "UALICE", "list"); !strings.Contains(got, pending) {
		t.Errorf("alice's list %q lacks her pending %s", got, pending)
	}
	if got := b.command(t, "ULEAD1", "list"); !strings.Contains(got, pending) {
		t.Errorf("lead1's list %q lacks %s awaiting approval", got, pending)
	}
	b.slack.OpenHome(t, "ULEAD1")
	b.slack.WaitFor(t, "lead1's App Home shows what awaits them", 10*time.Second, func() bool {
		return strings.Contains(string(b.slack.Home("ULEAD1")), pending)
	})
	b.slack.OpenHome(t, "UBOB")
	b.slack.WaitFor(t, "bob's App Home shows his grant", 10*time.Second, func() bool {
		return strings.Contains(string(b.slack.Home("UBOB")), id)
	})

	ext := b.command(t, "UBOB", "extend "+id+" 30m")
	extID := requestID(t, ext)
	if extID == id {
		t.Errorf("extension answered with the original ID: %q", ext)
	}
	// Auto-approved again (bob is on call and the incident carries over).
	b.dmWith(t, "UBOB", extID, "export AWS_SESSION_TOKEN=")

	quick := requestID(t, b.command(t, "UALICE", "request quick 1h fixing INC-42 replica lag"))
	b.dmWith(t, "UALICE", quick, "timed out")
	// The requester's DM and the approvers' copies are updated one after the
	// other, so the approver's copy is waited for, not read at once.
	if c := b.dmWith(t, "ULEAD1", quick, "timed out"); strings.Contains(string(c.Blocks), "jit_approve") {
		t.Errorf("the approver's copy of a timed-out request: %s", c.Blocks)
	}
}

func TestSlackReconnectsAfterTheSocketDrops(t *testing.T) {
	b := startBot(t)
	before := b.slack.Connections()
	b.slack.Drop()
	b.slack.WaitFor(t, "jitbot reconnects", 30*time.Second, func() bool { return b.slack.Connections() > before })
	if got := b.command(t, "UALICE", "roles"); !strings.Contains(got, "readonly") {
		t.Errorf("after reconnecting, /jit roles answered %q", got)
	}
}

func TestSlackRateLimitedWritesAreRetried(t *testing.T) {
	b := startBot(t)
	// Slack answers the next three chat.postMessage calls with 429 and
	// Retry-After: 1; the approval DMs and the audit trail still arrive.
	b.slack.RateLimit("chat.postMessage", 3, time.Second)
	id := requestID(t, b.command(t, "UALICE", "request readonly 1h checking replica lag for INC-42"))
	b.approvalDM(t, "ULEAD1", id)
	b.approvalDM(t, "ULEAD2", id)
	b.waitAudit(t, id, 1)
	if n := len(b.slack.Calls("chat.postMessage")); n < 3+3 {
		t.Errorf("%d chat.postMessage calls; want the 3 rate-limited ones retried", n)
	}
	if !strings.Contains(b.logs.text(), "slack write failed; will retry") {
		t.Errorf("the rate limits left no trace in the log")
	}
}

// TestSlackSlowAWSBlocksNobodyElse: while one approval waits on a stalled
// AWS, other users' commands are acknowledged and answered.
func TestSlackSlowAWSBlocksNobodyElse(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.approvalDM(t, "ULEAD2", id)
	b.proxy.Stall(4 * time.Second)
	b.click(t, "ULEAD2", dm, "jit_approve", id) // the grant now hangs in AWS
	answer := b.command(t, "UBOB", "roles")
	if !strings.Contains(answer, "readonly") {
		t.Errorf("bob's /jit roles answered %q", answer)
	}
	if b.proxy.Count("AddUserToGroup") != 0 || len(b.members(t)) != 0 {
		t.Fatalf("the stalled grant finished before bob was answered; the test proves nothing")
	}
	b.dmWith(t, "UALICE", id, "jit-admins") // and the stalled one completes
}

// TestSlackBreakGlassReviewAndEscalation: an on-call engineer with an
// incident gets access with no click; the owners get a review DM, a
// reminder once review_within (4 s here) has passed, and one of them
// acknowledges it.
func TestSlackBreakGlassReviewAndEscalation(t *testing.T) {
	b := startBot(t)
	ack := b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire")
	id := requestID(t, ack)
	if !strings.Contains(ack, "BREAK-GLASS") {
		t.Errorf("the acknowledgement does not say break-glass: %s", ack)
	}
	b.dmWith(t, "UBOB", id, "export AWS_SESSION_TOKEN=")
	review := b.dmWith(t, "ULEAD1", id, "jit_acknowledge", "Revoke now")
	b.dmWith(t, "ULEAD2", id, "jit_acknowledge")
	parent, _ := b.waitAudit(t, id, 3)
	if !strings.Contains(visible(parent), "BREAK-GLASS") {
		t.Errorf("audit parent is not marked break-glass: %s", visible(parent))
	}

	// Nobody reviews within 4 s: a reminder DM and an audit reply.
	b.slack.WaitFor(t, "the owners are reminded", 15*time.Second, func() bool {
		n := 0
		for _, m := range b.slack.DMs("ULEAD1") {
			if strings.Contains(m.Text+string(m.Blocks), id) && strings.Contains(m.Text+string(m.Blocks), "Nobody has reviewed") {
				n++
			}
		}
		return n == 1
	})
	b.slack.WaitFor(t, "the escalation is audited", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "nobody has reviewed this break-glass access in time")
	})

	b.click(t, "ULEAD1", review, "jit_acknowledge", id)
	b.slack.WaitFor(t, "lead2's review DM shows who reviewed", 10*time.Second, func() bool {
		c := b.copyWith("ULEAD2", id, "Review break-glass")
		return c.Updates > 0 && strings.Contains(visible(c), "Reviewed by <@ULEAD1>") && !strings.Contains(string(c.Blocks), "jit_acknowledge")
	})
	b.slack.WaitFor(t, "the review is audited", 10*time.Second, func() bool { return strings.Contains(b.auditText(id), "reviewed by <@ULEAD1>") })
}

// copyWith is user's first DM that mentions id and contains want.
func (b *bot) copyWith(user, id, want string) slackfake.Message {
	for _, dm := range b.slack.DMs(user) {
		if all := visible(dm); strings.Contains(all, id) && strings.Contains(all, want) {
			return dm
		}
	}
	return slackfake.Message{}
}

func TestSlackBreakGlassLimitsAndIncidentPattern(t *testing.T) {
	b := startBot(t)
	if got := b.command(t, "UBOB", "request readonly 20m --incident incident42 database on fire"); !strings.Contains(got, "does not look like one of readonly") {
		t.Errorf("a malformed incident reference answered %q", got)
	}
	for i := range 3 {
		if got := b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire"); !strings.Contains(got, "BREAK-GLASS") {
			t.Fatalf("break-glass %d answered %q", i+1, got)
		}
	}
	fourth := b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire")
	if strings.Contains(fourth, "BREAK-GLASS") || !strings.Contains(fourth, "its limit, so this request goes to the approvers") {
		t.Errorf("the fourth break-glass in 24h answered %q", fourth)
	}
	b.approvalDM(t, "ULEAD1", requestID(t, fourth))
}

func TestSlackThirdParties(t *testing.T) {
	b := startBot(t)
	if got := b.command(t, "UGUEST", "request readonly 20m checking replica lag for INC-42"); !strings.Contains(got, "readonly is not open to guests") {
		t.Errorf("a guest on a default role: %q", got)
	}
	if got := b.command(t, "UVIC", "request vendor 1h vendor ticket 1234 follow-up"); !strings.Contains(got, "guests may hold vendor for at most 30m") {
		t.Errorf("a vendor over the guest limit: %q", got)
	}
	ack := b.command(t, "UVIC", "request vendor 30m vendor ticket 1234 follow-up")
	id := requestID(t, ack)
	if strings.Contains(ack, "BREAK-GLASS") || !strings.Contains(ack, "2 of them must approve") {
		t.Errorf("a third party was not sent to two approvers: %q", ack)
	}
	dm1, dm2 := b.approvalDM(t, "ULEAD1", id), b.approvalDM(t, "ULEAD2", id)
	if !strings.Contains(visible(dm1), "THIRD-PARTY") {
		t.Errorf("the approval DM does not mark a third party: %s", visible(dm1))
	}
	b.click(t, "ULEAD1", dm1, "jit_approve", id)
	b.click(t, "ULEAD2", dm2, "jit_approve", id)
	b.dmWith(t, "UVIC", id, "export AWS_SESSION_TOKEN=")
	if parent, _ := b.waitAudit(t, id, 4); !strings.Contains(visible(parent), "THIRD-PARTY") {
		t.Errorf("the audit parent does not mark a third party: %s", visible(parent))
	}
}

func TestSlackExtensionCeilingAndEndingEarly(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request readonly 20m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	granted := b.dmWith(t, "UALICE", id, "export AWS_SESSION_TOKEN=")
	if got := b.command(t, "UALICE", "extend "+id+" 1h50m"); !strings.Contains(got, "over readonly's max of 2h") {
		t.Errorf("an extension past the role's ceiling answered %q", got)
	}
	// The requester ends the access from the grant DM.
	b.click(t, "UALICE", granted, "jit_revoke", id)
	b.dmWith(t, "UALICE", id, "You gave up your access")
	b.slack.WaitFor(t, "the early end is audited", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "access ended")
	})
	if b.proxy.Count("PutRolePolicy") != 1 {
		t.Errorf("%d PutRolePolicy calls; ending an STS grant early denies its session once", b.proxy.Count("PutRolePolicy"))
	}
}

func (b *bot) addToGroup(t *testing.T, user, group string) {
	t.Helper()
	if _, err := b.iam.AddUserToGroup(t.Context(), &iam.AddUserToGroupInput{UserName: aws.String(user), GroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
}

func (b *bot) groupMembers(t *testing.T, group string) []string {
	t.Helper()
	out, err := b.iam.GetGroup(t.Context(), &iam.GetGroupInput{GroupName: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range out.Users {
		names = append(names, aws.ToString(u.UserName))
	}
	slices.Sort(names)
	return names
}

// TestSlackReconciliation: members added behind jitbot's back are reported
// (reconcile: report) or removed (enforce); a granted member is kept.
func TestSlackReconciliation(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request ops 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-ops")
	b.addToGroup(t, "eve", "jit-ops")
	b.addToGroup(t, "mallory", "jit-admins")

	b.slack.WaitFor(t, "eve removed from jit-ops and audited", 30*time.Second, func() bool {
		return b.auditHas("IAM user eve was in jit-ops without a grant from jitbot and has been removed")
	})
	if m := b.groupMembers(t, "jit-ops"); !slices.Equal(m, []string{"alice"}) {
		t.Errorf("jit-ops members = %v, want the granted alice only", m)
	}
	b.slack.WaitFor(t, "mallory reported", 10*time.Second, func() bool {
		return b.auditHas("IAM user mallory is in jit-admins without a grant from jitbot (reconcile: report)")
	})
	if m := b.groupMembers(t, "jit-admins"); !slices.Equal(m, []string{"mallory"}) {
		t.Errorf("jit-admins members = %v; report mode removes nobody", m)
	}
}

// auditHas reports whether any audit channel message contains text.
func (b *bot) auditHas(text string) bool {
	for _, m := range b.slack.Messages(auditChannel) {
		if strings.Contains(visible(m), text) {
			return true
		}
	}
	return false
}

// TestSlackCatalogReload: a changed catalog is taken up without a restart
// and announced; a broken one is rejected and announced, and the previous
// one stays; SIGHUP reloads and does not stop the bot.
func TestSlackCatalogReload(t *testing.T) {
	b := startBot(t)
	writeFile(t, b.catalog, strings.Replace(slackCatalog, "  quick:", "  audit-read:\n    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/jit-readonly\n    approvers: [ULEAD1]\n    eligible: '\"sre\" in user.groups'\n  quick:", 1))
	b.slack.WaitFor(t, "the reload is announced", 15*time.Second, func() bool { return b.auditHas("Role catalog reloaded") })
	if got := b.command(t, "UALICE", "roles"); !strings.Contains(got, "audit-read") {
		t.Errorf("after the reload /jit roles lacks the new role: %s", got)
	}

	writeFile(t, b.catalog, strings.Replace(slackCatalog, "user.groups", "user.grups", 1))
	b.slack.WaitFor(t, "the broken catalog is announced", 15*time.Second, func() bool { return b.auditHas("does not load") })
	if !b.auditHas("grups") {
		t.Errorf("the rejection does not say what is wrong")
	}
	if got := b.command(t, "UALICE", "roles"); !strings.Contains(got, "audit-read") {
		t.Errorf("after a rejected catalog the previous one is not in force: %s", got)
	}

	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := b.command(t, "UALICE", "roles"); !strings.Contains(got, "readonly") {
		t.Errorf("after SIGHUP /jit roles answered %q", got)
	}
}

// TestSlackRolesFilterAndPage: over a catalog larger than one answer
// shows, /jit roles lists the first roles by name with a count of the
// rest, and /jit roles <words…> narrows the list to the roles the caller
// may request whose name or description has every word; the words are
// shown escaped.
func TestSlackRolesFilterAndPage(t *testing.T) {
	b := startBot(t)
	var extra strings.Builder
	for i := range 40 {
		fmt.Fprintf(&extra, "  svc-%02d:\n    description: Deploy service %02d in staging\n    backend: aws_sts\n"+
			"    role_arn: arn:aws:iam::123456789012:role/jit-readonly\n    approvers: [ULEAD1]\n    eligible: '\"sre\" in user.groups'\n", i, i)
	}
	writeFile(t, b.catalog, slackCatalog+extra.String())
	b.slack.WaitFor(t, "the reload is announced", 15*time.Second, func() bool { return b.auditHas("Role catalog reloaded") })

	answer := func(text string) string {
		b.command(t, "UALICE", text)
		e := b.slack.Ephemerals("UALICE")
		return visible(e[len(e)-1])
	}
	// alice (sre, not a guest) may request admin, ops, pager, quick,
	// readonly and the 40 svc roles: 45, of which 30 are shown.
	all := answer("roles")
	if !strings.Contains(all, "*Roles you can request* (45)") || !strings.Contains(all, "…and 15 more") {
		t.Errorf("/jit roles over 45 roles answered %s", all)
	}
	if n := strings.Count(all, "*svc-"); n != 25 || !strings.Contains(all, "*svc-24*") || strings.Contains(all, "*svc-25*") {
		t.Errorf("/jit roles shows %d svc roles, want svc-00 to svc-24 after the five others by name: %s", n, all)
	}
	if strings.Contains(all, "*vendor*") {
		t.Errorf("/jit roles shows vendor, which alice may not request: %s", all)
	}

	some := answer("roles Staging  svc-1")
	if !strings.Contains(some, "matching `Staging svc-1`* (10)") || strings.Count(some, "*svc-1") != 10 || strings.Contains(some, "more") {
		t.Errorf("/jit roles Staging svc-1 answered %s; want svc-10 to svc-19", some)
	}
	if got := answer("roles PRODUCTION"); !strings.Contains(got, "(2)") || !strings.Contains(got, "*admin*") || !strings.Contains(got, "*readonly*") {
		t.Errorf("/jit roles PRODUCTION answered %s; want admin and readonly, by their descriptions", got)
	}
	if got := answer("roles vendor"); !strings.Contains(got, "No role you can request matches `vendor`") {
		t.Errorf("/jit roles vendor answered %s; alice may not request vendor", got)
	}
	if got := answer("roles <!channel> *x*"); !strings.Contains(got, "matches `&lt;!channel&gt; *x*`") || strings.Contains(got, "<!channel>") {
		t.Errorf("/jit roles <!channel> answered %s; want the words escaped", got)
	}
	if got := answer("roles " + strings.Repeat("x", 101)); !strings.Contains(got, "at most 100") {
		t.Errorf("/jit roles with 101 characters answered %s", got)
	}
}

// TestSlackPagerDutyOnCall: with PagerDuty as the on-call source, an
// engineer on call gets break-glass; when PagerDuty is down, requests take
// the approval path and the requester is told why.
func TestSlackPagerDutyOnCall(t *testing.T) {
	pd := pagerdutyfake.Start(t)
	pd.AddUser("PALICE", "Alice Doe", "alice@example.com")
	pd.AddUser("PBOB", "Bob Roe", "bob@example.com")
	pd.SetOnCall("PALICE", "Primary")
	b := startBot(t, "JIT_PAGERDUTY_TOKEN="+pd.Token(), "JIT_PAGERDUTY_API_URL="+pd.URL())
	b.slack.AddUser(slackfake.User{ID: "UCAROL", Name: "carol", Email: "carol@example.com"})
	b.slack.SetUserGroupMembers("sre", "UALICE", "UBOB", "UGUEST", "ULEAD1", "UCAROL")

	if got := b.command(t, "UALICE", "request pager 20m --incident INC-42 database on fire"); !strings.Contains(got, "BREAK-GLASS") {
		t.Errorf("alice is on call in PagerDuty but was not granted at once: %s", got)
	}
	if got := b.command(t, "UBOB", "request pager 20m --incident INC-42 database on fire"); strings.Contains(got, "BREAK-GLASS") {
		t.Errorf("bob is not on call but got break-glass: %s", got)
	}
	// carol is on call too, but PagerDuty is down when she first asks.
	pd.Down(true)
	pd.AddUser("PCAROL", "Carol", "carol@example.com")
	pd.SetOnCall("PCAROL", "Primary")
	got := b.command(t, "UCAROL", "request pager 20m --incident INC-42 database on fire")
	if strings.Contains(got, "BREAK-GLASS") || !strings.Contains(got, "PagerDuty could not be reached") {
		t.Errorf("with PagerDuty down: %s", got)
	}
}
