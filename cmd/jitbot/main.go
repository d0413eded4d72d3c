// Command jitbot is a Slack bot for just-in-time privileged access to AWS.
//
//	jitbot serve               run the bot
//	jitbot rules check [FILE]  load and type-check a role catalog
//	jitbot rules test FILE     run rule test cases against a catalog
//	jitbot audit export|verify read and check the durable audit log
//	jitbot access-map          who may request and approve each role
//	jitbot report              access report per role from the audit log
//	jitbot demo                watch jitbot work: a scripted story on a fake Slack, dry run
//	jitbot version             print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
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
  demo                watch jitbot work: a scripted request, approval, expiry and break-glass on a fake Slack, in a dry run
  version             print the version
`

// exitError carries a process exit code; its message, if any, has already
// been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// parseFlags parses the flags of a sub-command into fs, whose usage text
// says it better than flag's: -h prints it on stdout, a flag that does not
// parse is named on stderr before it. When ok is false the sub-command
// ends with err (nil after -h, exit status 2 otherwise).
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (ok bool, err error) {
	fs.SetOutput(io.Discard)
	err = fs.Parse(args)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return false, nil
	default:
		fmt.Fprintf(stderr, "jitbot %s: %v\n%s", fs.Name(), err, usage)
		return false, exitError{2}
	}
}

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
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	switch args[0] {
	case "serve":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "jitbot serve takes no arguments; it is configured through the environment\n")
			return exitError{2}
		}
		return serve(ctx, stderr)
	case "rules":
		return rulesCmd(args[1:], stdout, stderr)
	case "audit":
		return auditCmd(ctx, args[1:], stdout, stderr)
	case "access-map":
		return accessMapCmd(ctx, args[1:], stdout, stderr)
	case "report":
		return reportCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "jitbot %s (%s)\n", buildVersion(), runtime.Version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "jitbot: unknown command %q\n\n%s", args[0], usage)
	return exitError{2}
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
