// Command jitbot is a Slack bot for just-in-time privileged access to AWS.
//
//	jitbot serve               run the bot
//	jitbot rules check [FILE]  load and type-check a role catalog
//	jitbot rules test FILE     run rule test cases against a catalog
//	jitbot audit export|verify read and check the durable audit log
//	jitbot access-map          who may request and approve each role
//	jitbot report              access report per role from the audit log
//	jitbot doctor              check the AWS roles and jitbot's setup for standing paths
//	jitbot demo                watch jitbot work: a scripted story on a fake Slack, dry run
//	jitbot request|release     a workload (CI job, pod) asks for AWS access, and ends it
//	jitbot version             print the version
//	jitbot completion SHELL    print a shell completion script
//
// The command line is github.com/spf13/cobra's: every command answers
// -h/--help with its usage on stdout and exit status 0; a bad flag or
// argument prints the usage on stderr and exits 2 (docs/design.md §2.1).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	// A --start of HH:MM is read in the requester's Slack time zone,
	// wherever jitbot runs: the zone database travels with the binary.
	_ "time/tzdata"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: jitbot <command>

commands:
  serve               run the bot (configuration from the environment; see README)
  rules check [FILE]  load and type-check a role catalog (default: $JIT_RULES or rules/roles.yaml)
  rules test FILE     run rule test cases (YAML) against a catalog; see rules/roles_test.yaml
  access-map          who may request and who may approve each role, from Slack (--format text|json)
  audit export        write the durable audit log as jsonl or csv (--since 24h, --format csv)
  audit verify        recompute the audit log's hash chain (from REDIS_URL or --file) and name the first break
  report              access report per role from the audit log (--since 30d, --format text|json)
  doctor              check the catalog's AWS roles and jitbot's own setup for standing paths (--format table|json)
  demo                watch jitbot work: a scripted request, approval, expiry and break-glass on a fake Slack, in a dry run
  request             a workload (CI job, pod) asks for access with its OIDC token (--wait prints credentials)
  release ID          a workload ends its grant now; see docs/pipelines.md
  version             print the version (also: jitbot --version)
  completion SHELL    print the completion script for bash, zsh, fish or powershell
  help [COMMAND]      print the usage of jitbot or of COMMAND (also: jitbot COMMAND --help)
`

// exitError carries a process exit code; its message, if any, has already
// been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError says the command line is wrong. run prints msg, if any, then
// the usage of the command that failed, on stderr, and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return "usage: " + e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "jitbot:", err)
		os.Exit(1)
	}
}

// run is jitbot without the process around it, so tests can call it.
// Configuration comes from the process environment through envconfig.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := rootCommand()
	// A nil slice would make cobra read os.Args instead.
	root.SetArgs(append([]string{}, goHelpFlag(args)...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	var ue usageError
	if !errors.As(err, &ue) {
		return err
	}
	if ue.msg != "" {
		fmt.Fprintln(stderr, ue.msg)
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprint(stderr, cmd.Long)
	return exitError{2}
}

// goHelpFlag reads -help as --help: jitbot parsed its flags with Go's flag
// package before cobra, which takes it, and pflag would read it as -h -e -l -p.
func goHelpFlag(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if a == "-help" {
			out[i] = "--help"
		}
	}
	return out
}

// rootCommand builds jitbot's command tree. Each command's Long is its
// whole usage text, which -h prints on stdout and a usage error on
// stderr: cobra's templates are not used.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:                        "jitbot",
		Long:                       usage,
		Version:                    fmt.Sprintf("%s (%s)", buildVersion(), runtime.Version()),
		Args:                       unknownCommand,
		RunE:                       needCommand,
		SilenceErrors:              true, // run and main print them
		SilenceUsage:               true, // only usage errors print the usage
		SuggestionsMinimumDistance: 2,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true}, // completionCommand instead
	}
	// Declared here so that cobra gives it no -v: demo's -v means verbose.
	root.Flags().Bool("version", false, "print the version")
	root.SetVersionTemplate("jitbot {{.Version}}\n")
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { fmt.Fprint(c.OutOrStdout(), c.Long) })
	root.SetUsageFunc(func(c *cobra.Command) error {
		_, err := fmt.Fprint(c.OutOrStderr(), c.Long)
		return err
	})
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(serveCommand(), rulesCommand(), auditCommand(), accessMapCommand(), reportCommand(), doctorCommand(), demoCommand(),
		requestCommand(), releaseCommand(), versionCommand(), completionCommand())
	root.SetHelpCommand(helpCommand())
	root.InitDefaultHelpCmd() // cobra would add it in Execute; now the tree is whole for the tests that walk it
	return root
}

const serveUsage = `usage: jitbot serve

