package slackfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits from Slack's reference: chat.postMessage (text), Block Kit blocks,
// elements and composition objects, and views (docs.slack.dev/reference).
// Slack rejects a message or view that breaks one with invalid_blocks or
// invalid_arguments, naming the field by JSON pointer.
const (
	maxMessageText     = 40000
	maxMessageBlocks   = 50
	maxViewBlocks      = 100
	maxBlockID         = 255
	maxActionID        = 255
	maxSectionText     = 3000
	maxSectionFields   = 10
	maxFieldText       = 2000
	maxHeaderText      = 150
	maxContextElements = 10
	maxActionsElements = 25
	maxInputLabel      = 2000
	maxButtonText      = 75
	maxButtonValue     = 2000
	maxOptions         = 100
	maxOptionText      = 75
	maxOptionValue     = 150
	maxTextInput       = 3000
	maxViewTitle       = 24
	maxPrivateMetadata = 3000
	maxCallbackID      = 255
	maxExternalID      = 255
	maxViewSize        = 250 << 10 // "view_too_large" above 250 kB
	maxAckSize         = 20 << 10  // Socket Mode drops responses of 20 kB or more
)

// checker collects what is wrong with a Block Kit surface, in the words
// and with the JSON pointers Slack uses.
type checker struct {
	errs []string
}

func (c *checker) fail(ptr, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...)+" [json-pointer:"+ptr+"]")
}

// tooLong reports whether s has more than max characters.
func tooLong(s string, max int) bool { return utf8.RuneCountInString(s) > max }

// blocks checks a blocks array at ptr holding at most max blocks.
func (c *checker) blocks(ptr string, v any, max int) {
	list, ok := v.([]any)
	if !ok {
		c.fail(ptr, "must be an array")
		return
	}
	if len(list) > max {
		c.fail(ptr, "no more than %d items allowed", max)
	}
	seen := map[string]bool{}
	for i, b := range list {
		p := fmt.Sprintf("%s/%d", ptr, i)
		m, ok := b.(map[string]any)
		if !ok {
			c.fail(p, "must be an object")
			continue
		}
		if id, ok := m["block_id"]; ok {
			s, isStr := id.(string)
			switch {
			case !isStr || s == "":
				c.fail(p+"/block_id", "must be a non-empty string")
			case tooLong(s, maxBlockID):
				c.fail(p+"/block_id", "must be less than %d characters", maxBlockID+1)
			case seen[s]:
				c.fail(p+"/block_id", "duplicate block_id %q", s)
			}
			seen[s] = true
		}
		c.block(p, m)
	}
}

func (c *checker) block(p string, m map[string]any) {
	switch typ := str(m["type"]); typ {
	case "section":
		text, hasText := m["text"]
		fields, hasFields := m["fields"]
		if !hasText && !hasFields {
			c.fail(p, "must provide either text or fields")
		}
		if hasText {
			c.text(p+"/text", text, false, maxSectionText)
		}
		if hasFields {
			list, ok := fields.([]any)
			switch {
			case !ok:
				c.fail(p+"/fields", "must be an array")
			case len(list) > maxSectionFields:
				c.fail(p+"/fields", "no more than %d items allowed", maxSectionFields)
			default:
				for i, f := range list {
					c.text(fmt.Sprintf("%s/fields/%d", p, i), f, false, maxFieldText)
				}
			}
		}
		if acc, ok := m["accessory"]; ok {
			c.element(p+"/accessory", acc)
		}
	case "header":
		c.text(p+"/text", m["text"], true, maxHeaderText)
	case "divider", "image", "rich_text", "markdown", "video", "file", "table":
		// Not used by jitbot; accepted as they are.
	case "context":
		list, ok := m["elements"].([]any)
		if !ok || len(list) == 0 || len(list) > maxContextElements {
			c.fail(p+"/elements", "must have 1 to %d items", maxContextElements)
			return
		}
		for i, e := range list {
			ep := fmt.Sprintf("%s/elements/%d", p, i)
			if em, ok := e.(map[string]any); ok && em["type"] == "image" {
				continue
			}
			c.text(ep, e, false, maxSectionText)
		}
	case "actions":
		list, ok := m["elements"].([]any)
		if !ok || len(list) == 0 || len(list) > maxActionsElements {
			c.fail(p+"/elements", "must have 1 to %d items", maxActionsElements)
			return
		}
		for i, e := range list {
			c.element(fmt.Sprintf("%s/elements/%d", p, i), e)
		}
	case "input":
		c.text(p+"/label", m["label"], true, maxInputLabel)
		if h, ok := m["hint"]; ok {
			c.text(p+"/hint", h, true, maxInputLabel)
		}
		if e, ok := m["element"]; ok {
			c.element(p+"/element", e)
		} else {
			c.fail(p+"/element", "is required")
		}
	case "":
		c.fail(p+"/type", "is required")
	default:
		c.fail(p+"/type", "unsupported type %q", typ)
	}
}

