package blockkit

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "fixing replica lag", want: "fixing replica lag"},
		{name: "empty", in: "", want: ""},
		{name: "ampersand", in: "R&D", want: "R&amp;D"},
		{name: "channel", in: "<!channel> look", want: "&lt;!channel&gt; look"},
		{name: "here and everyone", in: "<!here|here> <!everyone>", want: "&lt;!here|here&gt; &lt;!everyone&gt;"},
		{name: "user mention", in: "cc <@U0EVIL>", want: "cc &lt;@U0EVIL&gt;"},
		{name: "link", in: "<https://evil.example|docs>", want: "&lt;https://evil.example|docs&gt;"},
		{name: "already escaped text is escaped again", in: "&lt;", want: "&amp;lt;"},
		{name: "quote marker", in: "> not a quote", want: "&gt; not a quote"},
		{name: "unicode", in: "naïve → ok <b>", want: "naïve → ok &lt;b&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMention(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "user", in: "U0ALICE1", want: "<@U0ALICE1>"},
		{name: "enterprise user", in: "W012AB3CD", want: "<@W012AB3CD>"},
		{name: "shortest", in: "U12", want: "<@U12>"},
		{name: "empty", in: "", want: "someone"},
		{name: "blank", in: " \n ", want: "someone"},
		{name: "system word", in: "auto", want: "`auto`"},
		{name: "lowercase", in: "u0alice1", want: "`u0alice1`"},
		{name: "too short", in: "U1", want: "`U1`"},
		{name: "channel id", in: "C0123ABC", want: "`C0123ABC`"},
		{name: "injection", in: "U1><!channel", want: "`U1&gt;&lt;!channel`"},
		{name: "backtick", in: "U`X", want: "`U'X`"},
		{name: "newline", in: "U0\nX", want: "`U0 X`"},
		{name: "too long", in: "U" + strings.Repeat("A", 21), want: "`U" + strings.Repeat("A", 21) + "`"},
		{name: "very long", in: strings.Repeat("x", 100), want: "`" + strings.Repeat("x", 39) + "…`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mention(tt.in); got != tt.want {
				t.Errorf("Mention(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{name: "fits", in: "hello", max: 5, want: "hello"},
		{name: "cut", in: "hello world", max: 6, want: "hello…"},
		{name: "zero", in: "hello", max: 0, want: ""},
		{name: "one", in: "hello", max: 1, want: "…"},
		{name: "runes, not bytes", in: "ééééé", max: 4, want: "ééé…"},
		{name: "not inside an entity", in: "a&amp;b", max: 4, want: "a…"},
		{name: "after a whole entity", in: "a&amp;b", max: 3, want: "a…"},
		{name: "entity kept whole", in: "a&amp;bc", max: 7, want: "a&amp;…"},
		{name: "not inside lt", in: "&lt;&lt;&lt;", max: 10, want: "&lt;&lt;…"},
		{name: "entity boundary", in: "&lt;&lt;&lt;", max: 7, want: "&lt;…"},
		{name: "not inside a mention", in: "hi <@U0ALICE1> there", max: 10, want: "hi …"},
		{name: "mention kept whole", in: "hi <@U0ALICE1> there", max: 16, want: "hi <@U0ALICE1> …"},
		{name: "not inside a date", in: "at " + date(now) + " ok", max: 20, want: "at …"},
		{name: "bare ampersand", in: "a & b & c", max: 4, want: "a &…"},
		{name: "unclosed angle", in: "a<b c d e", max: 4, want: "a<b…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cut(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > max(tt.max, 0) {
				t.Errorf("cut(%q, %d) has %d characters", tt.in, tt.max, n)
			}
		})
	}
}

// A reason full of & and < must be cut at an entity boundary wherever the
// limit falls.
func TestCutEscapedReasonAtEveryLength(t *testing.T) {
	e := Escape(strings.Repeat("&<>x", 100))
	for n := 0; n <= utf8.RuneCountInString(e)+1; n++ {
		got := cut(e, n)
		if utf8.RuneCountInString(got) > n {
			t.Fatalf("cut to %d: %d characters", n, utf8.RuneCountInString(got))
		}
		if p := entityProblem(got); p != "" {
			t.Fatalf("cut to %d: %s in %q", n, p, got)
		}
	}
}

func TestCutPlain(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{name: "fits", in: "Approve", max: 75, want: "Approve"},
		{name: "cut", in: "abcdef", max: 4, want: "abc…"},
		{name: "runes", in: "ééééé", max: 3, want: "éé…"},
		{name: "zero", in: "abc", max: 0, want: ""},
		{name: "plain text is not escaped", in: "a&b<c>", max: 10, want: "a&b<c>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cutPlain(tt.in, tt.max); got != tt.want {
				t.Errorf("cutPlain(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestTimeLeft(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "no time"},
		{0, "no time"},
		{30 * time.Second, "less than a minute"},
		{time.Minute, "1 minute"},
		{4*time.Minute + 58*time.Second, "5 minutes"},
		{59*time.Minute + 40*time.Second, "1h"},
		{90 * time.Minute, "1h30m"},
		{26 * time.Hour, "26h"},
	}
	for _, tt := range tests {
		if got := timeLeft(tt.in); got != tt.want {
			t.Errorf("timeLeft(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	got := quote("line one\n<!channel> two\n", 100)
	want := ">line one\n>&lt;!channel&gt; two"
	if got != want {
		t.Errorf("quote = %q, want %q", got, want)
	}
}

func TestShare(t *testing.T) {
	tests := []struct {
		name  string
		total int
		needs []int
		want  []int
	}{
		{"all fit", 10, []int{2, 3}, []int{2, 3}},
		{"equal split", 10, []int{100, 100}, []int{5, 5}},
		{"small group leaves room", 10, []int{2, 100}, []int{2, 8}},
		{"three groups", 9, []int{100, 1, 100}, []int{4, 1, 4}},
		{"empty group gets nothing", 6, []int{0, 100}, []int{0, 6}},
		{"nothing to share", 0, []int{3}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := share(tt.total, tt.needs)
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("share(%d, %v) = %v, want %v", tt.total, tt.needs, got, tt.want)
				}
			}
		})
	}
}

// entityProblem reports an & that does not start &amp;, &lt; or &gt;, and
// any raw < or >.
func entityProblem(s string) string {
	if strings.ContainsAny(s, "<>") {
		return "raw < or >"
	}
	if strings.Contains(entity.ReplaceAllString(s, ""), "&") {
		return "broken entity"
	}
	return ""
}
