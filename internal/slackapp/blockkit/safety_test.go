package blockkit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

const evil = "please <!channel> & <@U0EVIL> see <https://evil.example|the runbook> > now"

// evilRequest has control sequences in every field a user or AWS can
// fill in.
func evilRequest(r *grants.Request) *grants.Request {
	r.Reason = evil
	r.Requester.Name = "<!here> Mallory & co"
	r.Incident = "INC<!channel>"
	r.DenyReason = evil
	r.RevokeReason = evil
	r.Failure = evil
	r.LastError = evil
	return r
}

// rendering is one message, view or text jitbot can produce about r.
type rendering struct {
	name string
	v    any
}

// renderings renders r every way that shows user text.
func renderings(r *grants.Request) []rendering {
	parentText, parentBlocks := AuditParent(r)
	l := grants.Listing{Mine: []*grants.Request{r}, Awaiting: []*grants.Request{r}}
	out := []rendering{
		{"ApprovalRequest", ApprovalRequest(r)},
		{"ApprovalOutcome", ApprovalOutcome(r)},
		{"ApprovalText", ApprovalText(r)},
		{"Text", Text(r)},
		{"AuditParent text", parentText},
		{"AuditParent", parentBlocks},
		{"Acknowledgement", Acknowledgement(r, []string{bob})},
		{"Denied", Denied(r)},
		{"TimedOut", TimedOut(r)},
		{"Cancelled", Cancelled(r)},
		{"GrantFailed", GrantFailed(r)},
		{"Revoked", Revoked(r)},
		{"Expiring", Expiring(r, now)},
		{"List", List(l, now)},
		{"Home", Home(l, now)},
		{"ExtendModal", ExtendModal(r)},
		{"DenyModal", DenyModal(r.ID)},
		{"ReviewRequest", ReviewRequest(r)},
		{"ReviewOutcome", ReviewOutcome(r)},
		{"ReviewReminder", ReviewReminder(r)},
		{"GrantedSSO", GrantedSSO(r, Portal{StartURL: "https://acme.awsapps.com/start", Region: "eu-west-1"})},
	}
	for _, typ := range allEventTypes {
		out = append(out, rendering{"AuditEvent " + string(typ), AuditEvent(grants.Event{Type: typ, At: now, Request: *r, Actor: "U0MALLORY", Err: evil})})
	}
	return out
}

// Control sequences typed by users must reach Slack escaped in every
// rendering that shows them.
func TestUserTextIsEscapedEverywhere(t *testing.T) {
	states := map[string]*grants.Request{
		"pending":     evilRequest(pendingGroup()),
		"active":      evilRequest(activeSTS()),
		"denied":      evilRequest(denied()),
		"revoked":     evilRequest(revokedByApprover()),
		"failed":      evilRequest(failed()),
		"revoking":    evilRequest(revokingStuck()),
		"break-glass": evilRequest(breakGlassActive()),
	}
	for state, r := range states {
		for _, rd := range renderings(r) {
			t.Run(state+"/"+rd.name, func(t *testing.T) {
				got := allText(t, rd.v)
				for _, raw := range []string{"<!channel>", "<@U0EVIL>", "<!here>", "<https://evil.example"} {
					if strings.Contains(got, raw) {
						t.Errorf("%s appears unescaped: %s", raw, got)
					}
				}
				if s, ok := rd.v.(string); ok {
					for _, p := range mrkdwnProblems(s) {
						t.Errorf("%s in %q", p, s)
					}
				} else {
					checkSurface(t, rd.name, rd.v)
				}
			})
		}
	}
}

