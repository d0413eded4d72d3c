package slackfake

import "testing"

// FuzzParseFileRefs: the files argument of files.completeUploadExternal
// is refused or read whole; an accepted one names a file in every entry.
func FuzzParseFileRefs(f *testing.F) {
	for _, s := range []string{`[{"id":"F1","title":"chart"}]`, `[{"id":"F1"},{"id":"F2"}]`, `[]`, `[{"title":"x"}]`, `{"id":"F1"}`, `null`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		refs, aerr := parseFileRefs(s)
		if aerr != nil {
			if aerr.code != "invalid_arguments" || refs != nil {
				t.Errorf("refused %q with %q and %v", s, aerr.code, refs)
			}
			return
		}
		if len(refs) == 0 {
			t.Errorf("accepted %q with no file", s)
		}
		for _, r := range refs {
			if r.ID == "" {
				t.Errorf("accepted %q with a file without id", s)
			}
		}
	})
}
