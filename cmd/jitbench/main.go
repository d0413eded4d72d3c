// Command jitbench is jitbot's load generator: it builds and runs the real
// bot (jitbot serve) against a real redis-server, moto behind the
// recording proxy and the Slack fake, drives it as Slack and its users
// would, and measures every figure of docs/design.md §6 as p50/p95/p99/max.
//
//	go run ./cmd/jitbench -out BENCHMARKS.md -json bench/latest.json
//
// It prints a table, replaces the generated part of BENCHMARKS.md (between
// its jitbench markers, keeping the hand-written analysis around it) and
// writes bench/latest.json so that runs can be compared. Flags shrink the
// run (-grants, -burst, -requests, …) for a quick smoke run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "jitbench:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line; flag has already said why.
type usageError struct{ error }

// config is the command line.
type config struct {
	bot, out, jsonOut, work, profile, overlay string
	phases                                    *regexp.Regexp

	grants         int
	window         time.Duration
	restart        bool
	restartAt      float64
	burst          int
	requests       int
	requestWindow  time.Duration
	approvals      int
	roles          int
	rolesRuns      int
	lifecycles     int
	rttSamples     int
	ssoGrants      int
	ssoWindow      time.Duration
	openRecords    int
	throttledBurst int
	floodRequests  int
	grants100k     int
	window100k     time.Duration
	floodWindow    time.Duration

	args []string // the command line, for the report
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("jitbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bot, "bot", "", "path of a jitbot binary to run; empty builds ./cmd/jitbot")
	fs.StringVar(&c.out, "out", "", "write the report into this Markdown file (e.g. BENCHMARKS.md); empty: table on stdout only")
	fs.StringVar(&c.jsonOut, "json", "", "write the figures as JSON to this file (e.g. bench/latest.json)")
	fs.StringVar(&c.work, "work", "", "directory for logs and data (kept); empty: a temporary one, removed unless the run fails")
	fs.StringVar(&c.overlay, "overlay", "", "build the bot with this go build -overlay file (absolute paths), to measure a candidate change without editing the tree")
	fs.StringVar(&c.profile, "profile", "", "build the bot with a pprof listener and write CPU and heap profiles into this directory")
	fs.Func("phases", "run only the phases whose name matches this regular expression, besides the emulators' round trips (to iterate on one figure; a full run is what BENCHMARKS.md reports)", func(v string) (err error) {
		c.phases, err = regexp.Compile(v)
		return err
	})
	fs.IntVar(&c.grants, "grants", 10000, "active grants expiring over -window (revocation lag, memory)")
	fs.DurationVar(&c.window, "window", time.Minute, "the window over which the -grants grants expire")
	fs.BoolVar(&c.restart, "restart", true, "SIGKILL and restart the bot once during the revocation window")
	fs.Float64Var(&c.restartAt, "restart-at", 0.34, "when to restart the bot: this fraction of -window after the first expiry (negative: before it)")
	fs.IntVar(&c.burst, "burst", 1000, "grants expiring in the same second")
	fs.IntVar(&c.requests, "requests", 1000, "/jit request commands sent over -request-window")
	fs.DurationVar(&c.requestWindow, "request-window", 10*time.Second, "the window of the -requests burst")
	fs.IntVar(&c.approvals, "approvals", 200, "Approve clicks measured one at a time, aws_sts")
	fs.IntVar(&c.roles, "roles", 1000, "roles in the generated catalog (at least 4)")
	fs.IntVar(&c.rolesRuns, "roles-runs", 200, "/jit roles commands measured one at a time")
	fs.IntVar(&c.lifecycles, "lifecycles", 10, "whole request lifecycles whose Redis round trips are counted")
	fs.IntVar(&c.rttSamples, "rtt-samples", 100, "round trips measured per emulator")
	fs.IntVar(&c.ssoGrants, "sso-grants", 300, "active aws_sso grants expiring over -sso-window (aws_sso revocation lag)")
	fs.DurationVar(&c.ssoWindow, "sso-window", 20*time.Second, "the window over which the -sso-grants grants expire")
	fs.IntVar(&c.throttledBurst, "throttled-burst", 10000, "grants expiring in the same second while IAM is throttled (jitbot's limit 100/s)")
	fs.IntVar(&c.grants100k, "grants-100k", 100000, "active grants expiring over -window-100k with two replicas (revocation_lag_100k)")
	fs.DurationVar(&c.window100k, "window-100k", 10*time.Minute, "the window over which the -grants-100k grants expire")
	fs.IntVar(&c.floodRequests, "flood-requests", 1000, "/jit request commands of the incident flood, sent over -flood-window with Slack's limits enforced")
	fs.DurationVar(&c.floodWindow, "flood-window", time.Minute, "the window of the incident flood")
	fs.IntVar(&c.openRecords, "open-records", 100000, "open records in the store while /jit list and /metrics are timed (the last phase)")
	if err := fs.Parse(args); err != nil {
		return c, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, err)
		return c, usageError{err}
	case c.grants < 1 || c.burst < 1 || c.requests < 1 || c.approvals < 1 || c.rolesRuns < 1 || c.lifecycles < 1 || c.rttSamples < 1 || c.ssoGrants < 1 || c.openRecords < 1 || c.throttledBurst < 1:
		err := errors.New("-grants, -burst, -requests, -approvals, -roles-runs, -lifecycles, -rtt-samples, -sso-grants, -open-records and -throttled-burst must be at least 1")
		fmt.Fprintln(stderr, err)
		return c, usageError{err}
	case c.roles < 4:
		err := errors.New("-roles must be at least 4")
		fmt.Fprintln(stderr, err)
		return c, usageError{err}
	case c.window < time.Second || c.ssoWindow < time.Second || c.requestWindow <= 0:
		err := errors.New("-window and -sso-window must be at least 1s and -request-window positive")
		fmt.Fprintln(stderr, err)
		return c, usageError{err}
	case c.restartAt >= 1 || c.restartAt*float64(c.window) <= -float64(seedLead):
		err := fmt.Errorf("-restart-at must be below 1 and put the restart less than %v before the first expiry", seedLead)
		fmt.Fprintln(stderr, err)
		return c, usageError{err}
	}
	c.args = args
	return c, nil
}