Runs the bot until SIGTERM or SIGINT. It takes no arguments: it is
configured through the environment (README.md, "Configuration").
`

func serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "run the bot",
		Long:  serveUsage,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{"jitbot serve takes no arguments; it is configured through the environment"}
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(c *cobra.Command, _ []string) error { return serve(c.Context(), c.ErrOrStderr()) },
	}
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:               "version",
		Short:             "print the version",
		Long:              "usage: jitbot version\n\nPrints jitbot's version and the Go it was built with (also: jitbot --version).\n",
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(c.OutOrStdout(), "jitbot %s\n", c.Root().Version)
			return err
		},
	}
}

const completionUsage = `usage: jitbot completion bash|zsh|fish|powershell

Prints the script that completes jitbot's commands and flags in the shell.
To load it in the current shell:

  bash        source <(jitbot completion bash)    (needs the bash-completion package)
  zsh         source <(jitbot completion zsh)
  fish        jitbot completion fish | source
  powershell  jitbot completion powershell | Out-String | Invoke-Expression

To load it in every new shell, write it where the shell looks, e.g.
jitbot completion bash > /etc/bash_completion.d/jitbot.
`

func completionCommand() *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "print the shell completion script",
		Long:      completionUsage,
		ValidArgs: shells,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 1 && !slices.Contains(shells, args[0]) {
				return usageError{fmt.Sprintf("%s: unknown shell %q", c.CommandPath(), args[0])}
			}
			return argCount(1, 1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			root, w := c.Root(), c.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			default:
				return root.GenPowerShellCompletionWithDesc(w)
			}
		},
	}
}

// helpCommand replaces cobra's, which answers a command it does not know
// with jitbot's usage on stdout and exit status 0.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND...]",
		Short: "print the usage of jitbot or of a command",
		Long:  "usage: jitbot help [COMMAND]\n\nPrints the usage of jitbot, or of COMMAND (which may be two words, as in\njitbot help audit verify); jitbot COMMAND --help does the same.\n",
		Args: func(c *cobra.Command, args []string) error {
			if _, rest, _ := c.Root().Find(args); len(rest) > 0 {
				return usageError{fmt.Sprintf("%s: unknown command %q", c.CommandPath(), strings.Join(args, " "))}
			}
			return nil
		},
		ValidArgsFunction: helpCompletion,
		RunE: func(c *cobra.Command, args []string) error {
			target, _, _ := c.Root().Find(args)
			return target.Help()
		},
	}
}

// helpCompletion completes help's arguments with the sub-commands of the
// command they name so far.
func helpCompletion(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	if parent, rest, _ := c.Root().Find(args); len(rest) == 0 {
		for _, sub := range parent.Commands() {
			if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
				out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// flagError turns a flag that does not parse into a usage error naming it.
// An unknown flag is named as Go's flag package named it before cobra.
func flagError(c *cobra.Command, err error) error {
	var unknown *pflag.NotExistError
	var invalid *pflag.InvalidValueError
	switch {
	case errors.As(err, &unknown):
		err = fmt.Errorf("flag provided but not defined: -%s", unknown.GetSpecifiedName())
	case errors.As(err, &invalid):
		err = fmt.Errorf("--%s %w", invalid.GetFlag().Name, invalid.Unwrap())
	}
	return usageError{c.CommandPath() + ": " + err.Error()}
}

// unknownCommand is the Args of a command that groups others: cobra has
// already taken the words that name a sub-command, so any word left names
// none.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: unknown command %q", c.CommandPath(), args[0])
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{msg}
}

// needCommand runs a command that groups others when it is given none.
func needCommand(*cobra.Command, []string) error { return usageError{} }

// noArgs is the Args of a command that takes none; hint follows the
// message, to say where the input comes from instead.
func noArgs(hint string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Sprintf("%s: unexpected argument %q%s", c.CommandPath(), args[0], hint)}
		}
		return nil
	}
}

// argCount is the Args of a command that takes from min to max arguments;
// its usage line says which.
func argCount(min, max int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usageError{}
		}
		return nil
	}
}

// choice is the value of a flag that takes one of a few words, such as
// --format: anything else is a usage error when the flag is parsed.
type choice struct {
	value string
	of    []string
}

func (f *choice) String() string { return f.value }
func (f *choice) Type() string   { return strings.Join(f.of, "|") }
func (f *choice) Set(s string) error {
	if !slices.Contains(f.of, s) {
		return fmt.Errorf("must be %s, got %q", strings.Join(f.of, " or "), s)
	}
	f.value = s
	return nil
}

// choiceFlag defines a flag whose value is one of values, the first by
// default, and completes it in the shell.
func choiceFlag(c *cobra.Command, name, usage string, values ...string) *string {
	f := &choice{value: values[0], of: values}
	c.Flags().Var(f, name, usage)
	_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	return &f.value
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