// Where the reason is shown, it is shown escaped, not dropped.
func TestReasonShownEscaped(t *testing.T) {
	const want = "&lt;!channel&gt; &amp; &lt;@U0EVIL&gt;"
	pending := evilRequest(pendingGroup())
	l := grants.Listing{Mine: []*grants.Request{pending}, Awaiting: []*grants.Request{pending}}
	_, parent := AuditParent(pending)
	shows := []rendering{
		{"ApprovalRequest", ApprovalRequest(pending)},
		{"ApprovalOutcome", ApprovalOutcome(evilRequest(activeGroup()))},
		{"AuditParent", parent},
		{"AuditEvent requested", AuditEvent(grants.Event{Type: grants.EventRequested, Request: *pending})},
		{"List mine", List(grants.Listing{Mine: l.Mine}, now)},
		{"List awaiting", List(grants.Listing{Awaiting: l.Awaiting}, now)},
		{"Home", Home(l, now)},
		{"Denied (deny reason)", Denied(evilRequest(denied()))},
		{"ApprovalOutcome denied (deny reason)", ApprovalOutcome(evilRequest(denied()))},
		{"AuditEvent denied (deny reason)", AuditEvent(grants.Event{Type: grants.EventDenied, Request: *evilRequest(denied())})},
		{"Revoked (revoke reason)", Revoked(evilRequest(revokedByApprover()))},
		{"GrantFailed (failure)", GrantFailed(evilRequest(failed()))},
		{"AuditEvent refused (error)", AuditEvent(grants.Event{Type: grants.EventRefused, Request: *pending, Actor: "U0MALLORY", Err: evil})},
		{"AuditEvent revoke_failed (error)", AuditEvent(grants.Event{Type: grants.EventRevokeFailed, Request: *evilRequest(revokingStuck()), Err: evil})},
		{"AuditEvent revoke_retrying (error)", AuditEvent(grants.Event{Type: grants.EventRevokeRetrying, Request: *evilRequest(revokingStuck()), Err: evil})},
		{"GrantEnded (revoke reason)", GrantEnded(evilRequest(revokedByApprover()))},
	}
	for _, rd := range shows {
		t.Run(rd.name, func(t *testing.T) {
			if got := allText(t, rd.v); !strings.Contains(got, want) {
				t.Errorf("escaped reason %q missing from %s", want, got)
			}
		})
	}
}

// Secrets never leave the requester's DM (docs/design.md §4.4): only Granted shows
// them, even when an event carrying credentials is rendered.
func TestCredentialsOnlyInGranted(t *testing.T) {
	secrets := []string{creds.SecretAccessKey, creds.SessionToken}
	for _, r := range []*grants.Request{activeSTS(), breakGlassActive(), expired(), revokingStuck()} {
		for _, typ := range allEventTypes {
			e := grants.Event{Type: typ, At: now, Request: *r, Actor: bob, Credentials: &creds}
			text, blocks := AuditParent(&e.Request)
			for _, rd := range append(renderings(r),
				rendering{"AuditEvent with credentials", AuditEvent(e)},
				rendering{"AuditParent of event text", text},
				rendering{"AuditParent of event", blocks},
			) {
				got := allText(t, rd.v)
				for _, s := range secrets {
					if strings.Contains(got, s) {
						t.Errorf("%s (%s, %s) shows a secret: %s", rd.name, r.ID, typ, got)
					}
				}
			}
		}
	}
	got := allText(t, Granted(activeSTS(), &creds))
	for _, line := range []string{
		"export AWS_ACCESS_KEY_ID=" + creds.AccessKeyID + `\n`,
		"export AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey + `\n`,
		"export AWS_SESSION_TOKEN=" + creds.SessionToken + `\n`,
	} {
		if !strings.Contains(got, line) {
			t.Errorf("Granted lacks %q: %s", line, got)
		}
	}
	// The access key ID is not a secret; the audit trail names it so
	// CloudTrail can be matched.
	if text := AuditEvent(grants.Event{Type: grants.EventGranted, Request: *activeSTS(), Credentials: &creds}); !strings.Contains(text, creds.AccessKeyID) {
		t.Errorf("granted audit line lacks the access key ID: %s", text)
	}
}

