package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// This file runs the pipelines of docs/pipelines.md as a CI runner or a
// pod would: their shell, as written, with jitbot, curl and jq on the
// PATH. What the pipeline runs as its own work (aws sts
// get-caller-identity, ./deploy.sh, ./migrate) is the test binary
// standing in: it asks STS who it is with the AWS SDK's default chain, as
// those programs would, so it proves the credentials reached them.

// awsShimEnv, when set, makes the test binary the stand-in; it appends
// what it found to the file the variable names.
const awsShimEnv = "JITBOT_TEST_AWS_SHIM"

// shimCall is one run of a stand-in.
type shimCall struct {
	Program string   `json:"program"`
	Args    []string `json:"args"`
	ARN     string   `json:"arn"`
	Err     string   `json:"err"`
}

// runAWSShim is the stand-in's main: os.Args[1] is the program it stands
// in for. As aws it only knows "sts get-caller-identity", whose answer it
// prints as the CLI does.
func runAWSShim(logPath string) int {
	c := shimCall{Program: os.Args[1], Args: os.Args[2:]}
	if c.Program == "aws" && strings.Join(c.Args, " ") != "sts get-caller-identity" {
		fmt.Fprintf(os.Stderr, "the tests' aws stands in for 'aws sts get-caller-identity' only, not %q\n", c.Args)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var who *sts.GetCallerIdentityOutput
	cfg, err := config.LoadDefaultConfig(ctx)
	if err == nil {
		who, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	}
	if err != nil {
		c.Err = err.Error()
	} else {
		c.ARN = aws.ToString(who.Arn)
	}
	line, _ := json.Marshal(c)
	f, ferr := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if ferr == nil {
		_, ferr = f.Write(append(line, '\n'))
		f.Close()
	}
	if ferr != nil || err != nil {
		fmt.Fprintln(os.Stderr, c.Program+":", ferr, err)
		return 1
	}
	if c.Program == "aws" {
		out, _ := json.MarshalIndent(map[string]string{"UserId": aws.ToString(who.UserId), "Account": aws.ToString(who.Account), "Arn": c.ARN}, "", "    ")
		fmt.Println(string(out))
	}
	return 0
}

// runner is a CI runner's machine: a workspace holding the stand-ins the
// pipelines run (./deploy.sh, ./migrate), aws on the PATH, and the
// environment every job starts with: no AWS credentials, the region and
// moto for an endpoint, jitbot on the PATH.
type runner struct {
	t         *testing.T
	workspace string
	log       string
	env       []string
}

func newRunner(t *testing.T, motoURL string) *runner {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	r := &runner{t: t, workspace: filepath.Join(root, "workspace"), log: filepath.Join(root, "shim.log")}
	bin := filepath.Join(root, "bin")
	for _, d := range []string{r.workspace, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, program := range map[string]string{
		filepath.Join(bin, "aws"): "aws", filepath.Join(r.workspace, "deploy.sh"): "deploy.sh", filepath.Join(r.workspace, "migrate"): "migrate",
	} {
		script := fmt.Sprintf("#!/bin/sh\n%s=%q exec %q %s \"$@\"\n", awsShimEnv, r.log, self, program)
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "JIT") && !strings.HasPrefix(kv, "PATH=") {
			r.env = append(r.env, kv)
		}
	}
	r.env = append(r.env, "PATH="+bin+":"+filepath.Dir(binary)+":"+os.Getenv("PATH"),
		"AWS_ENDPOINT_URL="+motoURL, "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	return r
}

// run runs script with shell (its argv before the script) in the
// workspace, with env added to the runner's.
func (r *runner) run(ctx context.Context, shell []string, script string, env ...string) result {
	cmd := exec.CommandContext(ctx, shell[0], append(shell[1:], script)...)
	cmd.Dir = r.workspace
	cmd.Env = append(append([]string{}, r.env...), env...)
	res, err := runCommand(cmd)
	if err != nil {
		r.t.Errorf("run %v: %v", shell, err)
		res.code = -1
	}
	return res
}

// calls are the stand-ins' runs so far.
func (r *runner) calls() []shimCall {
	r.t.Helper()
	raw, err := os.ReadFile(r.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	var out []shimCall
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var c shimCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			r.t.Fatalf("shim log line %q: %v", sc.Text(), err)
		}
		out = append(out, c)
	}
	return out
}

// lastCall is the last run of program; it fails the test if there was
// none or it could not tell who it was.
func (r *runner) lastCall(program string) shimCall {
	r.t.Helper()
	calls := r.calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if c := calls[i]; c.Program == program {
			if c.Err != "" {
				r.t.Errorf("%s ran without working credentials: %s", program, c.Err)
			}
			return c
		}
	}
	r.t.Fatalf("the pipeline never ran %s (runs: %+v)", program, calls)
	return shimCall{}
}

// fencedYAML is the n-th (from 0) ```yaml block of file after the line
// heading.
func fencedYAML(t *testing.T, file, heading string, n int) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	for i := 0; ; i++ {
		_, block, ok := strings.Cut(after, "```yaml\n")
		if !ok {
			t.Fatalf("%s: fewer than %d yaml blocks after %q", file, n+1, heading)
		}
		block, after, _ = strings.Cut(block, "\n```")
		if i == n {
			return block
		}
	}
}
