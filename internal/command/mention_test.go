package command_test

import (
	"strings"
	"testing"
)

// TestParseFor: --for takes a person only as the mention Slack makes of
// one picked from its autocomplete, never as text that looks like one.
func TestParseFor(t *testing.T) {
	const plainText = "is plain text, not a Slack mention: type @ and pick the person from Slack's autocomplete so the name becomes a link. " +
		`That needs "Escape channels, users, and links" on for /jit (should_escape: true in the Slack app manifest)`
	tests := []struct {
		name, in   string // in: the text after "request prod-admin 1h ", as Slack sends it
		want       string // For
		wantReason string // "" for "fixing replica lag"
		wantErr    string // part of the message; "" for no error
	}{
		{name: "mention", in: "--for <@U024BE7LH> fixing replica lag", want: "U024BE7LH"},
		{name: "mention with name", in: "--for <@U024BE7LH|alice> fixing replica lag", want: "U024BE7LH"},
		{name: "enterprise user", in: "--for <@W0123ABCD|alice.b> fixing replica lag", want: "W0123ABCD"},
		{name: "name with entities", in: "--for <@U024BE7LH|a&amp;b> fixing replica lag", want: "U024BE7LH"},
		{name: "with =", in: "--for=<@U024BE7LH|alice> fixing replica lag", want: "U024BE7LH"},
		{name: "em dash", in: "—for <@U024BE7LH> fixing replica lag", want: "U024BE7LH"},
		{name: "upper case flag", in: "--FOR <@U024BE7LH> fixing replica lag", want: "U024BE7LH"},
		{name: "ID of 21 characters", in: "--for <@U" + strings.Repeat("A", 20) + "> fixing replica lag", want: "U" + strings.Repeat("A", 20)},
		{name: "mention in the reason is text", in: "<@U024BE7LH> asked me to check the lag", wantReason: "<@U024BE7LH> asked me to check the lag"},
		{name: "escaped mention in the reason is text", in: "&lt;@U024BE7LH&gt; asked me to check the lag", wantReason: "<@U024BE7LH> asked me to check the lag"},
		{
			name: "escaped mention after --for is reason",
			in:   "--for <@U024BE7LH> &lt;@W0123ABCD&gt; asked me to check the lag", want: "U024BE7LH",
			wantReason: "<@W0123ABCD> asked me to check the lag",
		},

		{name: "plain @name", in: "--for @alice fixing replica lag", wantErr: `--for "@alice" ` + plainText},
		{name: "a name without @", in: "--for alice fixing replica lag", wantErr: `--for "alice" ` + plainText},
		{name: "typed like a mention", in: "--for &lt;@U024BE7LH&gt; fixing replica lag", wantErr: `--for "<@U024BE7LH>" ` + plainText},
		{name: "typed like a mention with name", in: "--for &lt;@U024BE7LH|alice&gt; fixing replica lag", wantErr: plainText},
		{name: "typed half like a mention", in: "--for <@U024BE7LH&gt; fixing replica lag", wantErr: `--for "<@U024BE7LH>" is not a mention of one person`},
		{name: "lower-case ID", in: "--for <@u024be7lh> fixing replica lag", wantErr: "is not a mention of one person; pick the person from Slack's autocomplete"},
		{name: "ID too short", in: "--for <@U1> fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "ID too long", in: "--for <@U" + strings.Repeat("A", 21) + "> fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "not a user ID", in: "--for <@B024BE7LH> fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "unclosed", in: "--for <@U024BE7LH|alice fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "trailing comma", in: "--for <@U024BE7LH>, fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "bracket in the name", in: "--for <@U024BE7LH|a>b> fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "two mentions in one word", in: "--for <@U024BE7LH><@W0123ABCD> fixing replica lag", wantErr: "is not a mention of one person"},
		{name: "channel", in: "--for <#C024BE7LR|general> fixing replica lag", wantErr: "--for takes one person, not a channel, a user group, @here or a link"},
		{name: "user group", in: "--for <!subteam^S0123ABC|@sre> fixing replica lag", wantErr: "--for takes one person"},
		{name: "@here", in: "--for <!here> fixing replica lag", wantErr: "--for takes one person"},
		{name: "link", in: "--for <https://evil.example|alice> fixing replica lag", wantErr: "--for takes one person"},
		{name: "empty after =", in: "--for= fixing replica lag", wantErr: "--for needs a person, as in --for @alice"},
		{name: "followed by a flag", in: "--for --start 22:00 fixing replica lag", wantErr: "--for needs a person"},
		{name: "twice", in: "--for <@U024BE7LH> --for <@W0123ABCD> fixing replica lag", wantErr: "--for is given twice; give it once"},
		{name: "twice, the same person", in: "--for=<@U024BE7LH> —for <@U024BE7LH> fixing replica lag", wantErr: "--for is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "request prod-admin 1h " + tt.in
			c, ok := parseAs(t, in, tt.wantErr)
			if !ok {
				return
			}
			reason := tt.wantReason
			if reason == "" {
				reason = "fixing replica lag"
			}
			if c.For != tt.want || c.Reason != reason {
				t.Errorf("Parse(%q): For %q, Reason %q; want %q, %q", in, c.For, c.Reason, tt.want, reason)
			}
		})
	}
}
