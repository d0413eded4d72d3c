package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/slack-go/slack"
	"golang.org/x/sync/errgroup"

	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// stack is the bot and everything around it: a real redis-server, moto
// behind the recording proxy, and the Slack fake behind a timing proxy.
type stack struct {
	dir    string
	lay    layout
	redis  *testenv.Redis
	moto   *testenv.Moto
	aws    *testenv.Proxy // the bot's AWS endpoint: records every call with its times
	slack  *slackfake.Server
	web    *webProxy   // the bot's SLACK_API_URL: times every Web API call
	iam    *iam.Client // straight to moto, for fixtures
	store  *redisstore.Store
	api    *slack.Client // straight to the fake, for identities
	bot    *bot
	closed []func()
}

// newStack starts the parts and creates the fixtures of l. The bot is not
// started.
func newStack(ctx context.Context, dir string, l layout) (*stack, error) {
	s := &stack{dir: dir, lay: l}
	fail := func(err error) (*stack, error) {
		s.close()
		return nil, err
	}
	var err error
	if s.redis, err = testenv.NewRedis(filepath.Join(dir, "redis")); err != nil {
		return fail(err)
	}
	s.closed = append(s.closed, func() { s.redis.Close() })
	if s.moto, err = testenv.NewMoto(filepath.Join(dir, "moto")); err != nil {
		return fail(err)
	}
	s.closed = append(s.closed, func() { s.moto.Close() })
	if s.aws, err = testenv.NewProxy(s.moto.URL()); err != nil {
		return fail(err)
	}
	s.closed = append(s.closed, s.aws.Close)
	s.slack = slackfake.New(slackfake.WithChannel(benchChannel), slackfake.WithConnectTimeout(30*time.Second))
	if err := s.slack.Listen("127.0.0.1:0"); err != nil {
		return fail(err)
	}
	s.closed = append(s.closed, func() { s.slack.Close() })
	s.web = newWebProxy(s.slack.APIURL())
	s.closed = append(s.closed, s.web.Close)
	s.store, err = redisstore.Open(ctx, s.redis.URL(), redisstore.Options{Prefix: "jitbot", SigningKeys: [][]byte{[]byte(signingKey)}})
	if err != nil {
		return fail(err)
	}
	s.closed = append(s.closed, func() { s.store.Close() })
	s.iam = iam.NewFromConfig(testenv.StaticAWSConfig(s.moto.URL()))
	s.api = slack.New(s.slack.BotToken(), slack.OptionAPIURL(s.slack.APIURL()))
	s.people()
	if err := s.fixtures(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// close stops everything, the bot first, in reverse order of start.
func (s *stack) close() {
	if s.bot != nil {
		s.bot.stop()
	}
	for i := len(s.closed) - 1; i >= 0; i-- {
		s.closed[i]()
	}
	s.closed = nil
}

// people adds the approver and the engineers to the Slack fake.
func (s *stack) people() {
	s.slack.AddUser(slackfake.User{ID: approverID, Name: "lead", RealName: "Lea Lead", Email: "lead@example.com"})
	s.slack.AddUser(slackfake.User{ID: templateUserID, Name: templateIAM, RealName: "Template Engineer", Email: templateIAM + "@example.com"})
	members := make([]string, s.lay.users)
	for i := range s.lay.users {
		members[i] = userID(i)
		s.slack.AddUser(slackfake.User{ID: userID(i), Name: iamUser(i), RealName: "Engineer " + iamUser(i), Email: email(i)})
	}
	for k := range floodRoles {
		s.slack.AddUser(slackfake.User{ID: floodApprover(k), Name: fmt.Sprintf("flood-lead%02d", k), Email: fmt.Sprintf("flood-lead%02d@example.com", k)})
	}
	s.slack.AddUserGroup("S0SRE", "sre", members...)
	s.slack.AddUserGroup("S0LEADS", "platform-leads", approverID)
}

// fixtureWorkers bounds the calls made to moto at once while creating
// fixtures; moto serves one call at a time per Python thread anyway.
const fixtureWorkers = 8

// fixtures creates the STS role, the IAM groups and the IAM users.
func (s *stack) fixtures(ctx context.Context) error {
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	if _, err := s.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(stsRoleName), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		return fmt.Errorf("create IAM role %s: %w", stsRoleName, err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(fixtureWorkers)
	for i := range s.lay.groups {
		g.Go(func() error {
			if _, err := s.iam.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(groupName(i))}); err != nil {
				return fmt.Errorf("create IAM group %s: %w", groupName(i), err)
			}
			return nil
		})
	}
	users := []string{templateIAM}
	for i := range s.lay.users {
		users = append(users, iamUser(i))
	}
	for _, u := range users {
		g.Go(func() error {
			if _, err := s.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
				return fmt.Errorf("create IAM user %s: %w", u, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// addMembers puts the users of pairs [0, n) into their groups, straight in
// moto, and returns the AWS request ID of each AddUserToGroup.
func (s *stack) addMembers(ctx context.Context, n int) ([]string, error) {
	ids := make([]string, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(fixtureWorkers)
	for k := range n {
		gi, ui := s.lay.pair(k)
		g.Go(func() error {
			out, err := s.iam.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(groupName(gi)), UserName: aws.String(iamUser(ui))})
			if err != nil {
				return fmt.Errorf("add %s to %s: %w", iamUser(ui), groupName(gi), err)
			}
			ids[k] = awsRequestID(out.ResultMetadata)
			return nil
		})
	}
	return ids, g.Wait()
}

// bot is one jitbot serve process, restartable.
type bot struct {
	bin   string
	env   []string
	dir   string // where its logs go: bot-1.log, bot-2.log, …
	slack *slackfake.Server

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
	logs   []string
}

// botEnv is the environment of the bot: only what it needs, so that a
// developer's own AWS or Slack settings cannot leak in.
func (s *stack) botEnv(catalog, redisURL string, httpPort int, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir,
		"SLACK_APP_TOKEN=" + s.slack.AppToken(), "SLACK_BOT_TOKEN=" + s.slack.BotToken(), "SLACK_API_URL=" + s.web.URL() + "/api/",
		"JIT_RULES=" + catalog, "JIT_AUDIT_CHANNEL=" + auditChannel, "REDIS_URL=" + redisURL,
		"JIT_SIGNING_KEY=" + signingKey,
		"JIT_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(httpPort), "JIT_LOG_LEVEL=info",
		// Short grants for the lifecycle phase; many requests per person
		// for the burst (the default is 20 an hour).
		"JIT_MIN_DURATION=1s", "JIT_REQUEST_LIMIT=1000000", "JIT_RECONCILE_INTERVAL=1h",
		"AWS_ENDPOINT_URL=" + s.aws.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		// jitbot's own AWS limits are for a real account; the figures
		// measure jitbot against moto (the throttled phase sets them).
		unlimitedAWS,
	}
	return append(env, extra...)
}

// start runs the binary and waits until it is connected over Socket Mode.
func (b *bot) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("jitbot is already running")
	}
	b.starts++
	logPath := filepath.Join(b.dir, fmt.Sprintf("bot-%d.log", b.starts))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	before := b.slack.Connections()
	cmd := exec.Command(b.bin, "serve")
	cmd.Env = b.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s serve: %w", b.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	b.cmd, b.exited = cmd, exited
	b.logs = append(b.logs, logPath)
	err = slackfake.Wait("jitbot to connect over Socket Mode", 60*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
			return b.slack.Connections() > before
		}
	})
	select {
	case <-exited:
		b.cmd = nil
		return fmt.Errorf("jitbot exited during start-up (%v); log %s:\n%s", cmd.ProcessState, logPath, tailLog(logPath))
	default:
	}
	if err != nil {
		return fmt.Errorf("%w; log %s:\n%s", err, logPath, tailLog(logPath))
	}
	return nil
}

