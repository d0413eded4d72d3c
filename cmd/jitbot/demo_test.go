package main

import (
	"strings"
	"testing"
	"time"
)

// TestDemo runs `jitbot demo -v` as a newcomer would, in an environment
// full of settings that must not leak into it (a Slack token, a Redis
// that does not exist, JIT_DRY_RUN=false, an AWS profile that does not
// exist), and checks the story: every step, in order, every message of
// jitbot marked DRY RUN, no credentials, quickly, exit 0.
func TestDemo(t *testing.T) {
	start := time.Now()
	r := runBinary(t, cleanEnv("SLACK_BOT_TOKEN=xoxb-someone-elses", "SLACK_APP_TOKEN=xapp-someone-elses",
		"REDIS_URL=redis://127.0.0.1:1/0", "JIT_DRY_RUN=false", "JIT_AUDIT_CHANNEL=C0SOMEWHERE",
		"AWS_PROFILE=jitbot-demo-no-such-profile"), "demo", "-v")
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("jitbot demo exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if took > 30*time.Second {
		t.Errorf("the demo took %v, want under 30s", took)
	}
	t.Logf("jitbot demo took %v", took)

	steps := []string{
		"#ops         alice › /jit request prod-readonly 5s checking replica lag on the orders database",
		"DM bob       ← jitbot:",
		"[Approve] [Deny]",
		"DM bob       bob clicks [Approve]",
		"DM alice     ← jitbot:",
		"is granted until",
		"no credentials were issued",
		"sts:AssumeRole RoleArn=arn:aws:iam::111111111111:role/jit-prod-readonly RoleSessionName=jit-alice-JIT-",
		"DurationSeconds=900 SourceIdentity=alice@example.com Tags=jit-request=JIT-",
		"App Home     alice sees:",
		":test_tube: *DRY RUN* :white_check_mark: *ACTIVE*",
		"has ended: its time was up",
		"no AWS call: the session policy ended the access at",
		"#incidents   carol › /jit request prod-admin 30m --incident INC-4242",
		"▍Review break-glass JIT-",
		"DM bob       bob clicks [Acknowledge]",
		"reviewed by @bob",
		"#incidents   carol › /jit revoke JIT-",
		"You gave up your access to *prod-admin*",
		"iam:RemoveUserFromGroup GroupName=jit-prod-admin UserName=carol",
		"The end.",
	}
	// The audit channel, the approvers' copies and the requester's DMs
	// are separate queues, so the order in which Slack shows them varies;
	// these must be in the story, wherever they fall.
	for _, s := range []string{
		"#jit-audit   jitbot:",
		"DM bob       ← jitbot edits its message:",
		"#jit-audit   ↳ jitbot, in the thread and in the channel:",
		":rotating_light: *BREAK-GLASS*",
		"iam:AddUserToGroup GroupName=jit-prod-admin UserName=carol",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("the story lacks %q:\n%s", s, r.stdout)
		}
	}
	rest := r.stdout
	for _, s := range steps {
		i := strings.Index(rest, s)
		if i < 0 {
			t.Fatalf("the story lacks, at this point or after it, %q\nstdout:\n%s", s, r.stdout)
		}
		rest = rest[i+len(s):]
	}

	msgs := transcriptMessages(r.stdout)
	if len(msgs) < 20 {
		t.Fatalf("only %d messages from jitbot in the story:\n%s", len(msgs), r.stdout)
	}
	for _, m := range msgs {
		if !strings.Contains(m, "DRY RUN") {
			t.Errorf("a message of jitbot does not say DRY RUN:\n%s", m)
		}
	}
	for _, secret := range []string{"export AWS_", "AWS_SECRET_ACCESS_KEY", "ASIA"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("the dry run shows %q", secret)
		}
	}
	for _, s := range []string{"someone-elses", "C0SOMEWHERE"} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("the environment leaked into the demo: %q", s)
		}
	}
	// -v: jitbot's own log, with the loud warning and the calls not made.
	for _, s := range []string{`"level":"WARN","msg":"DRY RUN (JIT_DRY_RUN=true)`, `"msg":"DRY RUN: AWS not called"`, `"would_call":"iam:AddUserToGroup GroupName=jit-prod-admin UserName=carol"`} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("jitbot's log lacks %s\nstderr:\n%s", s, r.stderr)
		}
	}
}

// transcriptMessages splits the demo's output into what jitbot posted,
// edited or showed: each heading that names jitbot, or the App Home, with
// the lines under it.
func transcriptMessages(out string) []string {
	var msgs []string
	var cur *strings.Builder
	for line := range strings.Lines(out) {
		switch {
		case strings.HasPrefix(strings.TrimLeft(line, " "), "│"):
			if cur != nil {
				cur.WriteString(line)
			}
		case strings.Contains(line, "jitbot") && strings.HasSuffix(strings.TrimSpace(line), ":") || strings.HasPrefix(line, "App Home"):
			if cur != nil {
				msgs = append(msgs, cur.String())
			}
			cur = &strings.Builder{}
			cur.WriteString(line)
		default:
			if cur != nil {
				msgs = append(msgs, cur.String())
			}
			cur = nil
		}
	}
	if cur != nil {
		msgs = append(msgs, cur.String())
	}
	return msgs
}
