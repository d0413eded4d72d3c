package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// cli runs jitbot with args, in this process or as the built binary.
type cli func(t *testing.T, args ...string) result

// inProcess runs jitbot through run, and maps its error to an exit status
// as main does.
func inProcess(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr)
	code := 0
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 1
		fmt.Fprintln(&stderr, "jitbot:", err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func throughBinary(t *testing.T, args ...string) result {
	t.Helper()
	return runBinary(t, cleanEnv(), args...)
}

var clis = []struct {
	name string
	run  cli
}{
	{name: "in process", run: inProcess},
	{name: "binary", run: throughBinary},
}

// commands is every command a user can name in the tree under c, c
// first; cobra's hidden ones (__complete) are the shell's, not the user's.
func commands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if !sub.Hidden {
			out = append(out, commands(sub)...)
		}
	}
	return out
}

// words are the arguments that name c, without "jitbot".
func words(c *cobra.Command) []string {
	return strings.Fields(c.CommandPath())[1:]
}

func with(path []string, more ...string) []string {
	return append(append([]string{}, path...), more...)
}

// TestCLIEveryCommand holds every command and sub-command of the tree run
// builds, so that a new one is covered without being listed here, to the
// contract of docs/design.md §2.1: -h and --help print its usage on stdout
// and exit 0, and so does jitbot help COMMAND; a flag it does not have, or
// an argument count its Args refuses, prints the usage on stderr and
// exits 2; so does a command that groups others, given none. How many
// arguments a command takes is read from its Use line.
func TestCLIEveryCommand(t *testing.T) {
	for _, cl := range clis {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range commands(rootCommand()) {
				t.Run(c.CommandPath(), func(t *testing.T) { checkCommand(t, cl.run, c) })
			}
		})
	}
}

