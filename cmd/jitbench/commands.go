package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// rolesCommand is /jit roles over the generated catalog, one at a time:
// the time from the envelope sent to its ack, and to the answer posted to
// the response URL.
func (b *bench) rolesCommand(ctx context.Context) error {
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.st.slack.Forget()
	b.st.web.Reset()
	b.profileCPU("roles", 10*time.Second)
	var acks, answers []float64
	slackCalls := 0
	for i := range b.cfg.rolesRuns {
		if err := ctx.Err(); err != nil {
			return err
		}
		env, err := b.st.slack.SendSlashCommand(userID(i%b.st.lay.users), benchChannel, "roles")
		if err != nil {
			return err
		}
		at, err := b.answer(ctx, env, 10*time.Second)
		if err != nil {
			return fmt.Errorf("/jit roles: %w", err)
		}
		if err := b.rolesListed(userID(i % b.st.lay.users)); err != nil {
			return err
		}
		acks = append(acks, ms(env.AckDelay()))
		answers = append(answers, ms(at.Sub(env.SentAt())))
		for _, c := range b.st.web.Calls() {
			if !c.start.Before(env.SentAt()) && c.start.Before(at) {
				slackCalls++
			}
		}
		b.st.web.Reset()
	}
	b.add(figure{Name: "roles_answer", Unit: unitMS, Sum: summarize(answers), Target: 5, Emulator: b.slackRTT,
		What: fmt.Sprintf("/jit roles over a %d-role catalog: envelope sent → answer posted to the response URL (%d Slack API calls in %d runs)", b.st.lay.roles, slackCalls, b.cfg.rolesRuns)})
	b.add(figure{Name: "roles_ack", Unit: unitMS, Sum: summarize(acks), Target: 5,
		What: fmt.Sprintf("/jit roles over a %d-role catalog: envelope sent → ack received", b.st.lay.roles)})
	return nil
}

// answer waits for the bot's post to the response URL of env and returns
// when the fake received it.
// rolesListed checks that the last answer to user is the list of roles,
// so that the bench never times an error message.
func (b *bench) rolesListed(user string) error {
	e := b.st.slack.Ephemerals(user)
	if len(e) == 0 {
		return fmt.Errorf("/jit roles: no answer to %s", user)
	}
	if last := e[len(e)-1]; !strings.Contains(string(last.Blocks), "*Roles you can request* (") {
		return fmt.Errorf("/jit roles: %s was answered %.300q, not with the roles", user, last.Text+string(last.Blocks))
	}
	return nil
}

func (b *bench) answer(ctx context.Context, env slackfake.Envelope, timeout time.Duration) (time.Time, error) {
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal(env.Payload, &p); err != nil || p.ResponseURL == "" {
		return time.Time{}, fmt.Errorf("envelope %s has no response_url", env.ID)
	}
	var at time.Time
	err := waitFor(ctx, "an answer to envelope "+env.ID, timeout, func() bool {
		for _, c := range b.st.slack.Calls("response_url") {
			if c.Params.Get("response_url") == p.ResponseURL {
				at = c.At
				return true
			}
		}
		return false
	})
	return at, err
}

// approveToCredentials is Approve click → credentials DM for aws_sts
// grants, one request at a time so that every AWS and Slack call in the
// window belongs to it. The bot's own share is the window minus the time
// covered by AWS calls (at the recording proxy) and Slack Web API calls
// (at the timing proxy).
func (b *bench) approveToCredentials(ctx context.Context) error {
	b.st.slack.Forget()
	b.profileCPU("approvals", 20*time.Second)
	var totals, own, external []float64
	calls := map[string]int{} // "slack chat.update", "aws AssumeRole", …: calls on the path to the DM
	for i := range b.cfg.approvals {
		if err := ctx.Err(); err != nil {
			return err
		}
		requester := userID(i % b.st.lay.users)
		id, dm, err := b.fileRequest(ctx, requester, fmt.Sprintf("request %s 15m bench approval %d: rotating the replica password", stsRole, i))
		if err != nil {
			return err
		}
		if err := b.quiet(ctx, 5*time.Second); err != nil {
			return err
		}
		b.st.web.Reset()
		b.st.aws.Reset()
		env, err := b.st.slack.SendClick(approverID, dm.Channel, dm.TS, "jit_approve", id)
		if err != nil {
			return fmt.Errorf("click Approve on %s: %w", id, err)
		}
		var dmAt time.Time
		err = waitFor(ctx, "the credentials DM of "+id, 15*time.Second, func() bool {
			for _, c := range b.st.web.Calls() {
				if c.creds == id {
					dmAt = c.start
					return true
				}
			}
			return false
		})
		if err != nil {
			return err
		}
		click := env.SentAt()
		var ivs []interval
		for _, c := range b.st.aws.Calls("") {
			if c.Start.Before(dmAt) {
				ivs = append(ivs, interval{c.Start, c.End})
				calls["aws "+c.Action]++
			}
		}
		for _, c := range b.st.web.Calls() {
			if c.start.Before(dmAt) {
				ivs = append(ivs, interval{c.start, c.end})
				calls["slack "+c.method]++
			}
		}
		total := dmAt.Sub(click)
		ext := covered(ivs, click, dmAt)
		totals = append(totals, ms(total))
		external = append(external, ms(ext))
		own = append(own, ms(total-ext))
	}
	n := b.cfg.approvals
	ownSum, totSum, extSum := summarize(own), summarize(totals), summarize(external)
	b.add(figure{Name: "approve_to_credentials_own", Unit: unitMS, Sum: ownSum, Target: 20,
		What: "Approve click → credentials DM sent, minus the time covered by the AWS and Slack calls in between (measured at the two proxies)"})
	tot := figure{Name: "approve_to_credentials_total", Unit: unitMS, Sum: totSum,
		What: "Approve click → credentials DM sent (the chat.postMessage reaching the Slack proxy), all included; calls_* are the calls made before the DM, per approval"}
	for k, v := range calls {
		tot.addExtra("calls_"+strings.ReplaceAll(k, " ", "_"), float64(v)/float64(n))
	}
	tot.addExtra("external_calls_p50_ms", extSum.P50)
	if extSum.P50 > 0 {
		tot.addExtra("total_to_external_ratio_p50", totSum.P50/extSum.P50)
	}
	b.add(tot)
	return nil
}