func TestGrantedWithoutCredentials(t *testing.T) {
	bs := Granted(activeSTS(), nil)
	checkSurface(t, "Granted nil", bs)
	if got := allText(t, bs); !strings.Contains(got, "cannot be shown again") || strings.Contains(got, "export AWS_") {
		t.Errorf("Granted without credentials: %s", got)
	}
}

// A session token too long for one section is split, never cut.
func TestGrantedLongSessionToken(t *testing.T) {
	long := creds
	long.SessionToken = strings.Repeat("AbCd+/9=", 900) // 7,200 characters
	bs := Granted(activeSTS(), &long)
	checkSurface(t, "Granted long token", bs)
	var joined strings.Builder
	for _, b := range bs {
		s, ok := b.(*slack.SectionBlock)
		if !ok || s.Text == nil || !strings.HasPrefix(s.Text.Text, "```") {
			continue
		}
		joined.WriteString(strings.TrimSuffix(strings.TrimPrefix(s.Text.Text, "```\n"), "\n```"))
	}
	if !strings.Contains(joined.String(), "export AWS_SESSION_TOKEN="+long.SessionToken) {
		t.Errorf("the split token does not join back into the original")
	}
	if !strings.Contains(allText(t, bs), "split over several") {
		t.Errorf("no note says the token is split")
	}
}

// Each of Slack's limits holds when the input is far over it.
func TestLimits(t *testing.T) {
	long := strings.Repeat("<&>", 2000)
	r := pendingGroup()
	r.Reason = long
	r.Role = strings.Repeat("r", 400)
	r.Requester.Name = long
	r.Requester.Email = long
	r.Incident = long
	r.Rule = long
	r.Target = long
	r.DenyReason = long
	r.Failure = long
	r.ID = grants.RequestID("JIT-" + strings.Repeat("X", 2100))
	approvals := make([]grants.Approval, 300)
	for i := range approvals {
		approvals[i] = grants.Approval{Approver: fmt.Sprintf("U%08d", i)}
	}
	r.Approvals = approvals
	longRole := role(strings.Repeat("n", 200), long, grants.BackendSTS, time.Hour, time.Hour, 1)

	for _, rd := range renderings(r) {
		t.Run(rd.name, func(t *testing.T) {
			switch v := rd.v.(type) {
			case string:
				if n := utf8.RuneCountInString(v); n > MaxMessageText {
					t.Errorf("%d characters", n)
				}
			default:
				checkSurface(t, rd.name, v)
			}
		})
	}
	for _, text := range []string{ApprovalText(r), Text(r), AuditEvent(grants.Event{Type: grants.EventRequested, Request: *r})} {
		if n := utf8.RuneCountInString(text); n > MaxFallbackText {
			t.Errorf("fallback text has %d characters, more than %d", n, MaxFallbackText)
		}
	}
	checkSurface(t, "Roles", Roles([]*rules.Role{longRole}, ""))
	checkSurface(t, "RequestModal", RequestModal([]*rules.Role{longRole}))
	checkSurface(t, "Granted", Granted(r, &creds))

	// Values that would be wrong if cut are dropped instead.
	if v := ApprovalRequest(r)[3].(*slack.ActionBlock).Elements.ElementSet[0].(*slack.ButtonBlockElement).Value; v != "" {
		t.Errorf("an over-long request ID became a button value of %d characters", len(v))
	}
	if m := DenyModal(grants.RequestID(strings.Repeat("X", MaxMetadata+1))).PrivateMetadata; m != "" {
		t.Errorf("an over-long request ID became private_metadata of %d characters", len(m))
	}
}