func checkCommand(t *testing.T, run cli, c *cobra.Command) {
	path := words(c)
	if !strings.HasPrefix(c.Long, "usage: "+c.CommandPath()) {
		t.Fatalf("Long = %q, want the command's usage, starting with %q", c.Long, "usage: "+c.CommandPath())
	}
	if c.Args == nil {
		t.Fatal("no Args: cobra would take any argument without a word")
	}
	for _, args := range [][]string{with(path, "-h"), with(path, "--help"), with(path, "-help"), with([]string{"help"}, path...)} {
		if r := run(t, args...); r.code != 0 || r.stdout != c.Long || r.stderr != "" {
			t.Errorf("jitbot %s: exit %d, stdout %q, stderr %q\nwant exit 0 and the usage on stdout", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	wantUsageError := func(args []string, want string) {
		t.Helper()
		r := run(t, args...)
		if r.code != 2 || r.stdout != "" || !strings.HasSuffix(r.stderr, c.Long) || !strings.Contains(r.stderr, want) {
			t.Errorf("jitbot %s: exit %d, stdout %q, stderr %q\nwant exit 2 and %q, then the usage, on stderr", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
		}
	}
	wantUsageError(with(path, "--no-such-flag"), c.CommandPath()+": flag provided but not defined: -no-such-flag\n")
	wantUsageError(with(path, "--no-such-flag", "--help"), "flag provided but not defined")
	least, most := argRange(c)
	for n := range 4 {
		var junk []string
		for i := range n {
			junk = append(junk, fmt.Sprintf("no-such-word-%d", i))
		}
		wrongCount := n < least || n > most
		refused := c.Args(c, junk) != nil
		if wrongCount && !refused {
			t.Errorf("Args takes %d arguments; Use %q says %d to %d", n, c.Use, least, most)
		}
		// An accepted count would run the command (serve would serve).
		if wrongCount || refused || n == 0 && c.HasSubCommands() {
			wantUsageError(with(path, junk...), "")
		}
	}
}

// argRange reads how many arguments c takes from its Use line, in cobra's
// convention: WORD is required, [WORD] optional, and WORD... repeats.
func argRange(c *cobra.Command) (least, most int) {
	for _, w := range strings.Fields(c.Use)[1:] {
		if !strings.HasPrefix(w, "[") {
			least++
		}
		if strings.HasSuffix(strings.TrimSuffix(w, "]"), "...") {
			most = math.MaxInt
		} else if most < math.MaxInt {
			most++
		}
	}
	return least, most
}

// TestCLIVersion: jitbot version and jitbot --version print the same line.
func TestCLIVersion(t *testing.T) {
	for _, cl := range clis {
		t.Run(cl.name, func(t *testing.T) {
			want := "jitbot " + buildVersion() + " (" + runtime.Version() + ")\n"
			if cl.name == "binary" {
				want = "jitbot v0.0.0-test (" + runtime.Version() + ")\n"
			}
			for _, args := range [][]string{{"version"}, {"--version"}} {
				if r := cl.run(t, args...); r.code != 0 || r.stdout != want || r.stderr != "" {
					t.Errorf("jitbot %s: %+v, want exit 0 and %q", args[0], r, want)
				}
			}
		})
	}
}

// TestCLIUsageErrors: what a user mistypes most, with the message before
// the usage on stderr; cobra prints no "Error:" line of its own.
func TestCLIUsageErrors(t *testing.T) {
	root := rootCommand()
	tests := []struct {
		name string
		args []string
		want string // stderr, before the usage
		cmd  []string
	}{
		{name: "no command", want: ""},
		{name: "unknown command", args: []string{"frobnicate"}, want: "jitbot: unknown command \"frobnicate\"\n"},
		{name: "misspelt command", args: []string{"raport"}, want: "jitbot: unknown command \"raport\"; did you mean report?\n"},
		{name: "unknown audit command", args: []string{"audit", "check"}, want: "jitbot audit: unknown command \"check\"\n", cmd: []string{"audit"}},
		{name: "serve with an argument", args: []string{"serve", "--", "rules/roles.yaml"}, cmd: []string{"serve"},
			want: "jitbot serve takes no arguments; it is configured through the environment\n"},
		{name: "bad format", args: []string{"audit", "export", "--format", "xml"}, cmd: []string{"audit", "export"},
			want: "jitbot audit export: --format must be jsonl or csv, got \"xml\"\n"},
		{name: "flag without its value", args: []string{"report", "--since"}, cmd: []string{"report"},
			want: "jitbot report: flag needs an argument: --since\n"},
		{name: "unknown shell", args: []string{"completion", "tcsh"}, cmd: []string{"completion"},
			want: "jitbot completion: unknown shell \"tcsh\"\n"},
		{name: "help on nothing", args: []string{"help", "audit", "check"}, cmd: []string{"help"},
			want: "jitbot help: unknown command \"audit check\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := root.Find(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			r := inProcess(t, tt.args...)
			if want := tt.want + c.Long; r.code != 2 || r.stdout != "" || r.stderr != want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and stderr:\n%s", r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

// TestCLIRuntimeErrorsPrintNoUsage: a command line that parses but fails
// says why, without the usage.
func TestCLIRuntimeErrorsPrintNoUsage(t *testing.T) {
	missing := t.TempDir() + "/missing.yaml"
	tests := []struct {
		args []string
		file string // named in stderr
	}{
		{args: []string{"rules", "check", missing}, file: missing},
		{args: []string{"rules", "check", "--", "-help"}, file: "-help"}, // after --, -help is a file
		{args: []string{"audit", "verify", "--file", missing}, file: missing},
	}
	for _, tt := range tests {
		r := inProcess(t, tt.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.file) || strings.Contains(r.stderr, "usage:") || strings.Contains(r.stderr, "Error:") {
			t.Errorf("jitbot %s: %+v; want a failure that names %s, without usage", strings.Join(tt.args, " "), r, tt.file)
		}
	}
}

// TestCLICompletion: the completion scripts, and the completions they ask
// jitbot for.
func TestCLICompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_jitbot", "zsh": "#compdef jitbot", "fish": "complete -c jitbot",
		"powershell": "Register-ArgumentCompleter"} {
		if r := inProcess(t, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, want) || r.stderr != "" {
			t.Errorf("jitbot completion %s: exit %d, stderr %q, %q not in stdout", shell, r.code, r.stderr, want)
		}
	}
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"au"}, want: "audit\tread and check the durable audit log\n:4\n"},
		{args: []string{"audit", ""}, want: "export\twrite the durable audit log as jsonl or csv\nverify\trecompute the audit log's hash chain and name the first break\n:4\n"},
		{args: []string{"report", "--format", ""}, want: "text\njson\nhtml\n:4\n"},
		{args: []string{"completion", "f"}, want: "fish\n:4\n"},
		{args: []string{"help", "rules", "t"}, want: "test\trun rule test cases (YAML) against a catalog\n:4\n"},
	}
	for _, tt := range tests {
		r := inProcess(t, append([]string{cobra.ShellCompRequestCmd}, tt.args...)...)
		if r.code != 0 || r.stdout != tt.want {
			t.Errorf("jitbot __complete %s: exit %d\n%s\nwant\n%s", strings.Join(tt.args, " "), r.code, r.stdout, tt.want)
		}
	}
}
