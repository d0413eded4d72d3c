package s3export

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jitbot/jitbot/internal/auditlog"
)

// ReadAll reassembles the exported log: it reads every object under
// prefix in key order, drops the copies an at-least-once export may have
// made (the same seq with the same bytes), and returns the entries sorted
// by seq, ready for auditlog.Verify. An entry has no stream ID in S3, so
// each Stored's StreamID names where it was read instead
// ("s3://bucket/key line N"), and a Break names that place.
//
// Two different entries with the same seq are not copies: that is an
// error, never a silent choice between them. It happens when objects of
// two logs share a prefix (a Redis wiped and started afresh) or when an
// object was altered.
func ReadAll(ctx context.Context, client *s3.Client, bucket, prefix string) ([]auditlog.Stored, error) {
	listPrefix := strings.Trim(prefix, "/")
	if listPrefix != "" {
		listPrefix += "/"
	}
	var keys []string
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(listPrefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, listPrefix, err)
		}
		for _, o := range page.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), ".jsonl") {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
	}
	slices.Sort(keys) // S3 lists in this order already; other stores may not

	bySeq := map[int64]auditlog.Stored{}
	for _, key := range keys {
		body, err := get(ctx, client, bucket, key)
		if err != nil {
			return nil, err
		}
		for i, line := range bytes.Split(body, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			at := fmt.Sprintf("s3://%s/%s line %d", bucket, key, i+1)
			var e auditlog.Entry
			if err := json.Unmarshal(line, &e); err != nil || e.Seq <= 0 {
				return nil, fmt.Errorf("%s: not an audit entry", at)
			}
			if seen, ok := bySeq[e.Seq]; ok {
				if !bytes.Equal(seen.Raw, line) {
					return nil, fmt.Errorf("%s: entry %d differs from the one at %s", at, e.Seq, seen.StreamID)
				}
				continue
			}
			bySeq[e.Seq] = auditlog.Stored{StreamID: at, Entry: e, Raw: line}
		}
	}
	out := make([]auditlog.Stored, 0, len(bySeq))
	for _, s := range bySeq {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b auditlog.Stored) int { return cmp.Compare(a.Entry.Seq, b.Entry.Seq) })
	return out, nil
}

func get(ctx context.Context, client *s3.Client, bucket, key string) ([]byte, error) {
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return body, nil
}