// bench is one run.
type bench struct {
	cfg         config
	st          *stack
	cat         *rules.Catalog
	catalogPath string
	requesters  []rules.User
	template    *grants.Request // of an aws_iam_group grant
	ssoTemplate *grants.Request // of an aws_sso grant
	sso         *ssoWorld
	httpPort    int
	extraEnv    []string
	prof        *profiler
	log         io.Writer

	motoRTT, slackRTT summary
	figs              []figure
	findings          []string
	// keepWork keeps a temporary work directory, its logs above all, after
	// a run that lost something: that is when they are needed.
	keepWork bool
}

func (b *bench) add(f figure) {
	b.figs = append(b.figs, f)
	b.logf("%s: %s", f.Name, f.line())
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	started := time.Now()
	b := &bench{cfg: cfg, log: stderr}
	work := cfg.work
	if work == "" {
		if work, err = os.MkdirTemp("", "jitbench-"); err != nil {
			return err
		}
		defer func() {
			if err == nil && !b.keepWork {
				os.RemoveAll(work)
			} else {
				fmt.Fprintf(stderr, "jitbench: logs kept in %s\n", work)
			}
		}()
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	bin, err := b.botBinary(ctx, work)
	if err != nil {
		return err
	}
	st, err := b.setUp(ctx, work, bin)
	if st != nil {
		defer st.close()
	}
	if err != nil {
		return err
	}
	failed := b.runPhases(ctx)
	if n, first, kinds := st.bot.errorLines(); n > 0 {
		var byKind []string
		for msg, k := range kinds {
			byKind = append(byKind, fmt.Sprintf("%d × %q", k, msg))
		}
		slices.Sort(byKind)
		b.findings = append(b.findings, fmt.Sprintf("jitbot logged %d lines at level ERROR during the run (%s); the first: %s", n, strings.Join(byKind, ", "), truncate(first, 400)))
	}
	rep := b.report(started, time.Since(started))
	fmt.Fprint(stdout, rep.table())
	if cfg.out != "" {
		if err := rep.writeMarkdown(cfg.out); err != nil {
			return err
		}
	}
	if cfg.jsonOut != "" {
		if err := rep.writeJSON(cfg.jsonOut); err != nil {
			return err
		}
	}
	return failed
}

// identities reads each engineer through the bot's own directory code
// (users.info and usergroups.list on the Slack fake), so seeded records
// name the requester exactly as the bot would.
func (b *bench) identities(ctx context.Context) error {
	dir := directory.New(b.st.api, 0, 0)
	b.requesters = make([]rules.User, b.st.lay.users)
	for i := range b.requesters {
		u, err := dir.User(ctx, userID(i))
		if err != nil {
			return fmt.Errorf("identity of %s: %w", userID(i), err)
		}
		b.requesters[i] = u
	}
	return nil
}

func slackClient(apiURL, token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(apiURL))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// commandLine is how this run was started, for the report.
func (c config) commandLine() string {
	return strings.TrimSpace("go run ./cmd/jitbench " + strings.Join(c.args, " "))
}

// botBinary is the jitbot binary to measure: -bot as given, or built from
// the tree (with the pprof listener under -profile, or -overlay's files).
func (b *bench) botBinary(ctx context.Context, work string) (string, error) {
	cfg := b.cfg
	bin := cfg.bot
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return "", err
		}
		port, err := testenv.LoopbackPort()
		if err != nil {
			return "", err
		}
		b.prof = &profiler{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: cfg.profile, log: b.logf}
		b.extraEnv = append(b.extraEnv, pprofEnv+"="+b.prof.addr)
	}
	if cfg.bot != "" && (b.prof != nil || cfg.overlay != "") {
		err := errors.New("-bot cannot be combined with -profile or -overlay, which build the bot")
		fmt.Fprintln(b.log, err)
		return "", usageError{err}
	}
	if bin == "" {
		b.logf("building jitbot")
		var err error
		if bin, err = buildBot(ctx, work, b.prof != nil, cfg.overlay); err != nil {
			return "", err
		}
	}
	if b.prof != nil {
		b.prof.bin = bin
	}

	if cfg.overlay != "" {
		b.findings = append(b.findings, fmt.Sprintf("EXPERIMENT: the bot was built with the go build overlay %s, so it is not the code in the tree", cfg.overlay))
	}
	return bin, nil
}

