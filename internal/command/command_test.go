package command_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/command"
)

func TestParse(t *testing.T) {
	var (
		reason10  = "abcdefghij"
		reason500 = strings.Repeat("é", 500) // 1,000 bytes, 500 runes
	)
	tests := []struct {
		name    string
		in      string
		want    command.Command
		wantErr string // substring of Error.Msg; empty means no error
	}{
		// Modal and help.
		{name: "bare", in: "", want: command.Command{Kind: command.Modal}},
		{name: "whitespace only", in: " \t\n\u00a0 ", want: command.Command{Kind: command.Modal}},
		{name: "help", in: "help", want: command.Command{Kind: command.Help}},
		{name: "help upper case", in: "HELP", want: command.Command{Kind: command.Help}},
		{name: "-h", in: "-h", want: command.Command{Kind: command.Help}},
		{name: "--help", in: "--help", want: command.Command{Kind: command.Help}},
		{name: "em dash help", in: "—help", want: command.Command{Kind: command.Help}},
		{name: "question mark", in: " ? ", want: command.Command{Kind: command.Help}},
		{name: "help with a topic", in: "help request", want: command.Command{Kind: command.Help}},

		// Request.
		{
			name: "default duration",
			in:   "request prod-readonly investigating INC-42 latency",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Reason: "investigating INC-42 latency"},
		},
		{
			name: "explicit duration",
			in:   "request prod-readonly 1h30m investigating INC-42 latency",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Duration: 90 * time.Minute, Reason: "investigating INC-42 latency"},
		},
		{
			name: "days",
			in:   "request prod-readonly 1d quarterly access review",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Duration: 24 * time.Hour, Reason: "quarterly access review"},
		},
		{
			name: "seconds",
			in:   "request prod-readonly 90s quick look at the queue",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Duration: 90 * time.Second, Reason: "quick look at the queue"},
		},
		{
			name: "failed duration begins the reason",
			in:   "request prod-readonly 2x replicas are lagging",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Reason: "2x replicas are lagging"},
		},
		{
			name: "only the first duration counts",
			in:   "request prod-readonly 1h 2h outage in eu-west-1",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Duration: time.Hour, Reason: "2h outage in eu-west-1"},
		},
		{name: "zero duration", in: "request prod-readonly 0s fixing the replica lag", wantErr: `the duration must be more than zero (got "0s")`},
		{name: "zero days", in: "request prod-readonly 0d fixing the replica lag", wantErr: "the duration must be more than zero"},
		{
			name: "incident",
			in:   "request prod-admin 1h --incident INC-42 fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Incident: "INC-42", Reason: "fixing replica lag"},
		},
		{
			name: "incident with =",
			in:   "request prod-admin 1h --incident=INC-42 fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Incident: "INC-42", Reason: "fixing replica lag"},
		},
		{
			name: "incident before duration",
			in:   "request prod-admin --incident INC-42 1h fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Incident: "INC-42", Reason: "fixing replica lag"},
		},
		{
			name: "incident without duration",
			in:   "request prod-admin --incident https://acme.pagerduty.com/incidents/Q1 fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Incident: "https://acme.pagerduty.com/incidents/Q1", Reason: "fixing replica lag"},
		},
		{
			name: "autocorrected em dash flag",
			in:   "request prod-admin 1h —incident INC-42 fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Incident: "INC-42", Reason: "fixing replica lag"},
		},
		{
			name: "upper-case flag",
			in:   "request prod-admin --INCIDENT INC-42 fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Incident: "INC-42", Reason: "fixing replica lag"},
		},
		{
			name: "--incident later is part of the reason",
			in:   "request prod-admin fixing lag --incident INC-42",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Reason: "fixing lag --incident INC-42"},
		},
		{name: "incident missing at end", in: "request prod-admin 1h --incident", wantErr: "--incident needs a reference, as in --incident INC-42"},
		{name: "incident empty after =", in: "request prod-admin --incident= fixing replica lag", wantErr: "--incident needs a reference"},
		{name: "incident followed by a flag", in: "request prod-admin --incident --incident fixing lag", wantErr: "--incident needs a reference"},
		{name: "start missing at end", in: "request prod-admin 1h --start", wantErr: "--start needs a time, as in --start 22:00, --start +2h or --start 2026-12-24T22:00:00Z"},
		{name: "for missing at end", in: "request prod-admin 1h --for", wantErr: "--for needs a person, as in --for @alice, picked from Slack's autocomplete"},
		{
			name: "every flag",
			in:   "request prod-admin --for <@U024BE7LH|alice> 1h --incident=INC-42 --start 22:00 --account Prod fixing replica lag",
			want: command.Command{
				Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Incident: "INC-42", Account: "prod",
				Start: startOf(t, "22:00"), For: "U024BE7LH", Reason: "fixing replica lag",
			},
		},
		{name: "incident twice", in: "request prod-admin --incident A-1 --incident A-2 fixing lag", wantErr: "--incident is given twice"},
		{name: "incident too long", in: "request prod-admin --incident " + strings.Repeat("x", 101) + " fixing replica lag", wantErr: "the incident reference is 101 characters; the limit is 100"},
		{
			name: "incident of 100 runes",
			in:   "request prod-admin --incident " + strings.Repeat("é", 100) + " fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Incident: strings.Repeat("é", 100), Reason: "fixing replica lag"},
		},
		{name: "incident control character", in: "request prod-admin --incident INC\x00 fixing replica lag", wantErr: "the incident reference contains a control character"},
		{name: "unknown flag", in: "request prod-admin --duration 1h fixing replica lag", wantErr: `unknown flag "--duration"; the flags are --start <RFC 3339 | HH:MM | +DURATION>, --for <@user>, --account <id-or-alias> and --incident <ref>`},
		{name: "no role", in: "request", wantErr: "say which role you need"},
		{name: "no role, only spaces", in: "request   ", wantErr: "say which role you need"},
		{name: "flag instead of role", in: "request --incident INC-1 fixing the lag", wantErr: `say which role you need before "--incident"`},
		{name: "duration instead of role", in: "request 1h prod-admin fixing the lag", wantErr: `"1h" is a duration; the role comes first`},
		{
			name: "role upper case",
			in:   "REQUEST Prod-ReadOnly 2h looking at the slow queries",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Duration: 2 * time.Hour, Reason: "looking at the slow queries"},
		},
		{
			name: "role with _ and .",
			in:   "request db_admin.eu check the failover config",
			want: command.Command{Kind: command.Request, Role: "db_admin.eu", Reason: "check the failover config"},
		},
		{name: "role with mrkdwn", in: "request <!channel> fixing replica lag", wantErr: `"<!channel>" is not a role name: role names use only a-z, 0-9, '-', '_' and '.'`},
		{name: "role with kelvin sign", in: "request \u212Aafka-admin fixing replica lag", wantErr: "is not a role name"},
		{name: "role starting with -", in: "request -admin fixing replica lag", wantErr: "is not a role name"},
		{name: "role too long", in: "request " + strings.Repeat("a", 65) + " fixing replica lag", wantErr: "is too long; role names have at most 64 characters"},
		{
			name: "role of 64 characters",
			in:   "request " + strings.Repeat("a", 64) + " fixing replica lag",
			want: command.Command{Kind: command.Request, Role: strings.Repeat("a", 64), Reason: "fixing replica lag"},
		},

		// Reason.
		{name: "reason missing", in: "request prod-admin 1h", wantErr: "a reason is required: say what you will do with the access"},
		{name: "reason missing after incident", in: "request prod-admin --incident INC-1", wantErr: "a reason is required"},
		{name: "reason too short", in: "request prod-admin 1h fix", wantErr: "the reason needs at least 10 characters (got 3): say what you will do with the access"},
		{name: "reason of 9 runes", in: "request prod-admin 1h " + strings.Repeat("ü", 9), wantErr: "(got 9)"},
		{
			name: "reason of exactly 10",
			in:   "request prod-admin " + reason10,
			want: command.Command{Kind: command.Request, Role: "prod-admin", Reason: reason10},
		},
		{
			name: "reason of exactly 500 multi-byte runes",
			in:   "request prod-admin 1h " + reason500,
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Reason: reason500},
		},
		{name: "reason of 501 runes", in: "request prod-admin 1h " + reason500 + "x", wantErr: "the reason is 501 characters; the limit is 500"},
		{name: "reason of 5000", in: "request prod-admin 1h " + strings.Repeat("x", 5000), wantErr: "the reason is 5000 characters; the limit is 500"},
		{
			name: "reason ends trimmed, inside kept",
			in:   "request prod-admin 1h \u00a0 line one\n\n  line   two\t \n",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Reason: "line one\n\n  line   two"},
		},
		{
			name: "mentions kept verbatim",
			in:   "request prod-admin 1h <!channel> <@U123> <https://evil.example|docs> & co",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Reason: "<!channel> <@U123> <https://evil.example|docs> & co"},
		},
		{
			name: "slack escaping decoded",
			in:   "request prod-admin 1h &lt;!channel&gt; R&amp;D &amp;lt;b&amp;gt;",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Reason: "<!channel> R&D &lt;b&gt;"},
		},
		{
			name: "other entities kept",
			in:   "request prod-admin 1h fix &quot;it&quot; &#60;now",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Reason: "fix &quot;it&quot; &#60;now"},
		},
		{name: "reason with NUL", in: "request prod-admin 1h fixing the\x00 lag", wantErr: "the reason contains the control character U+0000"},
		{name: "reason with escape sequence", in: "request prod-admin 1h fixing \x1b[2Jthe lag", wantErr: "U+001B"},
		{
			name: "no-break spaces separate words",
			in:   "request\u00a0prod-admin\u00a01h\u00a0fixing replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: time.Hour, Reason: "fixing replica lag"},
		},

		// Roles and list.
		{name: "roles", in: "roles", want: command.Command{Kind: command.Roles}},
		{name: "list", in: "  List  ", want: command.Command{Kind: command.List}},
		{name: "list with extra", in: "list foo bar", wantErr: `/jit list takes nothing; remove "foo bar"`},
		{name: "report", in: "report", want: command.Command{Kind: command.Report}},
		{name: "report window", in: "report 7d", want: command.Command{Kind: command.Report, Duration: 7 * 24 * time.Hour}},
		{name: "report bad window", in: "report lately", wantErr: `"lately" is not a duration`},
		{name: "report extra", in: "report 7d please", wantErr: `/jit report takes a duration; remove "please"`},
		{name: "roles with a word", in: "roles prod", want: command.Command{Kind: command.Roles, Filter: "prod"}},
		{name: "roles with words", in: "Roles \u00a0 prod\t DB  ", want: command.Command{Kind: command.Roles, Filter: "prod DB"}},
		{name: "roles with escaped text", in: "roles &lt;b&gt; &amp;", want: command.Command{Kind: command.Roles, Filter: "<b> &"}},
		{name: "roles filter at the limit", in: "roles " + strings.Repeat("é", command.MaxFilter), want: command.Command{Kind: command.Roles, Filter: strings.Repeat("é", command.MaxFilter)}},
		{name: "roles filter too long", in: "roles " + strings.Repeat("é", command.MaxFilter+1), wantErr: "the words to look for are 101 characters long; at most 100"},

		// Revoke.
		{name: "revoke", in: "revoke JIT-7K3QX2", want: command.Command{Kind: command.Revoke, ID: "JIT-7K3QX2"}},
		{name: "revoke lower case", in: "revoke jit-7k3qx2", want: command.Command{Kind: command.Revoke, ID: "JIT-7K3QX2"}},
		{name: "revoke copied in code", in: "revoke `JIT-7K3QX2`.", want: command.Command{Kind: command.Revoke, ID: "JIT-7K3QX2"}},
		{name: "revoke no id", in: "revoke", wantErr: "say which request to revoke, as in /jit revoke JIT-7K3QX2"},
		{name: "revoke id with 0", in: "revoke JIT-7K3QX0", wantErr: `"JIT-7K3QX0" is not a request ID: IDs look like JIT-7K3QX2 and never contain 0, 1, I, L, O or U`},
		{name: "revoke id too short", in: "revoke JIT-7K3QX", wantErr: "is not a request ID"},
		{name: "revoke id without prefix", in: "revoke 7K3QX2", wantErr: "is not a request ID"},
		{name: "revoke id with long s", in: "revoke JIT-7K3QX\u017f", wantErr: "is not a request ID"},
		{name: "revoke extra", in: "revoke JIT-7K3QX2 extra words", wantErr: `/jit revoke takes only the request ID; remove "extra words"`},

		// Extend.
		{name: "extend", in: "extend JIT-7K3QX2 30m", want: command.Command{Kind: command.Extend, ID: "JIT-7K3QX2", Duration: 30 * time.Minute}},
		{name: "extend lower case", in: "Extend jit-7k3qx2 1d", want: command.Command{Kind: command.Extend, ID: "JIT-7K3QX2", Duration: 24 * time.Hour}},
		{name: "extend no id", in: "extend", wantErr: "say which request to extend and by how much"},
		{name: "extend without duration", in: "extend jit-7k3qx2", wantErr: "say how much longer you need, as in /jit extend JIT-7K3QX2 1h"},
		{name: "extend bad id", in: "extend JIT-ILOU01 1h", wantErr: `"JIT-ILOU01" is not a request ID`},
		{name: "extend duration first", in: "extend 1h JIT-7K3QX2", wantErr: `"1h" is not a request ID`},
		{name: "extend bad duration", in: "extend JIT-7K3QX2 2x", wantErr: `"2x" is not a duration: write it as 90s, 15m, 1h30m, 2h or 1d`},
		{name: "extend negative duration", in: "extend JIT-7K3QX2 -1h", wantErr: `"-1h" is not a duration`},
		{name: "extend zero", in: "extend JIT-7K3QX2 0m", wantErr: "the duration must be more than zero"},
		{name: "extend extra", in: "extend JIT-7K3QX2 1h please", wantErr: `/jit extend takes only the request ID and a duration; remove "please"`},

		// Unknown sub-commands.
		{name: "typo", in: "requets prod-admin 1h fixing lag", wantErr: `"requets" is not a /jit sub-command (did you mean request?)`},
		{name: "typo of list", in: "lsit", wantErr: "(did you mean list?)"},
		{name: "typo of extend", in: "EXTNED JIT-7K3QX2 1h", wantErr: "(did you mean extend?)"},
		{name: "alias", in: "cancel JIT-7K3QX2", wantErr: "(did you mean revoke?)"},
		{name: "missing request", in: "prod-admin 1h fixing lag", wantErr: "(did you mean /jit request prod-admin 1h …?)"},
		{name: "nothing close", in: "xyzzy", wantErr: `"xyzzy" is not a /jit sub-command; the sub-commands are help, request, roles, list, revoke, extend and report`},
		{name: "long unknown word is shortened", in: strings.Repeat("z", 1000), wantErr: `"` + strings.Repeat("z", 40) + `"… is not a /jit sub-command`},
		{name: "invalid UTF-8", in: "request prod-admin 1h fixing \xff lag", wantErr: "the command is not valid UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := command.Parse(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse(%q) error: %v", tt.in, err)
				}
				if got != tt.want {
					t.Fatalf("Parse(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
				}
				return
			}
			var pe *command.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %+v, %v; want *Error containing %q", tt.in, got, err, tt.wantErr)
			}
			if !strings.Contains(pe.Msg, tt.wantErr) {
				t.Errorf("Parse(%q) message\n got %q\nwant it to contain %q", tt.in, pe.Msg, tt.wantErr)
			}
			if got != (command.Command{}) {
				t.Errorf("Parse(%q) returned %+v with the error; want the zero Command", tt.in, got)
			}
		})
	}
}

