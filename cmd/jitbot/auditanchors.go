package main

import (
	"context"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/config"
)

// readAnchors reads the anchors of the audit chain kept where a Redis
// writer cannot reach: every entry exported to S3 (JIT_AUDIT_S3_BUCKET)
// names its seq and chain value. It returns them and a note naming where
// they came from, for the verdict line.
func readAnchors(ctx context.Context, cfg config.Config) ([]auditlog.Anchor, string, error) {
	if cfg.AuditS3Bucket == "" {
		return nil, " (no JIT_AUDIT_S3_BUCKET: nothing outside Redis to compare with)", nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("load AWS configuration: %w", err)
	}
	// A custom endpoint (moto, MinIO) needs path-style addressing, as in
	// jitbot serve.
	custom := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = custom })
	exported, err := s3export.ReadAll(ctx, client, cfg.AuditS3Bucket, cfg.AuditS3Prefix)
	if err != nil {
		return nil, "", fmt.Errorf("read the S3 export: %w", err)
	}
	anchors := make([]auditlog.Anchor, 0, len(exported))
	for _, s := range exported {
		anchors = append(anchors, auditlog.Anchor{Seq: s.Entry.Seq, Hash: s.Entry.Hash, Where: s.StreamID})
	}
	return anchors, fmt.Sprintf(" (the S3 export in s3://%s/%s)", cfg.AuditS3Bucket, cfg.AuditS3Prefix), nil
}