// kill ends the bot with SIGKILL, as a crash or an OOM kill would.
func (b *bot) kill() { b.signal(syscall.SIGKILL, 0) }

// stop asks the bot to stop (SIGTERM) and kills it after 20 s.
func (b *bot) stop() { b.signal(syscall.SIGTERM, 20*time.Second) }

func (b *bot) signal(sig syscall.Signal, grace time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	testenv.StopProcess(b.cmd, b.exited, sig, grace)
	b.cmd = nil
}

// pid is the running process's ID, or 0.
func (b *bot) pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// errorLines counts the log lines at level ERROR over every start, and
// by message.
func (b *bot) errorLines() (n int, first string, kinds map[string]int) {
	kinds = map[string]int{}
	for _, path := range b.logs {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"level":"ERROR"`) {
				if n == 0 {
					first = sc.Text()
				}
				n++
				var line struct{ Msg string }
				if json.Unmarshal(sc.Bytes(), &line) == nil {
					kinds[line.Msg]++
				}
			}
		}
		f.Close()
	}
	return n, first, kinds
}

// memory reads the resident set of a process from /proc, in KiB: now
// (VmRSS) and its peak (VmHWM).
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return rss, hwm, nil
}

func tailLog(path string) string {
	b, _ := os.ReadFile(path)
	const max = 3000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// signingKey is every bot's JIT_SIGNING_KEY, and the key of the store the
// bench reads and seeds, so that the bots trust the records it writes.
const signingKey = "jitbench-signing-key-0123456789abcdef-not-a-secret"