// setUp starts Redis, moto and the Slack fake with the generated catalog,
// seeds the identities and the template grant, and starts the bot. The
// stack it returns, also with an error, is the caller's to close.
func (b *bench) setUp(ctx context.Context, work, bin string) (*stack, error) {
	cfg := b.cfg
	lay := newLayout(max(cfg.grants, cfg.burst, cfg.throttledBurst, takeoverGrants), cfg.roles)
	lay.users = max(lay.users, ssoUsers(cfg.ssoGrants))
	b.logf("starting redis-server, moto_server and the Slack fake; %d IAM groups, %d IAM users", lay.groups, lay.users)
	st, err := newStack(ctx, work, lay)
	if err != nil {
		return nil, err
	}
	b.st = st
	b.prioritizeMoto()
	b.catalogPath = filepath.Join(work, "roles.yaml")
	if err := os.WriteFile(b.catalogPath, []byte(catalogYAML(lay)), 0o644); err != nil {
		return st, err
	}
	if b.cat, err = rules.Load(b.catalogPath); err != nil {
		return st, fmt.Errorf("the generated catalog does not load: %w", err)
	}
	if b.httpPort, err = testenv.LoopbackPort(); err != nil {
		return st, err
	}
	if err := b.identities(ctx); err != nil {
		return st, err
	}
	if b.sso, err = st.ssoFixtures(ctx, ssoUsers(cfg.ssoGrants)); err != nil {
		return st, err
	}
	awsCfg, dir := testenv.StaticAWSConfig(st.moto.URL()), directory.New(st.api, 0, 0)
	if b.template, err = makeTemplate(ctx, st.store, b.cat, dir, awsCfg, groupRole(0), ""); err != nil {
		return st, err
	}
	if b.ssoTemplate, err = makeTemplate(ctx, st.store, b.cat, dir, awsCfg, ssoRole, ssoAccount(0)); err != nil {
		return st, fmt.Errorf("aws_sso template: %w", err)
	}
	st.bot = &bot{bin: bin, dir: work, slack: st.slack, env: st.botEnv(b.catalogPath, st.redis.URL(), b.httpPort, b.extraEnv...)}
	if err := st.bot.start(); err != nil {
		return st, err
	}
	return st, nil
}

// runPhases measures each figure in turn. A phase that fails ends the run,
// but what was measured so far is still reported: the full run takes long.
func (b *bench) runPhases(ctx context.Context) error {
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"emulator round trips", b.emulatorRTTs},
		{"revocation lag", b.revocationLag},
		{"burst of expiries", b.burst},
		{"aws_sso revocation lag", b.ssoRevocationLag},
		{"/jit roles", b.rolesCommand},
		{"Approve → credentials", b.approveToCredentials},
		{"Redis round trips per lifecycle", b.lifecycles},
		{"slash command burst", b.slashBurst},
		{"takeover of a killed replica", b.takeover},
		{"expiry burst under IAM throttling", b.iamThrottledBurst},
		{"incident flood under Slack's limits", b.incidentFlood},
		{"revocation lag at 100,000 grants, two replicas", b.revocationLag100k},
		{"100,000 open records", b.scale},
	}
	var failed error
	for i, p := range phases {
		if err := ctx.Err(); err != nil {
			failed = err
			break
		}
		// The emulators' round trips are what other figures are
		// compared with: they always run.
		if i > 0 && b.cfg.phases != nil && !b.cfg.phases.MatchString(p.name) {
			continue
		}
		b.logf("phase: %s", p.name)
		if err := p.run(ctx); err != nil {
			failed = fmt.Errorf("%s: %w", p.name, err)
			b.findings = append(b.findings, "THE RUN FAILED, so figures are missing: "+failed.Error())
			break
		}
	}
	return failed
}