func TestErrorUsage(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "request",
			in:   "request prod-admin 1h fix",
			want: "the reason needs at least 10 characters (got 3): say what you will do with the access\n" +
				"Usage: /jit request <role> [<duration>] [--start <RFC 3339 | HH:MM | +DURATION>] [--for <@user>] [--account <id-or-alias>] [--incident <ref>] <reason…>",
		},
		{
			name: "extend",
			in:   "extend JIT-7K3QX2 2x",
			want: "\"2x\" is not a duration: write it as 90s, 15m, 1h30m, 2h or 1d\nUsage: /jit extend <id> <duration>",
		},
		{
			name: "revoke",
			in:   "revoke",
			want: "say which request to revoke, as in /jit revoke JIT-7K3QX2; /jit list shows yours\nUsage: /jit revoke <id>",
		},
		{
			name: "list",
			in:   "list all",
			want: "/jit list takes nothing; remove \"all\"\nUsage: /jit list",
		},
		{
			name: "unknown",
			in:   "requets",
			want: "\"requets\" is not a /jit sub-command (did you mean request?); the sub-commands are help, request, roles, list, revoke, extend and report\n" +
				"Usage: /jit [help | request | roles | list | revoke | extend | report] …",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := command.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded; want an error", tt.in)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q).Error()\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		kind command.Kind
		want string
	}{
		{command.Modal, "/jit"},
		{command.Help, "/jit help"},
		{command.Request, "/jit request <role> [<duration>] [--start <RFC 3339 | HH:MM | +DURATION>] [--for <@user>] [--account <id-or-alias>] [--incident <ref>] <reason…>"},
		{command.Roles, "/jit roles [<words…>]"},
		{command.List, "/jit list"},
		{command.Revoke, "/jit revoke <id>"},
		{command.Extend, "/jit extend <id> <duration>"},
		{"bogus", "/jit [help | request | roles | list | revoke | extend | report] …"},
	}
	for _, tt := range tests {
		if got := command.Usage(tt.kind); got != tt.want {
			t.Errorf("Usage(%q) = %q, want %q", tt.kind, got, tt.want)
		}
	}
}

// TestExamples keeps /jit help honest: every example must parse, as Slack
// sends it once @alice is picked from the autocomplete.
func TestExamples(t *testing.T) {
	ex := command.Examples()
	if len(ex) < 4 || len(ex) > 8 {
		t.Errorf("Examples() has %d entries, want 4 to 8", len(ex))
	}
	asSent := strings.NewReplacer("@alice", "<@U024BE7LH|alice>")
	for _, e := range ex {
		text, ok := strings.CutPrefix(e, "/jit ")
		if !ok {
			t.Errorf("example %q does not start with /jit", e)
			continue
		}
		if _, err := command.Parse(asSent.Replace(text)); err != nil {
			t.Errorf("example %q does not parse: %v", e, err)
		}
	}
	// Each flag of /jit request has an example, and so has each form of
	// --start but RFC 3339, which the usage line spells out.
	for _, f := range []string{"--start 22:00", "--start +2h", "--for @", "--account", "--incident"} {
		if !slices.ContainsFunc(ex, func(e string) bool { return strings.Contains(e, f) }) {
			t.Errorf("no example has %s", f)
		}
	}
}
