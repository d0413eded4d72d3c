package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultTokenEnv is where the token is read when neither --token-file nor
// --token-env says.
const defaultTokenEnv = "JITBOT_TOKEN"

const requestUsage = `usage: jitbot request --server URL --role ROLE --reason TEXT [flags]

Asks jitbot's workload API for access to ROLE, proving who this job is
with its OIDC ID token. Without --wait it prints the request's id on
stdout (and its state on stderr) and exits 0. With --wait it waits for the
decision, saying on stderr who it waits for, then prints the credentials
on stdout in --format.

flags:
  --server URL        jitbot's workload API, https:// (http:// only to this machine)
  --role ROLE         the role of the catalog to ask for (required)
  --reason TEXT       why; the approvers read it (required)
  --duration D        how long, e.g. 30m, 1h, 1d (default: the role's)
  --account A         the AWS account, for a role that spans several
  --token-file F      read the token from F (a Kubernetes projected token)
  --token-env VAR     read the token from $VAR (default $JITBOT_TOKEN)
  --wait              wait for the decision and print the credentials
  --format F          env (export AWS_… lines for a shell), credential_process
                      (the JSON an AWS credential_process prints), or json
                      (the API's whole answer); default env

The token is never printed. In GitHub Actions, give the job
"permissions: id-token: write" and fetch it from
$ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUDIENCE with
$ACTIONS_ID_TOKEN_REQUEST_TOKEN; docs/pipelines.md has whole jobs.

exit status: 0 granted (or made, without --wait), 3 denied, 4 timed out
with no decision, 2 usage, 1 anything else (network, invalid token, a
refusal, a grant revoked or failed, interrupted: the request's id is
printed so the job can release it).
`

const releaseUsage = `usage: jitbot release --server URL [--token-file F | --token-env VAR] ID

Ends request ID now rather than at its expiry: the job is done with its
access. Prints the request's final state; exits 0, also when it had
already ended, and 1 when it could not be released. The token is read as
jitbot request reads it (default $JITBOT_TOKEN).
`

// tokenFlags are how the request and release commands find the token.
type tokenFlags struct{ file, env string }

func addTokenFlags(c *cobra.Command) *tokenFlags {
	t := &tokenFlags{}
	c.Flags().StringVar(&t.file, "token-file", "", "read the token from this file")
	c.Flags().StringVar(&t.env, "token-env", "", "read the token from this environment variable (default "+defaultTokenEnv+")")
	return t
}

// read returns the token. Its errors name where it was looked for, never
// what was found.
func (t *tokenFlags) read() (string, error) {
	if t.file != "" && t.env != "" {
		return "", usageError{"give --token-file or --token-env, not both"}
	}
	if t.file != "" {
		b, err := os.ReadFile(t.file)
		if err != nil {
			return "", fmt.Errorf("reading the token: %w", err)
		}
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("the token file %s is empty", t.file)
	}
	name := t.env
	if name == "" {
		name = defaultTokenEnv
	}
	if tok := strings.TrimSpace(os.Getenv(name)); tok != "" {
		return tok, nil
	}
	return "", fmt.Errorf("no token: $%s is empty; set it to this job's OIDC ID token, or give --token-file", name)
}

type requestFlags struct {
	server, role, duration, account, reason string
	wait                                    bool
	format                                  *string
	token                                   *tokenFlags
}

func requestCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "request",
		Short:             "ask jitbot for access as a workload (CI job, pod)",
		Long:              requestUsage,
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := &requestFlags{token: addTokenFlags(c)}
	c.Flags().StringVar(&f.server, "server", "", "jitbot's workload API URL")
	c.Flags().StringVar(&f.role, "role", "", "the role to ask for")
	c.Flags().StringVar(&f.duration, "duration", "", "how long (default: the role's)")
	c.Flags().StringVar(&f.account, "account", "", "the AWS account")
	c.Flags().StringVar(&f.reason, "reason", "", "why")
	c.Flags().BoolVar(&f.wait, "wait", false, "wait for the decision and print the credentials")
	f.format = choiceFlag(c, "format", "the credentials' format", "env", "credential_process", "json")
	c.RunE = func(c *cobra.Command, _ []string) error {
		return requestCmd(c.Context(), f, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

func releaseCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "release ID",
		Short:             "end a workload's grant now",
		Long:              releaseUsage,
		Args:              argCount(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	token := addTokenFlags(c)
	server := c.Flags().String("server", "", "jitbot's workload API URL")
	c.RunE = func(c *cobra.Command, args []string) error {
		return releaseCmd(c.Context(), *server, token, args[0], c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// connect checks --server and reads the token: a missing --server is a
// usage error, the rest are errors of the setup (exit 1).
func connect(command, server string, t *tokenFlags) (*apiClient, error) {
	if server == "" {
		return nil, usageError{"jitbot " + command + ": --server is required"}
	}
	u, err := serverURL(server)
	if err != nil {
		return nil, err
	}
	// Read once now so that a missing token fails before anything is sent.
	if _, err := t.read(); err != nil {
		return nil, err
	}
	return newAPIClient(u, t.read), nil
}

func requestCmd(ctx context.Context, f *requestFlags, stdout, stderr io.Writer) error {
	for _, req := range []struct{ name, value string }{{"--role", f.role}, {"--reason", f.reason}} {
		if req.value == "" {
			return usageError{"jitbot request: " + req.name + " is required"}
		}
	}
	c, err := connect("request", f.server, f.token)
	if err != nil {
		return err
	}
	r, err := c.create(ctx, f.role, f.duration, f.reason, f.account)
	if err != nil {
		return fmt.Errorf("the request was not made: %w", err)
	}
	fmt.Fprintf(stderr, "jitbot: request %s is %s%s\n", r.ID, r.State, approversNote(r.Approvers))
	if !f.wait {
		_, err := fmt.Fprintln(stdout, r.ID)
		return err
	}
	w := &waiter{c: c, stderr: stderr, approvers: r.Approvers}
	final, err := w.wait(ctx, r)
	if err != nil {
		return err
	}
	return printGrant(final, *f.format, stdout)
}

func approversNote(approvers []string) string {
	if len(approvers) == 0 {
		return ""
	}
	return "; approvers: " + strings.Join(approvers, ", ")
}

// How long release keeps trying a request that is being granted.
const (
	releaseTries = 20
	releasePause = 3 * time.Second
)

func isConflict(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusConflict
}

func releaseCmd(ctx context.Context, server string, t *tokenFlags, id string, stdout, stderr io.Writer) error {
	c, err := connect("release", server, t)
	if err != nil {
		return err
	}
	r, err := c.release(ctx, id)
	// 409: the grant is being issued this moment and can be ended once it
	// is; a job's last step must not leave it running for that.
	for try := 0; isConflict(err) && try < releaseTries; try++ {
		fmt.Fprintf(stderr, "jitbot: %v; trying again in %v\n", err, releasePause)
		select {
		case <-ctx.Done():
			return fmt.Errorf("request %s was not released: interrupted", id)
		case <-time.After(releasePause):
		}
		r, err = c.release(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("request %s was not released: %w", id, err)
	}
	_, err = fmt.Fprintf(stdout, "%s %s\n", r.ID, r.State)
	return err
}
