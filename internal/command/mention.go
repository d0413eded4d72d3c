package command

import "strings"

// forFlag checks and records a --for: the person a request is for, as a
// Slack mention. value is as Slack sent it, not unescaped. Slack sends a
// person picked from its autocomplete as <@U024BE7LH> or
// <@U024BE7LH|alice>, brackets raw, while it sends brackets the user typed
// as &lt; and &gt;. So only a raw mention names a person, and text typed
// to look like one (&lt;@U024BE7LH&gt;) cannot stand in for it.
//
// Slack sends mentions so only when the command has "Escape channels,
// users, and links" on (should_escape: true in the app manifest); with it
// off, as deploy/slack-app-manifest*.yaml have it, @alice comes as plain
// text, which names nobody for sure.
func (c *Command) forFlag(value string) *Error {
	u := Usage(Request)
	if id, ok := userMention(value); ok {
		c.For = id
		return nil
	}
	typed := quote(decode(value))
	switch {
	case value == "":
		return errorf(u, "--for needs a person, as in --for @alice, picked from Slack's autocomplete")
	case strings.HasPrefix(value, "<@"):
		return errorf(u, "--for %s is not a mention of one person; pick the person from Slack's autocomplete", typed)
	case strings.HasPrefix(value, "<"):
		return errorf(u, "--for takes one person, not a channel, a user group, @here or a link; pick the person from Slack's autocomplete")
	}
	return errorf(u, "--for %s is plain text, not a Slack mention: type @ and pick the person from Slack's autocomplete so the name becomes a link. "+
		"That needs \"Escape channels, users, and links\" on for /jit (should_escape: true in the Slack app manifest); if it is off, ask your Slack admin", typed)
}

// userMention returns the user ID of a Slack mention of a person,
// <@U024BE7LH> or <@U024BE7LH|alice>. The name after | is Slack's and may
// be stale; the ID is what counts.
func userMention(s string) (string, bool) {
	s, ok := strings.CutPrefix(s, "<@")
	if !ok {
		return "", false
	}
	s, ok = strings.CutSuffix(s, ">")
	if !ok || strings.ContainsAny(s, "<>") {
		return "", false
	}
	id, _, _ := strings.Cut(s, "|")
	return id, validUserID(id)
}

// validUserID reports whether s matches ^[UW][A-Z0-9]{2,20}$, the form of
// Slack user IDs that blockkit.Mention renders as a mention.
func validUserID(s string) bool {
	if len(s) < 3 || len(s) > 21 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
