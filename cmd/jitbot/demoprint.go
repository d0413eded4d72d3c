package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// transcript prints the demo's conversation as the people in it see it:
// who said what where, message by message, with Block Kit flattened to
// text and mrkdwn left as it is, except dates and mentions.
type transcript struct {
	w       io.Writer
	fake    *slackfake.Server
	names   map[string]string // user ID → name
	places  map[string]string // channel ID → where it is
	printed map[string]int    // channel/ts → the Updates already printed
}

func newTranscript(w io.Writer, fake *slackfake.Server) *transcript {
	t := &transcript{
		w: w, fake: fake, printed: map[string]int{},
		names:  map[string]string{demoAlice: "alice", demoBob: "bob", demoCarol: "carol", slackfake.BotUserID: "jitbot"},
		places: map[string]string{demoOps: "#ops", demoIncidents: "#incidents", demoAudit: "#jit-audit"},
	}
	for _, u := range []string{demoAlice, demoBob, demoCarol} {
		t.places[fake.DMChannel(u)] = "DM " + t.names[u]
	}
	return t
}

// column is the width of the "where" column.
const column = 12

func (t *transcript) intro() {
	fmt.Fprintf(t.w, "jitbot demo: jitbot runs in this process as `jitbot serve` would, on a fake Slack workspace,\n"+
		"with the embedded store and JIT_DRY_RUN=true: it calls no AWS API and says so in every message.\n"+
		"People: alice (SRE), bob (owner of the roles, @platform-leads), carol (SRE, on call).\n"+
		"The audit trail goes to #jit-audit.\n")
}

func (t *transcript) outro() {
	fmt.Fprintf(t.w, "\nThe end. Every message above says DRY RUN: nothing was changed in AWS. Without JIT_DRY_RUN,\n"+
		"jitbot sends exactly the AWS calls shown above, and the credentials DM holds real keys.\n")
}

func (t *transcript) title(s string) { fmt.Fprintf(t.w, "\n── %s ──\n\n", s) }

func (t *transcript) typed(user, channel, text string) {
	fmt.Fprintf(t.w, "%-*s %s › %s\n", column, t.place(channel), t.names[user], text)
}

func (t *transcript) clicked(user, channel, label string) {
	fmt.Fprintf(t.w, "%-*s %s clicks [%s]\n", column, t.place(channel), t.names[user], label)
}

func (t *transcript) home(user string, blocks json.RawMessage) {
	t.say("App Home", t.names[user]+" sees:", blockLines(blocks))
}

// flush prints what jitbot posted or changed since the last flush, in
// the order Slack received it.
func (t *transcript) flush() {
	broadcast := map[string]bool{}
	for _, c := range t.fake.Calls("chat.postMessage") {
		if c.Params.Get("reply_broadcast") == "true" {
			broadcast[c.Params.Get("thread_ts")+"/"+c.Params.Get("text")] = true
		}
	}
	for _, m := range t.fake.Messages("") {
		key := m.Channel + "/" + m.TS
		n, seen := t.printed[key]
		if seen && m.Updates <= n {
			continue
		}
		t.printed[key] = m.Updates
		t.message(m, seen, broadcast[m.ThreadTS+"/"+m.Text])
	}
}

func (t *transcript) message(m slackfake.Message, edit, broadcast bool) {
	who := "jitbot"
	switch {
	case m.Ephemeral:
		who = "jitbot, only " + t.names[m.User] + " sees it"
	case strings.HasPrefix(t.place(m.Channel), "DM "):
		who = "← jitbot"
	case m.ThreadTS != "" && m.ThreadTS != m.TS:
		who = "↳ jitbot, in the thread"
		if broadcast {
			who += " and in the channel"
		}
	}
	if edit {
		who += " edits its message"
	}
	lines := blockLines(m.Blocks)
	if len(lines) == 0 {
		lines = strings.Split(m.Text, "\n")
	}
	t.say(t.place(m.Channel), who+":", lines)
}

// say prints a heading and the lines of one message under it.
func (t *transcript) say(where, who string, lines []string) {
	fmt.Fprintf(t.w, "%-*s %s\n", column, where, who)
	for _, l := range lines {
		fmt.Fprintf(t.w, "%*s│ %s\n", column+1, "", t.readable(l))
	}
}

func (t *transcript) place(channel string) string {
	if p, ok := t.places[channel]; ok {
		return p
	}
	return channel
}

var (
	dateRE    = regexp.MustCompile(`<!date\^\d+\^[^|>]*\|([^>]*)>`)
	mentionRE = regexp.MustCompile(`<@([UW][A-Z0-9]+)>`)
	unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// readable shows a Slack date in local time (with the day when it is not
// today), a mention as @name, and the three escaped characters as
// themselves.
func (t *transcript) readable(s string) string {
	s = dateRE.ReplaceAllStringFunc(s, func(m string) string {
		fallback := dateRE.FindStringSubmatch(m)[1]
		at, err := time.Parse(time.RFC3339, fallback)
		if err != nil {
			return fallback
		}
		at, now := at.Local(), time.Now()
		if at.YearDay() != now.YearDay() || at.Year() != now.Year() {
			return at.Format("Mon Jan 2 15:04:05")
		}
		return at.Format("15:04:05")
	})
	s = mentionRE.ReplaceAllStringFunc(s, func(m string) string {
		id := mentionRE.FindStringSubmatch(m)[1]
		if n, ok := t.names[id]; ok {
			return "@" + n
		}
		return "@" + id
	})
	return unescaper.Replace(s)
}

// block is the part of a Block Kit block the transcript shows.
type block struct {
	Type      string     `json:"type"`
	Text      *textObj   `json:"text"`
	Fields    []textObj  `json:"fields"`
	Elements  []*element `json:"elements"`
	Accessory *element   `json:"accessory"`
}

type textObj struct {
	Text string `json:"text"`
}

// element is a button, or a text element of a context block.
type element struct {
	Type     string          `json:"type"`
	ActionID string          `json:"action_id"`
	Value    string          `json:"value"`
	Text     json.RawMessage `json:"text"`
}

// label is the button's label or the context element's text.
func (e *element) label() string {
	var s string
	if json.Unmarshal(e.Text, &s) == nil {
		return s
	}
	var o textObj
	_ = json.Unmarshal(e.Text, &o)
	return o.Text
}

// blockLines flattens blocks to lines of text: headers marked, fields one
// a line, buttons in brackets.
func blockLines(raw json.RawMessage) []string {
	var blocks []block
	if len(raw) == 0 || json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var lines []string
	for _, b := range blocks {
		switch b.Type {
		case "header":
			lines = append(lines, "▍"+b.Text.Text)
		case "section":
			if b.Text != nil {
				lines = append(lines, strings.Split(b.Text.Text, "\n")...)
			}
			for _, f := range b.Fields {
				lines = append(lines, strings.ReplaceAll(f.Text, "\n", " "))
			}
			if b.Accessory != nil && b.Accessory.Type == "button" {
				lines = append(lines, "["+b.Accessory.label()+"]")
			}
		case "context":
			for _, e := range b.Elements {
				lines = append(lines, strings.Split(e.label(), "\n")...)
			}
		case "actions":
			var buttons []string
			for _, e := range b.Elements {
				buttons = append(buttons, "["+e.label()+"]")
			}
			lines = append(lines, strings.Join(buttons, " "))
		case "divider":
			lines = append(lines, "────────")
		}
	}
	return lines
}
