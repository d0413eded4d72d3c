// Package docs_test keeps the repository's Markdown standing alone: every
// relative link resolves to a file in the repository, and no page cites the
// design contract that lived outside it. docs/design.md is the project's
// own design document.
package docs_test

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// link matches the target of an inline Markdown link or image,
// [text](target), or of a link reference definition, [label]: target.
var link = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)|^\s{0,3}\[[^\]]+\]:\s*(\S+)`)

// outside are texts that cite the contract kept outside the repository.
var outside = []string{"DESIGN.md", "shared/"}

func TestMarkdownStandsAlone(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found above docs/: %v", err)
	}
	pages := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == ".git" || d.Name() == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".md") {
			pages++
			checkPage(t, root, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 5 {
		t.Fatalf("found %d Markdown files under %s; expected the README, docs/ and the rest", pages, root)
	}
}

func checkPage(t *testing.T, root, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, path)
	for i, line := range strings.Split(string(data), "\n") {
		for _, s := range outside {
			if strings.Contains(line, s) {
				t.Errorf("%s:%d cites %q, which is outside the repository; cite docs/design.md", rel, i+1, s)
			}
		}
		for _, m := range link.FindAllStringSubmatch(line, -1) {
			target := m[1] + m[2]
			if msg := checkLink(root, path, target); msg != "" {
				t.Errorf("%s:%d: link %s %s", rel, i+1, target, msg)
			}
		}
	}
}

// checkLink returns why target, linked from the page at path, is broken,
// or "" when it is fine. Links with a scheme (https:, mailto:) and
// in-page anchors are not checked.
func checkLink(root, path, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "does not parse: " + err.Error()
	}
	if u.Scheme != "" || u.Host != "" || u.Path == "" {
		return ""
	}
	p, err := url.PathUnescape(u.Path)
	if err != nil {
		return "does not parse: " + err.Error()
	}
	var abs string
	if strings.HasPrefix(p, "/") {
		abs = filepath.Join(root, p)
	} else {
		abs = filepath.Join(filepath.Dir(path), p)
	}
	if r, err := filepath.Rel(root, abs); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "points outside the repository"
	}
	if _, err := os.Stat(abs); err != nil {
		return "points to a file that does not exist"
	}
	return ""
}