// text checks a text composition object.
func (c *checker) text(p string, v any, plainOnly bool, max int) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(p, "must be a text object")
		return
	}
	switch typ := str(m["type"]); {
	case typ == "plain_text":
	case typ == "mrkdwn" && !plainOnly:
	case typ == "mrkdwn":
		c.fail(p+"/type", "must be plain_text")
	default:
		c.fail(p+"/type", "must be plain_text or mrkdwn")
	}
	s, ok := m["text"].(string)
	switch {
	case !ok || s == "":
		c.fail(p+"/text", "must be more than 0 characters")
	case tooLong(s, max):
		c.fail(p+"/text", "must be less than %d characters", max+1)
	}
}

// element checks an interactive element.
func (c *checker) element(p string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(p, "must be an object")
		return
	}
	if id, ok := m["action_id"]; ok {
		s, isStr := id.(string)
		if !isStr || s == "" || tooLong(s, maxActionID) {
			c.fail(p+"/action_id", "must be 1 to %d characters", maxActionID)
		}
	}
	switch str(m["type"]) {
	case "button":
		c.text(p+"/text", m["text"], true, maxButtonText)
		if v, ok := m["value"]; ok {
			if s, isStr := v.(string); !isStr || tooLong(s, maxButtonValue) {
				c.fail(p+"/value", "must be a string of at most %d characters", maxButtonValue)
			}
		}
		if st, ok := m["style"]; ok && st != "primary" && st != "danger" {
			c.fail(p+"/style", "must be primary or danger")
		}
	case "static_select":
		opts, hasOpts := m["options"].([]any)
		_, hasGroups := m["option_groups"]
		switch {
		case hasOpts && len(opts) > maxOptions:
			c.fail(p+"/options", "no more than %d items allowed", maxOptions)
		case hasOpts:
			for i, o := range opts {
				c.option(fmt.Sprintf("%s/options/%d", p, i), o)
			}
		case !hasGroups:
			c.fail(p, "must provide either options or option_groups")
		}
	case "plain_text_input":
		if n, ok := m["max_length"].(float64); ok && (n < 1 || n > maxTextInput) {
			c.fail(p+"/max_length", "must be between 1 and %d", maxTextInput)
		}
	case "":
		c.fail(p+"/type", "is required")
	}
}

func (c *checker) option(p string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(p, "must be an object")
		return
	}
	c.text(p+"/text", m["text"], false, maxOptionText)
	if s, ok := m["value"].(string); !ok || s == "" || tooLong(s, maxOptionValue) {
		c.fail(p+"/value", "must be 1 to %d characters", maxOptionValue)
	}
}

// readable returns JSON with the escapes \u003c, \u003e and \u0026 that
// Go's encoder writes for <, > and & turned back into the characters, and
// every other byte as it was. The JSON means the same, and a test can search
// it for the text Slack would show ("&lt;!channel&gt;").
func readable(raw []byte) json.RawMessage {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			out = append(out, raw[i])
			continue
		}
		// A backslash only occurs in a string, and starts a two-byte
		// escape or a six-byte \uXXXX; copy escapes whole so that an
		// escaped backslash followed by "u003c" stays as it is.
		if raw[i+1] == 'u' && i+6 <= len(raw) {
			switch strings.ToLower(string(raw[i+2 : i+6])) {
			case "003c":
				out = append(out, '<')
				i += 5
				continue
			case "003e":
				out = append(out, '>')
				i += 5
				continue
			case "0026":
				out = append(out, '&')
				i += 5
				continue
			}
		}
		out = append(out, raw[i], raw[i+1])
		i++
	}
	return out
}

