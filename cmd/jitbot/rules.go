package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jitbot/jitbot/internal/rules"
)

const rulesUsage = `usage: jitbot rules check [FILE]
       jitbot rules test FILE
`

func rulesCmd(args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "check" && len(args) <= 2:
		return rulesCheck(args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "test":
		if len(args) != 2 {
			fmt.Fprint(stderr, "usage: jitbot rules test FILE\n")
			return exitError{2}
		}
		return rulesTest(args[1], stdout, stderr)
	}
	fmt.Fprint(stderr, rulesUsage)
	return exitError{2}
}

// defaultCatalog is the catalog used when none is named: the one serve
// would load.
func defaultCatalog() string {
	return cmp.Or(os.Getenv("JIT_RULES"), "rules/roles.yaml")
}

func rulesCheck(args []string, stdout, stderr io.Writer) error {
	path := defaultCatalog()
	if len(args) == 1 {
		path = args[0]
	}
	c, err := rules.Load(path)
	if err != nil {
		printLoadError(stderr, err)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "%s: %d roles, no problems (sha256 %s)\n", path, len(c.Roles), c.SHA256)
	return nil
}

// rulesTest runs the cases of a rule test file against its catalog. It
// exits 1 when a case fails and 2 when the test file or the catalog does
// not load: a file that cannot run is a different fault from a rule that
// decides wrongly, and CI should say which.
func rulesTest(path string, stdout, stderr io.Writer) error {
	f, err := rules.LoadTests(path)
	if err != nil {
		printLoadError(stderr, err)
		return exitError{2}
	}
	c, err := rules.Load(cmp.Or(f.Catalog, defaultCatalog()))
	if err == nil {
		err = f.Check(c)
	}
	if err != nil {
		printLoadError(stderr, err)
		return exitError{2}
	}
	failed := 0
	for _, r := range f.Run(c) {
		if r.Pass {
			fmt.Fprintf(stdout, "PASS  %s\n", r.Name)
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL  %s: %s\n", r.Name, strings.Join(r.Failures, "; "))
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", len(f.Cases)-failed, failed)
	if failed > 0 {
		return exitError{1}
	}
	return nil
}

// printLoadError prints every problem of a catalog or test file, one
// file:line: message per line, then how many there were.
func printLoadError(w io.Writer, err error) {
	var le *rules.LoadError
	if !errors.As(err, &le) {
		fmt.Fprintln(w, err)
		return
	}
	for _, p := range le.Problems {
		fmt.Fprintln(w, p.String())
	}
	if n := len(le.Problems); n == 1 {
		fmt.Fprintln(w, "1 problem")
	} else {
		fmt.Fprintf(w, "%d problems\n", n)
	}
}
