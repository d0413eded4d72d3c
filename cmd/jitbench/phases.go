package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// emulatorRTTs measures the round trip of each emulator on the path the
// bot uses (moto through the recording proxy, the Slack fake through the
// timing proxy, Redis directly), so figures can be stated relative to it.
func (b *bench) emulatorRTTs(ctx context.Context) error {
	n := b.cfg.rttSamples
	viaProxy := iam.NewFromConfig(testenv.StaticAWSConfig(b.st.aws.URL()))
	in := &iam.AddUserToGroupInput{GroupName: aws.String(groupName(0)), UserName: aws.String(iamUser(0))}
	out := &iam.RemoveUserFromGroupInput{GroupName: in.GroupName, UserName: in.UserName}
	var add, remove []float64
	for range n {
		t := time.Now()
		if _, err := viaProxy.AddUserToGroup(ctx, in); err != nil {
			return fmt.Errorf("moto round trip: %w", err)
		}
		add = append(add, ms(time.Since(t)))
		t = time.Now()
		if _, err := viaProxy.RemoveUserFromGroup(ctx, out); err != nil {
			return fmt.Errorf("moto round trip: %w", err)
		}
		remove = append(remove, ms(time.Since(t)))
	}
	b.st.aws.Reset()
	api := slackClient(b.st.web.URL()+"/api/", b.st.slack.BotToken())
	var web []float64
	for range n {
		t := time.Now()
		if _, err := api.GetUserInfoContext(ctx, userID(0)); err != nil {
			return fmt.Errorf("Slack fake round trip: %w", err)
		}
		web = append(web, ms(time.Since(t)))
	}
	b.st.web.Reset()
	var ping []float64
	for range n {
		t := time.Now()
		if err := b.st.store.Ping(ctx); err != nil {
			return fmt.Errorf("redis round trip: %w", err)
		}
		ping = append(ping, ms(time.Since(t)))
	}
	b.motoRTT = summarize(remove)
	b.slackRTT = summarize(web)
	b.add(figure{Name: "moto_rtt", What: "moto RemoveUserFromGroup round trip through the recording proxy, idle (the AWS emulator's floor)", Unit: unitMS, Sum: b.motoRTT})
	b.add(figure{Name: "moto_add_rtt", What: "moto AddUserToGroup round trip through the recording proxy, idle", Unit: unitMS, Sum: summarize(add)})
	b.add(figure{Name: "slack_rtt", What: "Slack fake users.info round trip through the timing proxy, idle", Unit: unitMS, Sum: b.slackRTT})
	b.add(figure{Name: "redis_rtt", What: "redis-server PING round trip, idle", Unit: unitMS, Sum: summarize(ping)})
	return nil
}

// waitFor is slackfake.Wait that also gives up when ctx is done.
func waitFor(ctx context.Context, what string, timeout time.Duration, cond func() bool) error {
	err := slackfake.Wait(what, timeout, func() bool { return ctx.Err() != nil || cond() })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