// marshalReadable is json.Marshal without the HTML escapes (see readable).
func marshalReadable(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// checkMessageBlocks validates the blocks parameter of a message. It
// returns the Slack error code and messages, or "" when they are valid.
func checkMessageBlocks(raw string) (json.RawMessage, *apiError) {
	if raw == "" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, &apiError{code: "invalid_blocks_format", messages: []string{"[ERROR] blocks is not valid JSON: " + err.Error()}}
	}
	if v == nil {
		return nil, nil
	}
	var c checker
	c.blocks("/blocks", v, maxMessageBlocks)
	if len(c.errs) > 0 {
		return nil, &apiError{code: "invalid_blocks", errors: c.errs, messages: prefixed(c.errs)}
	}
	return readable([]byte(raw)), nil
}

// checkView validates a view object for a surface ("modal" or "home") and
// returns it decoded.
func checkView(raw, surface string) (map[string]any, *apiError) {
	if raw == "" {
		return nil, &apiError{code: "invalid_arguments", messages: []string{"[ERROR] missing required field: view"}}
	}
	if len(raw) > maxViewSize {
		return nil, &apiError{code: "view_too_large"}
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(raw), &obj); err != nil || obj == nil {
		return nil, &apiError{code: "invalid_arguments", messages: []string{"[ERROR] view is not a JSON object [json-pointer:/view]"}}
	}
	var c checker
	if typ := str(obj["type"]); typ != surface {
		c.fail("/view/type", "must be %q here, not %q", surface, typ)
	}
	if surface == "modal" {
		c.text("/view/title", obj["title"], true, maxViewTitle)
		if v, ok := obj["submit"]; ok && v != nil {
			c.text("/view/submit", v, true, maxViewTitle)
		} else if hasInput(obj["blocks"]) {
			c.fail("/view/submit", "is required when the view has input blocks")
		}
		if v, ok := obj["close"]; ok && v != nil {
			c.text("/view/close", v, true, maxViewTitle)
		}
	}
	for _, f := range []struct {
		key string
		max int
	}{{"private_metadata", maxPrivateMetadata}, {"callback_id", maxCallbackID}, {"external_id", maxExternalID}} {
		if v, ok := obj[f.key]; ok {
			if s, isStr := v.(string); !isStr || tooLong(s, f.max) {
				c.fail("/view/"+f.key, "must be a string of less than %d characters", f.max+1)
			}
		}
	}
	if b, ok := obj["blocks"]; ok {
		c.blocks("/view/blocks", b, maxViewBlocks)
	} else {
		c.fail("/view/blocks", "is required")
	}
	if len(c.errs) > 0 {
		return nil, &apiError{code: "invalid_arguments", messages: prefixed(c.errs)}
	}
	return obj, nil
}

func hasInput(blocks any) bool {
	list, _ := blocks.([]any)
	for _, b := range list {
		if m, ok := b.(map[string]any); ok && m["type"] == "input" {
			return true
		}
	}
	return false
}

func prefixed(errs []string) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = "[ERROR] " + e
	}
	return out
}

// findElement finds the interactive element with actionID in a blocks
// array (actions elements, section accessories and input elements), and
// returns it with the block_id Slack reports for it. When value is not
// empty, a button must carry that value too. Slack names blocks that have
// no block_id itself; the fake names them by position.
func findElement(blocks json.RawMessage, actionID, value string) (blockID string, elem map[string]any) {
	var list []map[string]any
	if json.Unmarshal(blocks, &list) != nil {
		return "", nil
	}
	for i, b := range list {
		id := str(b["block_id"])
		if id == "" {
			id = fmt.Sprintf("slackfake-block-%d", i)
		}
		var elems []any
		if es, ok := b["elements"].([]any); ok && b["type"] == "actions" {
			elems = es
		}
		for _, k := range []string{"accessory", "element"} {
			if e, ok := b[k]; ok {
				elems = append(elems, e)
			}
		}
		for _, e := range elems {
			em, ok := e.(map[string]any)
			if !ok || str(em["action_id"]) != actionID {
				continue
			}
			if value != "" && em["type"] == "button" && str(em["value"]) != value {
				continue
			}
			return id, em
		}
	}
	return "", nil
}