// Every header, button, option and title is cut to its limit with "…".
func TestPlainTextCutToLimit(t *testing.T) {
	if got := header(strings.Repeat("h", 200)).Text.Text; utf8.RuneCountInString(got) != MaxPlainText || !strings.HasSuffix(got, ellipsis) {
		t.Errorf("header: %q", got)
	}
	if got := button(strings.Repeat("b", 100), ActionApprove, "JIT-1", "").Text.Text; utf8.RuneCountInString(got) != MaxButtonText {
		t.Errorf("button: %q", got)
	}
	o := roleOption(role(strings.Repeat("o", 100), strings.Repeat("d", 100), grants.BackendSTS, time.Hour, time.Hour, 1))
	if utf8.RuneCountInString(o.Text.Text) != MaxOptionText || utf8.RuneCountInString(o.Description.Text) != MaxOptionText {
		t.Errorf("option: %q / %q", o.Text.Text, o.Description.Text)
	}
	if got := section(strings.Repeat("s", 4000)).Text.Text; utf8.RuneCountInString(got) != MaxSectionText {
		t.Errorf("section: %d characters", utf8.RuneCountInString(got))
	}
	if got := fields(strings.Repeat("f", 4000)).Fields[0].Text; utf8.RuneCountInString(got) != MaxFieldText {
		t.Errorf("field: %d characters", utf8.RuneCountInString(got))
	}
	many := make([]string, 15)
	for i := range many {
		many[i] = "x"
	}
	if n := len(fields(many...).Fields); n != MaxFields {
		t.Errorf("%d fields", n)
	}
}

func manyRoles(n int) []*rules.Role {
	roles := make([]*rules.Role, n)
	for i := range roles {
		roles[i] = role(fmt.Sprintf("team-%04d-readonly", i), "Read-only access to the team's production account, with a long enough description",
			grants.BackendSTS, time.Hour, 4*time.Hour, 1+i%3)
	}
	return roles
}

func TestRolesLargeCatalog(t *testing.T) {
	for _, n := range []int{1, 10, 50, 200, 1000, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			roles := manyRoles(n)
			bs := Roles(roles, "")
			checkSurface(t, "Roles", bs)
			got := allText(t, bs)
			shown := strings.Count(got, "-readonly*")
			more := 0
			if i := strings.Index(got, "…and "); i >= 0 {
				fmt.Sscanf(got[i+len("…and "):], "%d", &more)
			}
			if shown+more != n {
				t.Errorf("%d roles shown and %d counted as more, want %d in all", shown, more, n)
			}
			if want := min(n, MaxRolesShown); shown != want {
				t.Errorf("%d roles shown, want %d", shown, want)
			}
		})
	}
}

// TestRolesLongestLines: MaxRolesShown roles of the longest line each
// still fit one message, every one of them shown.
func TestRolesLongestLines(t *testing.T) {
	roles := make([]*rules.Role, MaxRolesShown+5)
	for i := range roles {
		roles[i] = role(fmt.Sprintf("r%02d-", i)+strings.Repeat("n", 60), strings.Repeat("<&> ", 300), grants.BackendSTS, time.Hour, 4*time.Hour, 2)
		roles[i].AutoApprove = "true"
	}
	bs := Roles(roles, strings.Repeat("`<x>` ", 20))
	checkSurface(t, "Roles", bs)
	got := allText(t, bs)
	for _, r := range roles[:MaxRolesShown] {
		if !strings.Contains(got, "*"+r.Name+"*") {
			t.Errorf("%s is not shown", r.Name)
		}
	}
	if !strings.Contains(got, "…and 5 more") {
		t.Errorf("the 5 roles left out are not counted: %s", got)
	}
}

func BenchmarkRoles1000(b *testing.B) {
	roles := manyRoles(1000)
	for b.Loop() {
		Roles(roles, "")
	}
}

