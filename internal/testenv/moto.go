package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// motoStartTimeout bounds how long StartMoto waits for /moto-api/ to answer.
// moto_server usually answers within a second; Python imports on a busy
// two-core machine can take several.
const motoStartTimeout = 20 * time.Second

// Moto is a real moto_server (the AWS emulator) on a loopback port. One
// server emulates every service, so the iam and sts clients share its URL.
type Moto struct {
	port int
	dir  string
	pgid int    // moto_server's process group: the pyenv shim and Python
	stop func() // ends the server and every process it started
}

// StartMoto starts moto_server for the test and stops it, with every
// process it started, when the test ends. It fails the test when
// moto_server is not installed or does not answer within 20 s; it never
// skips.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	m, err := newMoto(t.TempDir(), func() (int, error) { return freePort(t), nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	return m
}

func newMoto(dir string, pickPort func() (int, error)) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not installed (make test installs it with pip install 'moto[server]'): %v", err)
	}
	m := &Moto{dir: dir}
	// A free port is free when it is picked, but another process may take
	// it before moto_server binds it; then try another.
	for attempt := 1; ; attempt++ {
		if m.port, err = pickPort(); err != nil {
			return nil, err
		}
		stop, pgid, err := m.start(bin, attempt)
		if err == nil {
			m.pgid = pgid
			m.stop = sync.OnceFunc(stop)
			return m, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return nil, err
		}
	}
}

// start runs moto_server on m.port and waits until it serves. It returns
// the function that stops it and the server's process group.
func (m *Moto) start(bin string, attempt int) (stop func(), pgid int, err error) {
	logPath := filepath.Join(m.dir, fmt.Sprintf("moto-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, 0, fmt.Errorf("create moto log: %v", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(m.port))
	cmd.Dir = m.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so stop can end the pyenv shim and the
	// Python process behind it together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, 0, fmt.Errorf("start moto_server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(done)
	}()
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}

	// Another process may answer on the port; the server is ours only once
	// our moto_server has said it is running there.
	running := fmt.Sprintf("Running on %s", m.URL())
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(motoStartTimeout)
	for {
		err := get(client, m.URL()+"/moto-api/")
		if err == nil {
			if log, _ := os.ReadFile(logPath); strings.Contains(string(log), running) {
				return stop, cmd.Process.Pid, nil
			}
			err = errors.New("the port answers, but this moto_server has not said it is running there")
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "Address already in use") {
				return nil, 0, fmt.Errorf("moto_server on port %d: %w", m.port, errPortTaken)
			}
			return nil, 0, fmt.Errorf("moto_server on port %d exited during start-up%s", m.port, tailFile(logPath, "moto.log"))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, 0, fmt.Errorf("moto_server on port %d did not answer within %v: %v%s", m.port, motoStartTimeout, err, tailFile(logPath, "moto.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the server's base URL, as AWS_ENDPOINT_URL takes it.
func (m *Moto) URL() string { return "http://127.0.0.1:" + strconv.Itoa(m.port) }

// ProcessGroup is the ID of the process group moto_server runs in (the
// pyenv shim and the Python process behind it), for a bench that accounts
// for the CPU each process takes.
func (m *Moto) ProcessGroup() int { return m.pgid }

// Dir is the server's working directory; it holds moto-N.log, one per
// start attempt.
func (m *Moto) Dir() string { return m.dir }

// Reset drops every resource in every emulated service.
func (m *Moto) Reset(t testing.TB) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, m.URL()+"/moto-api/reset", nil)
	if err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset moto: %s", resp.Status)
	}
}

// AWSConfig returns an SDK configuration for us-east-1 with static test
// credentials whose every service client calls endpoint. It reads nothing
// from the environment or ~/.aws, so a developer's own AWS setup cannot
// leak into tests. Retries are few and quick, and never rate-limited, so
// tests of an AWS outage finish in well under a second per call.
func AWSConfig(t testing.TB, endpoint string) aws.Config {
	t.Helper()
	cfg := StaticAWSConfig(endpoint)
	// Retries show in a failing test's output: a retried call that had
	// in fact succeeded explains an otherwise puzzling "already exists".
	cfg.ClientLogMode = aws.LogRetries
	cfg.Logger = testLogger(t)
	return cfg
}

// AccountConfig is AWSConfig straight to m acting in account, as that
// account's administrator would. moto keeps one IAM per account and acts
// in the account of the role whose AssumeRole issued the access key; it
// neither needs that role to exist nor checks its trust policy.
func (m *Moto) AccountConfig(t testing.TB, account string) aws.Config {
	t.Helper()
	cfg := AWSConfig(t, m.URL())
	out, err := sts.NewFromConfig(cfg).AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/admin"), RoleSessionName: aws.String("test-fixture")})
	if err != nil {
		t.Fatalf("credentials of account %s from moto: %v", account, err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

// StaticAWSConfig is AWSConfig without a test: the same region, static
// credentials, endpoint and quick retries, and no logging.
func StaticAWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAJITBOTTESTING", "testing-secret", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 20 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// testLogger sends SDK log lines to t until the test ends, and drops those
// of calls still running after it (logging then would panic).
func testLogger(t testing.TB) logging.Logger {
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) })
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if !ended.Load() {
			t.Logf("aws sdk %s: "+format, append([]any{c}, v...)...)
		}
	})
}

func get(client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// tailFile returns the end of a server log for a failure message.
func tailFile(path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "\n" + name + ":\n" + string(b)
}
