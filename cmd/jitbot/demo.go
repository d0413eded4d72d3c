package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackfake"
)

const demoUsage = `usage: jitbot demo [-v]

Plays a scripted story in this process: jitbot itself, as "jitbot serve"
wires it, on a fake Slack workspace (internal/slackfake), the embedded
store and the dry-run backend. It needs no token, no AWS account and no
network beyond loopback, and prints the conversation as the people in it
would see it. -v also prints jitbot's own log (JSON) on stderr.
`

// The people and channels of the demo workspace.
const (
	demoAlice     = "U0ALICE01"
	demoBob       = "U0BOB0002"
	demoCarol     = "U0CAROL03"
	demoOps       = "C0OPS0001"
	demoIncidents = "C0INCIDENT"
	demoAudit     = "C0JITAUDIT"
)

// demoCatalog is the demo's role catalog: two roles, both owned by
// @platform-leads (bob); the on-call engineer may break glass on
// prod-admin during an incident.
const demoCatalog = `defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  prod-readonly:
    description: Read-only access to the production account
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/jit-prod-readonly
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
  prod-admin:
    description: Admin in production, through the jit-prod-admin IAM group
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email.split("@")[0]'
    max_duration: 2h
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
`

// demoGrant is how long alice's access lasts: long enough to look at it,
// short enough to watch it end.
const demoGrant = 5 * time.Second

// Bounds of the demo's waits: each step normally takes milliseconds (the
// expiry, demoGrant), so these only stop a broken demo from hanging.
const (
	demoStep    = 15 * time.Second
	demoTimeout = 60 * time.Second
)

func demoCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "demo",
		Short:             "watch jitbot work: a scripted story on a fake Slack, in a dry run",
		Long:              demoUsage,
		Args:              noArgs(""),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	verbose := c.Flags().BoolP("verbose", "v", false, "also print jitbot's own log (JSON) on stderr")
	c.RunE = func(c *cobra.Command, _ []string) error {
		return demoCmd(c.Context(), *verbose, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

func demoCmd(ctx context.Context, verbose bool, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	logOut := io.Discard
	if verbose {
		logOut = stderr
	}
	d, err := startDemo(ctx, logOut, stderr)
	if err != nil {
		return err
	}
	t := newTranscript(stdout, d.fake)
	playErr := d.play(t)
	if err := d.stop(); playErr == nil {
		playErr = err
	}
	if playErr != nil {
		return fmt.Errorf("demo: %w", playErr)
	}
	return nil
}

// demo is jitbot running against a fake Slack workspace.
type demo struct {
	ctx    context.Context // the demo's; when it is done, so is the story
	fake   *slackfake.Server
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startDemo starts the fake workspace and jitbot on it, and waits until
// jitbot is connected.
func startDemo(ctx context.Context, logOut, stderr io.Writer) (*demo, error) {
	fake := slackfake.New()
	if err := fake.Listen("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start the fake Slack: %w", err)
	}
	fake.AddUser(slackfake.User{ID: demoAlice, Name: "alice", RealName: "Alice Martin", Email: "alice@example.com"})
	fake.AddUser(slackfake.User{ID: demoBob, Name: "bob", RealName: "Bob Chen", Email: "bob@example.com"})
	fake.AddUser(slackfake.User{ID: demoCarol, Name: "carol", RealName: "Carol Diaz", Email: "carol@example.com"})
	fake.AddUserGroup("S0SRE0001", "sre", demoAlice, demoCarol)
	fake.AddUserGroup("S0ONCALL1", "oncall", demoCarol)
	fake.AddUserGroup("S0LEADS01", "platform-leads", demoBob)

	dir, err := os.MkdirTemp("", "jitbot-demo")
	if err != nil {
		fake.Close()
		return nil, err
	}
	d := &demo{ctx: ctx, fake: fake, dir: dir, done: make(chan error, 1)}
	catalog := filepath.Join(dir, "roles.yaml")
	if err := os.WriteFile(catalog, []byte(demoCatalog), 0o600); err != nil {
		d.close()
		return nil, err
	}
	cfg, err := config.Defaults()
	if err != nil {
		d.close()
		return nil, fmt.Errorf("default configuration: %w", err)
	}
	cfg.SlackAppToken, cfg.SlackBotToken, cfg.SlackAPIURL = fake.AppToken(), fake.BotToken(), fake.APIURL()
	cfg.Rules = catalog
	cfg.AuditChannel = demoAudit
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MinDuration = config.Duration(time.Second)
	cfg.DryRun = true
	if err := cfg.CheckServe(); err != nil {
		d.close()
		return nil, fmt.Errorf("demo configuration: %w", err)
	}

	botCtx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	go func() { d.done <- runBot(botCtx, cfg, log, stderr) }()
	err = slackfake.Wait("jitbot to connect to the fake Slack", demoStep, func() bool {
		return fake.Connected() > 0 || len(d.done) > 0
	})
	if err == nil && fake.Connected() == 0 {
		err = errors.New("jitbot stopped before it connected")
	}
	if err != nil {
		return nil, errors.Join(err, d.stop())
	}
	return d, nil
}

// stop stops jitbot, lets it finish its work in flight, and closes the
// fake workspace.
func (d *demo) stop() error {
	d.cancel()
	var err error
	select {
	case err = <-d.done:
	case <-time.After(demoStep):
		err = errors.New("jitbot did not stop in time")
	}
	d.close()
	return err
}

func (d *demo) close() {
	d.fake.Close()
	os.RemoveAll(d.dir)
}

// play is the story. Each step does what a person would do, waits for
// what jitbot answers and prints it.
func (d *demo) play(t *transcript) error {
	t.intro()
	steps := []struct {
		title string
		act   func() error
		until string // what the step waits for
		done  func() bool
	}{
		{
			title: "1. alice needs read-only access to production to look into replica lag",
			act: func() error {
				return d.command(t, demoAlice, demoOps, "request prod-readonly "+rules.FormatDuration(demoGrant)+" checking replica lag on the orders database")
			},
			until: "bob's approval DM", done: func() bool { return d.hasButton(demoBob, blockkit.ActionApprove) },
		},
		{
			title: "2. bob, who owns the role, approves it with one click",
			act:   func() error { return d.click(t, demoBob, blockkit.ActionApprove) },
			until: "alice's access", done: func() bool { return d.dmSays(demoAlice, "is granted until") },
		},
		{
			title: "3. alice opens jitbot's App Home",
			act:   func() error { return d.openHome(t, demoAlice) },
		},
		{
			title: fmt.Sprintf("4. %s after it was granted, alice's access expires and jitbot takes it back", rules.FormatDuration(demoGrant)),
			until: "the end of alice's access", done: func() bool { return d.dmSays(demoAlice, "has ended") },
		},
		{
			title: "5. Break-glass: checkout is down, and carol, on call, needs admin access at once",
			act: func() error {
				return d.command(t, demoCarol, demoIncidents, "request prod-admin 30m --incident INC-4242 checkout is down, restarting the stuck order writer")
			},
			until: "the owners' review DM",
			done: func() bool {
				return d.hasButton(demoBob, blockkit.ActionAcknowledge) && d.dmSays(demoCarol, "is granted until")
			},
		},
		{
			title: "6. bob, an owner of the role, reviews the break-glass grant nobody approved",
			act:   func() error { return d.click(t, demoBob, blockkit.ActionAcknowledge) },
			until: "the review in the audit thread", done: func() bool { return d.channelSays(demoAudit, "reviewed by") },
		},
		{
			title: "7. carol has fixed checkout and gives the access back",
			act: func() error {
				id := d.requestOf(demoCarol)
				if id == "" {
					return errors.New("found no request ID in carol's DMs")
				}
				return d.command(t, demoCarol, demoIncidents, "revoke "+id)
			},
			until: "the end of carol's access", done: func() bool { return d.dmSays(demoCarol, "You gave up your access") },
		},
	}
	for _, s := range steps {
		t.title(s.title)
		if s.act != nil {
			if err := s.act(); err != nil {
				return fmt.Errorf("%s: %w", s.title, err)
			}
		}
		if s.done != nil {
			if err := d.settle(t, s.until, s.done); err != nil {
				return fmt.Errorf("%s: %w", s.title, err)
			}
		}
	}
	t.outro()
	return nil
}

// command types "/jit text" as user in channel.
func (d *demo) command(t *transcript, user, channel, text string) error {
	t.typed(user, channel, "/jit "+text)
	env, err := d.fake.SendSlashCommand(user, channel, text)
	if err != nil {
		return err
	}
	_, err = env.WaitAck(demoStep)
	return err
}

// click has user click the newest button actionID in their DMs.
func (d *demo) click(t *transcript, user, actionID string) error {
	m, label, value := d.findButton(user, actionID)
	if value == "" {
		return fmt.Errorf("no %s button in the DMs of %s", actionID, user)
	}
	t.clicked(user, m.Channel, label)
	env, err := d.fake.SendClick(user, m.Channel, m.TS, actionID, value)
	if err != nil {
		return err
	}
	_, err = env.WaitAck(demoStep)
	return err
}

// openHome has user open jitbot's App Home and prints what it shows.
func (d *demo) openHome(t *transcript, user string) error {
	before := string(d.fake.Home(user))
	env, err := d.fake.SendOpenHome(user)
	if err != nil {
		return err
	}
	if _, err := env.WaitAck(demoStep); err != nil {
		return err
	}
	if err := slackfake.Wait("the App Home of "+user, demoStep, func() bool { return string(d.fake.Home(user)) != before }); err != nil {
		return err
	}
	var view struct{ Blocks json.RawMessage }
	if err := json.Unmarshal(d.fake.Home(user), &view); err != nil {
		return fmt.Errorf("read the App Home: %w", err)
	}
	t.home(user, view.Blocks)
	return nil
}

// settle waits until cond holds and then until jitbot has been quiet for
// a moment, so that every message of the step is printed with it.
func (d *demo) settle(t *transcript, what string, cond func() bool) error {
	err := slackfake.Wait(what, demoStep, func() bool { return d.ctx.Err() != nil || cond() })
	if err == nil {
		err = d.ctx.Err()
	}
	if err != nil {
		return err
	}
	// Best effort: what a chattier jitbot says later is printed with the
	// next step.
	const quiet = 300 * time.Millisecond
	last, since := len(d.fake.Calls("")), time.Now()
	_ = slackfake.Wait("jitbot to be quiet", 3*time.Second, func() bool {
		if n := len(d.fake.Calls("")); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= quiet
	})
	t.flush()
	return nil
}

func (d *demo) dmSays(user, s string) bool { return anySays(d.fake.DMs(user), s) }

func (d *demo) channelSays(channel, s string) bool { return anySays(d.fake.Messages(channel), s) }

func anySays(msgs []slackfake.Message, s string) bool {
	for _, m := range msgs {
		if strings.Contains(string(m.Blocks)+m.Text, s) {
			return true
		}
	}
	return false
}

func (d *demo) hasButton(user, actionID string) bool {
	_, _, value := d.findButton(user, actionID)
	return value != ""
}

// findButton returns the newest DM of user with a button actionID, the
// button's label and its value.
func (d *demo) findButton(user, actionID string) (slackfake.Message, string, string) {
	dms := d.fake.DMs(user)
	for i := len(dms) - 1; i >= 0; i-- {
		var blocks []block
		if json.Unmarshal(dms[i].Blocks, &blocks) != nil {
			continue
		}
		for _, b := range blocks {
			for _, el := range append(b.Elements, b.Accessory) {
				if el != nil && el.ActionID == actionID && el.Value != "" {
					return dms[i], el.label(), el.Value
				}
			}
		}
	}
	return slackfake.Message{}, "", ""
}

// requestOf is the request ID of user's newest grant, from the End access
// now button of the credentials DM.
func (d *demo) requestOf(user string) string {
	_, _, id := d.findButton(user, blockkit.ActionRevoke)
	return id
}
