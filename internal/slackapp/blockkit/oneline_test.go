package blockkit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzOneLine: the fast path of oneLine gives what strings.Fields and
// strings.Join give, for any text, including Unicode spaces and invalid
// UTF-8; and runeCount counts as utf8.RuneCount does.
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"", " ", "a", "a b", " a", "a ", "a  b", "a\tb", "a\nb", "a\u00a0b", "a\u0085b",
		"a\u3000b", "\u2028", "é è", "\xff \xfe", "Read-only access to the production account"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := oneLine(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", s, got, want)
		}
		if got, want := runeCount([]byte(s)), utf8.RuneCountInString(s); got != want {
			t.Errorf("runeCount(%q) = %d, want %d", s, got, want)
		}
	})
}

// TestRolesLineAllocations: writing a role's line allocates nothing once
// the buffers have grown, whatever the line holds, so /jit roles over a
// large catalog costs a few allocations per section, not several per role.
func TestRolesLineAllocations(t *testing.T) {
	r := manyRoles(1)[0]
	r.AutoApprove = "true"
	var b []byte
	allocs := testing.AllocsPerRun(100, func() {
		b = appendRoleLine(b[:0], r)
		_ = runeCount(b)
	})
	// FormatDuration's two strings are all that is left.
	if allocs > 2 {
		t.Errorf("a role's line takes %v allocations, want at most 2", allocs)
	}
}
