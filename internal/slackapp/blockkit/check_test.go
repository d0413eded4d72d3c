package blockkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// A surface is anything jitbot sends: message blocks, a modal or the App
// Home. checkSurface marshals it as slack-go will and checks Slack's
// limits and jitbot's own rules on the JSON, so the checks hold whatever
// builder made the blocks.
func checkSurface(t testing.TB, name string, v any) {
	t.Helper()
	for _, problem := range surfaceProblems(v) {
		t.Errorf("%s: %s", name, problem)
	}
}

func surfaceProblems(v any) []string {
	raw, err := json.Marshal(v)
	if err != nil {
		return []string{"marshal: " + err.Error()}
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return []string{"unmarshal: " + err.Error()}
	}
	c := &surfaceChecker{}
	switch d := doc.(type) {
	case []any: // message blocks
		c.blocks("/blocks", d, MaxMessageBlocks)
	case map[string]any: // a view
		c.view(d)
	default:
		c.failf("/", "unexpected JSON %T", doc)
	}
	return c.problems
}

type surfaceChecker struct{ problems []string }

func (c *surfaceChecker) failf(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func (c *surfaceChecker) view(v map[string]any) {
	switch v["type"] {
	case "modal":
		c.text("/title", v["title"], MaxTitleText, true)
		c.text("/submit", v["submit"], MaxTitleText, true)
		c.text("/close", v["close"], MaxTitleText, true)
		if v["callback_id"] == "" || v["callback_id"] == nil {
			c.failf("/callback_id", "missing")
		}
	case "home":
	default:
		c.failf("/type", "unknown view type %v", v["type"])
	}
	if s, _ := v["private_metadata"].(string); utf8.RuneCountInString(s) > MaxMetadata {
		c.failf("/private_metadata", "longer than %d", MaxMetadata)
	}
	bs, _ := v["blocks"].([]any)
	c.blocks("/blocks", bs, MaxViewBlocks)
}

func (c *surfaceChecker) blocks(path string, bs []any, max int) {
	if len(bs) == 0 {
		c.failf(path, "no blocks")
	}
	if len(bs) > max {
		c.failf(path, "%d blocks, more than %d", len(bs), max)
	}
	ids := map[string]bool{}
	for i, b := range bs {
		p := fmt.Sprintf("%s/%d", path, i)
		m := b.(map[string]any)
		if id, ok := m["block_id"].(string); ok {
			if ids[id] {
				c.failf(p, "duplicate block_id %q", id)
			}
			ids[id] = true
		}
		c.block(p, m)
	}
}

func (c *surfaceChecker) block(p string, m map[string]any) {
	switch m["type"] {
	case "section":
		if m["text"] != nil {
			c.text(p+"/text", m["text"], MaxSectionText, false)
		}
		fs, _ := m["fields"].([]any)
		if m["text"] == nil && len(fs) == 0 {
			c.failf(p, "section without text or fields")
		}
		if len(fs) > MaxFields {
			c.failf(p+"/fields", "%d fields", len(fs))
		}
		for i, f := range fs {
			c.text(fmt.Sprintf("%s/fields/%d", p, i), f, MaxFieldText, false)
		}
		if a, ok := m["accessory"].(map[string]any); ok {
			c.element(p+"/accessory", a)
		}
	case "header":
		c.text(p+"/text", m["text"], MaxPlainText, true)
	case "context":
		els, _ := m["elements"].([]any)
		if len(els) == 0 || len(els) > 10 {
			c.failf(p, "context with %d elements", len(els))
		}
		for i, e := range els {
			c.text(fmt.Sprintf("%s/elements/%d", p, i), e, MaxSectionText, false)
		}
	case "actions":
		els, _ := m["elements"].([]any)
		if len(els) == 0 || len(els) > maxActions {
			c.failf(p, "actions with %d elements", len(els))
		}
		for i, e := range els {
			c.element(fmt.Sprintf("%s/elements/%d", p, i), e.(map[string]any))
		}
	case "input":
		c.text(p+"/label", m["label"], 2000, true)
		if m["hint"] != nil {
			c.text(p+"/hint", m["hint"], 2000, true)
		}
		el := m["element"].(map[string]any)
		if el["action_id"] != m["block_id"] {
			c.failf(p, "block_id %v differs from action_id %v", m["block_id"], el["action_id"])
		}
		c.element(p+"/element", el)
	case "divider":
	default:
		c.failf(p, "unexpected block type %v", m["type"])
	}
}

func (c *surfaceChecker) element(p string, m map[string]any) {
	if m["placeholder"] != nil {
		c.text(p+"/placeholder", m["placeholder"], MaxPlainText, true)
	}
	switch m["type"] {
	case "button":
		c.text(p+"/text", m["text"], MaxButtonText, true)
		if v, ok := m["value"].(string); ok && (v == "" || utf8.RuneCountInString(v) > MaxButtonValue) {
			c.failf(p+"/value", "button value %q", v)
		}
		if s, ok := m["style"]; ok && s != "primary" && s != "danger" {
			c.failf(p+"/style", "style %v", s)
		}
		if cf, ok := m["confirm"].(map[string]any); ok {
			c.text(p+"/confirm/title", cf["title"], 100, true)
			c.text(p+"/confirm/text", cf["text"], 300, true)
			c.text(p+"/confirm/confirm", cf["confirm"], 30, true)
			c.text(p+"/confirm/deny", cf["deny"], 30, true)
		}
	case "static_select":
		opts, _ := m["options"].([]any)
		groups, _ := m["option_groups"].([]any)
		if len(opts) > MaxOptions || len(groups) > MaxOptions || len(opts) > 0 && len(groups) > 0 {
			c.failf(p, "%d options, %d option groups", len(opts), len(groups))
		}
		for i, o := range opts {
			c.option(fmt.Sprintf("%s/options/%d", p, i), o.(map[string]any))
		}
		for i, g := range groups {
			gm := g.(map[string]any)
			gp := fmt.Sprintf("%s/option_groups/%d", p, i)
			c.text(gp+"/label", gm["label"], MaxOptionText, true)
			os, _ := gm["options"].([]any)
			if len(os) == 0 || len(os) > MaxOptions {
				c.failf(gp, "%d options", len(os))
			}
			for k, o := range os {
				c.option(fmt.Sprintf("%s/options/%d", gp, k), o.(map[string]any))
			}
		}
		if io, ok := m["initial_option"].(map[string]any); ok {
			c.option(p+"/initial_option", io)
		}
	case "plain_text_input", "datetimepicker":
	case "users_select":
		if ph, ok := m["placeholder"]; ok {
			c.text(p+"/placeholder", ph, MaxPlainText, true)
		}
	default:
		c.failf(p, "unexpected element type %v", m["type"])
	}
}

func (c *surfaceChecker) option(p string, m map[string]any) {
	c.text(p+"/text", m["text"], MaxOptionText, true)
	if m["description"] != nil {
		c.text(p+"/description", m["description"], MaxOptionText, true)
	}
	if v, _ := m["value"].(string); v == "" || utf8.RuneCountInString(v) > MaxOptionValue {
		c.failf(p+"/value", "option value %q", v)
	}
}

func (c *surfaceChecker) text(p string, v any, max int, plainOnly bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.failf(p, "not a text object")
		return
	}
	s, _ := m["text"].(string)
	switch {
	case s == "":
		c.failf(p, "empty text")
	case utf8.RuneCountInString(s) > max:
		c.failf(p, "%d characters, more than %d", utf8.RuneCountInString(s), max)
	}
	switch m["type"] {
	case "plain_text":
	case "mrkdwn":
		if plainOnly {
			c.failf(p, "must be plain_text")
		}
		for _, problem := range mrkdwnProblems(s) {
			c.failf(p, "%s in %q", problem, s)
		}
	default:
		c.failf(p, "text type %v", m["type"])
	}
}

// The only control sequences jitbot itself writes: user mentions and
// dates. Anything else in angle brackets came from user text unescaped.
var (
	ownSequence = regexp.MustCompile(`<@[UW][A-Z0-9]{2,20}>|<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9T:Z-]+>`)
	quoteMarker = regexp.MustCompile(`(?m)^>`)
	entity      = regexp.MustCompile(`&(amp|lt|gt);`)
)

// mrkdwnProblems finds raw < or > outside jitbot's own sequences and quote
// markers, and & that does not start one of the three entities.
func mrkdwnProblems(s string) []string {
	var out []string
	rest := quoteMarker.ReplaceAllString(ownSequence.ReplaceAllString(s, ""), "")
	if strings.ContainsAny(rest, "<>") {
		out = append(out, "raw < or >")
	}
	if strings.Contains(entity.ReplaceAllString(s, ""), "&") {
		out = append(out, "& that is not an entity")
	}
	return out
}

// allText is the rendering as JSON without HTML escaping, for searching.
func allText(t testing.TB, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return htmlUnescaper.Replace(b.String())
}