// fileRequest sends a /jit request as requester and waits for the
// approval DM it causes; it returns the request ID and that DM.
func (b *bench) fileRequest(ctx context.Context, requester, text string) (string, slackfake.Message, error) {
	seen := map[string]bool{}
	for _, m := range b.st.slack.DMs(approverID) {
		seen[m.TS] = true
	}
	if _, err := b.st.slack.SendSlashCommand(requester, benchChannel, text); err != nil {
		return "", slackfake.Message{}, err
	}
	var dm slackfake.Message
	var id string
	err := waitFor(ctx, "the approval DM of /jit "+text, 15*time.Second, func() bool {
		for _, m := range b.st.slack.DMs(approverID) {
			if seen[m.TS] || !strings.Contains(string(m.Blocks), "jit_approve") {
				continue
			}
			if id = requestIDPattern.FindString(string(m.Blocks)); id != "" {
				dm = m
				return true
			}
		}
		return false
	})
	return id, dm, err
}

// quiet waits until neither Slack nor AWS has seen a call for 150 ms, so
// that the next measurement window holds only its own calls.
func (b *bench) quiet(ctx context.Context, timeout time.Duration) error {
	awsQuiet := func() bool { return time.Since(b.st.aws.LastEnd()) >= 150*time.Millisecond }
	return waitFor(ctx, "Slack and AWS to go quiet", timeout, func() bool {
		return b.st.web.quietFor(150*time.Millisecond) && awsQuiet()
	})
}

// slashBurst sends /jit request commands evenly over a window, as people
// do when an incident starts, and measures each one's ack (from the
// fake's side) and answer.
func (b *bench) slashBurst(ctx context.Context) error {
	n, window := b.cfg.requests, b.cfg.requestWindow
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.st.slack.Forget()
	b.profileCPU("slash-burst", window+5*time.Second)
	envs := make([]slackfake.Envelope, 0, n)
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Until(start.Add(time.Duration(int64(window) * int64(i) / int64(n)))))
		text := fmt.Sprintf("request %s 1h --incident INC-%d bench burst request %d: the database is on fire", stsRole, 4000+i%7, i)
		env, err := b.st.slack.SendSlashCommand(userID(i%b.st.lay.users), benchChannel, text)
		if err != nil {
			return err
		}
		envs = append(envs, env)
	}
	sent := time.Since(start)
	var acks, answers []float64
	unacked := 0
	for _, env := range envs {
		d := env.AckDelay()
		if d <= 0 {
			unacked++
			d = slackfake.AckDeadline
		}
		acks = append(acks, ms(d))
	}
	unanswered := 0
	for _, env := range envs {
		at, err := b.answer(ctx, env, 60*time.Second)
		if err != nil {
			unanswered++
			continue
		}
		answers = append(answers, ms(at.Sub(env.SentAt())))
	}
	ack := figure{Name: "slash_ack", Unit: unitMS, Sum: summarize(acks), Target: 50,
		What: fmt.Sprintf("/jit request acknowledged (envelope sent → ack received, at the Slack fake), %d requests sent over %v", n, sent.Round(time.Millisecond))}
	if unacked > 0 {
		ack.Note = fmt.Sprintf("%d not acknowledged within Slack's 3 s; counted at 3 s", unacked)
	}
	b.add(ack)
	ans := figure{Name: "slash_answer", Unit: unitMS, Sum: summarize(answers),
		What: "the same requests: envelope sent → the requester's answer (request ID, who was asked) posted to the response URL"}
	if unanswered > 0 {
		ans.Note = fmt.Sprintf("%d not answered within 60 s", unanswered)
	}
	b.add(ans)
	return nil
}