func TestRequestModalManyRoles(t *testing.T) {
	for _, n := range []int{1, 100, 101, 1000, 20000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := RequestModal(manyRoles(n))
			checkSurface(t, "RequestModal", m)
			sel := m.Blocks.BlockSet[1].(*slack.InputBlock).Element.(*slack.SelectBlockElement)
			offered := len(sel.Options)
			for _, g := range sel.OptionGroups {
				offered += len(g.Options)
			}
			if want := min(n, MaxOptions*MaxOptions); offered != want {
				t.Errorf("%d roles offered, want %d", offered, want)
			}
			if (n == 1) != (sel.InitialOption != nil) {
				t.Errorf("initial option %v with %d roles", sel.InitialOption, n)
			}
		})
	}
}

func manyRequests(n int, prefix string, mk func() *grants.Request) []*grants.Request {
	out := make([]*grants.Request, n)
	for i := range out {
		r := mk()
		r.ID = grants.RequestID(fmt.Sprintf("JIT-%s%05d", prefix, i))
		out[i] = r
	}
	return out
}

// With 200 requests of each kind, List and Home stay within their block
// limits, show every group, and count what they leave out.
func TestListAndHomeLarge(t *testing.T) {
	for _, n := range []int{0, 1, 5, 30, 200} {
		mine := append(manyRequests(n, "A", activeSTS), manyRequests(n, "P", pendingGroup)...)
		awaiting := manyRequests(n, "W", pendingSTS)
		l := grants.Listing{Mine: mine, Awaiting: awaiting}
		t.Run(fmt.Sprintf("%d", n), func(t *testing.T) {
			for name, v := range map[string]any{"List": List(l, now), "Home": Home(l, now)} {
				checkSurface(t, name, v)
				got := allText(t, v)
				for _, prefix := range []string{"A", "P", "W"} {
					if n > 0 && !strings.Contains(got, "JIT-"+prefix) {
						t.Errorf("%s shows no request of group %s", name, prefix)
					}
				}
				shown := strings.Count(got, "`JIT-")
				left := 0
				for rest := got; ; {
					i := strings.Index(rest, "…and ")
					if i < 0 {
						break
					}
					var k int
					fmt.Sscanf(rest[i+len("…and "):], "%d", &k)
					left += k
					rest = rest[i+1:]
				}
				if shown+left != 3*n {
					t.Errorf("%s: %d shown + %d left out, want %d", name, shown, left, 3*n)
				}
			}
		})
	}
}

// Every surface survives a JSON round trip through slack-go's own types
// unchanged, so what jitbot builds is what Slack receives.
func TestJSONRoundTrip(t *testing.T) {
	l := grants.Listing{Mine: manyRequests(3, "A", activeSTS), Awaiting: manyRequests(3, "W", pendingSTS)}
	_, parent := AuditParent(breakGlassActive())
	messages := map[string][]slack.Block{
		"ApprovalRequest": ApprovalRequest(pendingGroup()),
		"ApprovalOutcome": ApprovalOutcome(denied()),
		"Granted":         Granted(activeSTS(), &creds),
		"Expiring":        Expiring(activeSTS(), now),
		"ReviewRequest":   ReviewRequest(breakGlassActive()),
		"ReviewOutcome":   ReviewOutcome(reviewed()),
		"AuditParent":     parent,
		"Roles":           Roles(manyRoles(1000), ""),
		"List":            List(l, now),
	}
	for name, bs := range messages {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(slack.Blocks{BlockSet: bs})
			if err != nil {
				t.Fatal(err)
			}
			var back slack.Blocks
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, raw, again)
		})
	}
	views := map[string]any{
		"RequestModal": RequestModal(manyRoles(1000)),
		"DenyModal":    DenyModal("JIT-7K3QX2"),
		"ExtendModal":  ExtendModal(activeSTS()),
		"Home":         Home(l, now),
	}
	for name, v := range views {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(reflect.TypeOf(v))
			if err := json.Unmarshal(raw, back.Interface()); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(back.Elem().Interface())
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, raw, again)
		})
	}
}

func assertSameJSON(t *testing.T, a, b []byte) {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x, y) {
		t.Errorf("JSON changed in the round trip:\n%s\n%s", a, b)
	}
}
