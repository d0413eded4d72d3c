package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/config"
)

// readAnchors reads the anchors of the audit chain kept where a Redis
// writer cannot reach: every entry exported to S3 (JIT_AUDIT_S3_BUCKET)
// and jitbot's anchor posts in the audit channel (SLACK_BOT_TOKEN and
// JIT_AUDIT_CHANNEL). It returns them and a note naming where they came
// from, for the verdict line.
func readAnchors(ctx context.Context, cfg config.Config) ([]auditlog.Anchor, string, error) {
	var anchors []auditlog.Anchor
	var from []string
	if cfg.AuditS3Bucket != "" {
		a, err := s3Anchors(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		anchors = append(anchors, a...)
		from = append(from, fmt.Sprintf("the S3 export in s3://%s/%s", cfg.AuditS3Bucket, cfg.AuditS3Prefix))
	}
	if cfg.SlackBotToken != "" && cfg.AuditChannel != "" {
		a, err := slackAnchors(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		anchors = append(anchors, a...)
		from = append(from, "the anchor posts in "+cfg.AuditChannel)
	}
	if len(from) == 0 {
		return nil, " (neither JIT_AUDIT_S3_BUCKET nor SLACK_BOT_TOKEN with JIT_AUDIT_CHANNEL: nothing outside Redis to compare with)", nil
	}
	return anchors, " (" + strings.Join(from, ", ") + ")", nil
}

func s3Anchors(ctx context.Context, cfg config.Config) ([]auditlog.Anchor, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// A custom endpoint (moto, MinIO) needs path-style addressing, as in
	// jitbot serve.
	custom := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = custom })
	exported, err := s3export.ReadAll(ctx, client, cfg.AuditS3Bucket, cfg.AuditS3Prefix)
	if err != nil {
		return nil, fmt.Errorf("read the S3 export: %w", err)
	}
	anchors := make([]auditlog.Anchor, 0, len(exported))
	for _, s := range exported {
		anchors = append(anchors, auditlog.Anchor{Seq: s.Entry.Seq, Hash: s.Entry.Hash, Where: s.StreamID})
	}
	return anchors, nil
}

// slackAnchors reads the audit channel's history for jitbot's own anchor
// posts; a post by anyone else is not an anchor, whatever it says.
func slackAnchors(ctx context.Context, cfg config.Config) ([]auditlog.Anchor, error) {
	api := slack.New(cfg.SlackBotToken, slack.OptionAPIURL(cfg.SlackAPIURL))
	me, err := api.AuthTestContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("slack auth.test: %w", err)
	}
	var anchors []auditlog.Anchor
	params := &slack.GetConversationHistoryParameters{ChannelID: cfg.AuditChannel, Limit: 200}
	for {
		h, err := api.GetConversationHistoryContext(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", cfg.AuditChannel, err)
		}
		for _, m := range h.Messages {
			if seq, hash, ok := auditlog.ParseAnchor(m.Text); ok && m.User == me.UserID {
				anchors = append(anchors, auditlog.Anchor{Seq: seq, Hash: hash, Where: "the audit channel post " + m.Timestamp})
			}
		}
		if params.Cursor = h.ResponseMetaData.NextCursor; params.Cursor == "" {
			return anchors, nil
		}
	}
}
