package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/rules"
)

const (
	rulesCheckUsage = "usage: jitbot rules check [FILE]\n"
	rulesTestUsage  = "usage: jitbot rules test FILE\n"
	rulesUsage      = rulesCheckUsage + "       jitbot rules test FILE\n       jitbot rules suggest ROLE [--since DURATION]\n"
)

// rulesCommand is `jitbot rules check|test|suggest`. A wrong argument count or an
// unknown sub-command prints the usage alone: the usage line says it all.
func rulesCommand() *cobra.Command {
	group := &cobra.Command{
		Use:   "rules",
		Short: "check, test and tighten a role catalog",
		Long:  rulesUsage,
		Args:  argCount(0, 0),
		RunE:  needCommand,
	}
	group.AddCommand(&cobra.Command{
		Use:   "check [FILE]",
		Short: "load and type-check a role catalog (default: $JIT_RULES or rules/roles.yaml)",
		Long:  rulesCheckUsage,
		Args:  argCount(0, 1),
		RunE:  func(c *cobra.Command, args []string) error { return rulesCheck(args, c.OutOrStdout(), c.ErrOrStderr()) },
	}, &cobra.Command{
		Use:   "test FILE",
		Short: "run rule test cases (YAML) against a catalog",
		Long:  rulesTestUsage,
		Args:  argCount(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			return rulesTest(args[0], c.OutOrStdout(), c.ErrOrStderr())
		},
	}, rulesSuggestCommand())
	return group
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
