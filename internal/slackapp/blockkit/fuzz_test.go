package blockkit

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/grants"
)

var unescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// FuzzEscape checks that escaped text holds no raw < or >, decodes back to
// the input, and that cutting it at any length never breaks an entity.
func FuzzEscape(f *testing.F) {
	f.Add("<!channel> & <@U0EVIL>", 12)
	f.Add("&amp;&lt;&gt;", 5)
	f.Add(strings.Repeat("&<", 50), 99)
	f.Fuzz(func(t *testing.T, s string, n int) {
		e := Escape(s)
		if strings.ContainsAny(e, "<>") {
			t.Fatalf("Escape(%q) = %q keeps a raw < or >", s, e)
		}
		if back := unescaper.Replace(e); back != s {
			t.Fatalf("Escape(%q) = %q does not decode back (got %q)", s, e, back)
		}
		n = int(uint(n) % 5000)
		c := cut(e, n)
		if p := entityProblem(c); p != "" {
			t.Fatalf("cut(%q, %d) = %q: %s", e, n, c, p)
		}
		if c == e {
			return
		}
		if utf8.RuneCountInString(c) > n {
			t.Fatalf("cut(%q, %d) = %q is too long", e, n, c)
		}
		if c != "" && (!strings.HasSuffix(c, ellipsis) || !strings.HasPrefix(e, strings.TrimSuffix(c, ellipsis))) {
			t.Fatalf("cut(%q, %d) = %q is not a prefix plus …", e, n, c)
		}
	})
}

// FuzzRender puts arbitrary text in every field a user or AWS controls and
// checks every rendering against Slack's limits and jitbot's escaping.
func FuzzRender(f *testing.F) {
	f.Add("fixing INC-42 replica lag", "Alice", "INC-42")
	f.Add(evil, "<!here> Mallory", "INC<!channel>")
	f.Add(strings.Repeat("&<>", 400), strings.Repeat("&", 200), strings.Repeat("<", 150))
	f.Add("line one\n> two\n```three```", "`x`", "*bold*")
	f.Fuzz(func(t *testing.T, reason, name, incident string) {
		r := pendingGroup()
		r.Reason, r.Requester.Name, r.Incident = reason, name, incident
		r.DenyReason, r.Failure, r.RevokeReason, r.LastError = reason, reason, reason, reason
		r.Requester.Email = incident
		for _, rd := range renderings(r) {
			if s, ok := rd.v.(string); ok {
				for _, p := range mrkdwnProblems(s) {
					t.Errorf("%s: %s in %q", rd.name, p, s)
				}
				if utf8.RuneCountInString(s) > MaxMessageText {
					t.Errorf("%s: too long", rd.name)
				}
				continue
			}
			checkSurface(t, rd.name, rd.v)
		}
		for _, typ := range allEventTypes {
			s := AuditEvent(grants.Event{Type: typ, Request: *r, Err: reason, Actor: name})
			for _, p := range mrkdwnProblems(s) {
				t.Errorf("AuditEvent %s: %s in %q", typ, p, s)
			}
		}
	})
}
