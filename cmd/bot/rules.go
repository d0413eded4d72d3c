package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jitbot/jitbot/internal/rules"
)

func rulesCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		fmt.Fprint(stderr, "usage: jitbot rules check [FILE]\n")
		return exitError{2}
	}
	path := cmp.Or(os.Getenv("JIT_RULES"), "rules/roles.yaml")
	if len(args) == 2 {
		path = args[1]
	}
	c, err := rules.Load(path)
	if err != nil {
		printLoadError(stderr, err)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "%s: %d roles, no problems (sha256 %s)\n", path, len(c.Roles), c.SHA256)
	return nil
}

// printLoadError prints every problem of a catalog, one file:line: message
// per line, then how many there were.
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
