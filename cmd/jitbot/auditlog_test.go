package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/cloudtrail/cloudtrailfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestAuditLogThroughTheBinary: a flow leaves its entries in order in the
// durable log and in the bot's log; export and verify work from Redis and
// from a file; an edit in Redis or in the file is found and named; no
// secret is in any entry.
func TestAuditLogThroughTheBinary(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.dmWith(t, "UALICE", id, "export AWS_SECRET_ACCESS_KEY=")
	secret := exportValue(t, dm, "AWS_SECRET_ACCESS_KEY")
	b.command(t, "UALICE", "revoke "+id)
	b.waitAudit(t, id, 4)

	env := cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog)
	r := runBinary(t, env, "audit", "export")
	if r.code != 0 {
		t.Fatalf("audit export: %+v", r)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e auditlog.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if e.RequestID == id {
			types = append(types, e.Type)
		}
		if e.Type == "granted" && (e.AccessKeyID == "" || e.GrantAWSRequestID == "" || e.CatalogSHA256 == "" || len(e.Approvals) != 1) {
			t.Errorf("granted entry lacks evidence: %s", line)
		}
	}
	if want := []string{"requested", "approved", "granted", "revoked"}; !slices.Equal(types, want) {
		t.Errorf("entries of %s = %v, want %v", id, types, want)
	}
	if strings.Contains(r.stdout, secret) {
		t.Errorf("the secret access key is in the audit log")
	}
	if !strings.Contains(b.logs.text(), `"msg":"audit"`) {
		t.Errorf("the bot's log has no audit records")
	}

	if v := runBinary(t, env, "audit", "verify"); v.code != 0 || !strings.Contains(v.stdout, "chain intact") {
		t.Errorf("verify of an untouched log: %+v", v)
	}
	csvOut := runBinary(t, env, "audit", "export", "--since", "1h", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(csvOut.stdout)).ReadAll()
	if err != nil || len(rows) < 5 || rows[0][0] != "seq" {
		t.Errorf("csv export: %v rows, err %v", len(rows), err)
	}

	// An exported file verifies, and an edit in it is named by line.
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	writeFile(t, file, r.stdout)
	if v := runBinary(t, env, "audit", "verify", "--file", file); v.code != 0 {
		t.Errorf("verify of the export: %+v", v)
	}
	writeFile(t, file, strings.Replace(r.stdout, "checking replica lag", "checking replica lug", 1))
	if v := runBinary(t, env, "audit", "verify", "--file", file); v.code != 1 || !strings.Contains(v.stdout, "line 1") {
		t.Errorf("verify of an edited export: %+v", v)
	}

	// An entry edited in Redis itself is named by its stream ID.
	c := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	defer c.Close()
	ctx := context.Background()
	msgs, err := c.XRange(ctx, "{jitbot}:audit", "-", "+").Result()
	if err != nil || len(msgs) < 3 {
		t.Fatalf("XRANGE: %v, %d entries", err, len(msgs))
	}
	// Rebuild the stream with the second entry's reason changed.
	c.Del(ctx, "{jitbot}:audit")
	var secondID string
	for i, m := range msgs {
		raw := m.Values["e"].(string)
		if i == 1 {
			raw = strings.Replace(raw, `"actor":"ULEAD1"`, `"actor":"UEVE"`, 1)
		}
		newID, err := c.XAdd(ctx, &redis.XAddArgs{Stream: "{jitbot}:audit", Values: map[string]any{"e": raw}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			secondID = newID
		}
	}
	v := runBinary(t, env, "audit", "verify")
	if v.code != 1 || !strings.Contains(v.stdout, secondID) {
		t.Errorf("verify after an edit in Redis: %+v; want exit 1 naming %s", v, secondID)
	}
}

func TestAuditCommandsNeedRedis(t *testing.T) {
	r := runBinary(t, cleanEnv(), "audit", "verify")
	if r.code != 2 || !strings.Contains(r.stderr, "REDIS_URL: required") {
		t.Errorf("audit verify without REDIS_URL: %+v", r)
	}
	r = runBinary(t, cleanEnv(), "audit", "export", "--format", "xml")
	if r.code != 2 {
		t.Errorf("audit export --format xml: %+v", r)
	}
}

// TestUsageLookupThroughTheBinary: after a grant ends jitbot asks
// CloudTrail what it was used for, at once and after the delivery delay
// (2 s here), and posts the summary in the audit thread and the log.
func TestUsageLookupThroughTheBinary(t *testing.T) {
	ct := cloudtrailfake.Start(t)
	b := startBot(t, "JIT_USAGE_LOOKUP=true", "JIT_USAGE_DELAY=2s", "AWS_ENDPOINT_URL_CLOUDTRAIL="+ct.URL())

	used := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", used), "jit_approve", used)
	key := exportValue(t, b.dmWith(t, "UALICE", used, "export AWS_ACCESS_KEY_ID="), "AWS_ACCESS_KEY_ID")
	now := time.Now()
	ct.Add(
		cloudtrailfake.Event{Name: "DescribeDBInstances", Source: "rds.amazonaws.com", AccessKeyID: key, Time: now},
		cloudtrailfake.Event{Name: "DescribeDBInstances", Source: "rds.amazonaws.com", AccessKeyID: key, Time: now},
		cloudtrailfake.Event{Name: "DeleteDBInstance", Source: "rds.amazonaws.com", AccessKeyID: key, Time: now, ErrorCode: "AccessDenied"},
	)
	b.command(t, "UALICE", "revoke "+used)

	unused := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-43"))
	b.click(t, "ULEAD2", b.approvalDM(t, "ULEAD2", unused), "jit_approve", unused)
	b.dmWith(t, "UALICE", unused, "export AWS_ACCESS_KEY_ID=")
	b.command(t, "UALICE", "revoke "+unused)

	want := "usage from CloudTrail: 3 API calls, 1 failed; top: rds:DescribeDBInstances ×2, rds:DeleteDBInstance ×1"
	b.slack.WaitFor(t, "both looks at the used grant", 20*time.Second, func() bool {
		a := b.auditText(used)
		return strings.Contains(a, want+" (first look)") && strings.Contains(a, want+" (after CloudTrail's delivery delay)")
	})
	b.slack.WaitFor(t, "the unused grant", 20*time.Second, func() bool {
		return strings.Contains(b.auditText(unused), "usage from CloudTrail: never used (first look)")
	})
	if !strings.Contains(b.logs.text(), `"type":"usage"`) {
		t.Errorf("the usage summaries are not in the audit log")
	}
}

// TestAuditExportToS3ThroughTheBinary: with JIT_AUDIT_S3_BUCKET set, the
// audit log reaches S3 (moto) and the exported copy verifies against the
// chain in Redis.
func TestAuditExportToS3ThroughTheBinary(t *testing.T) {
	moto := testenv.StartMoto(t)
	s3c := s3.NewFromConfig(testenv.AWSConfig(t, moto.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("evidence")}); err != nil {
		t.Fatal(err)
	}
	// The bot's AWS calls all go to moto through the recording proxy; this
	// test's bucket lives in a moto of its own, reached directly.
	b := startBot(t, "JIT_AUDIT_S3_BUCKET=evidence", "JIT_AUDIT_S3_INTERVAL=10s", "AWS_ENDPOINT_URL_S3="+moto.URL())
	id := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.approvalDM(t, "ULEAD1", id)

	l := auditlog.New(redis.NewClient(&redis.Options{Addr: b.redis.Addr()}), "jitbot", nil)
	var exported []auditlog.Stored
	b.slack.WaitFor(t, "the request's entries reach S3", 30*time.Second, func() bool {
		var err error
		exported, err = s3export.ReadAll(t.Context(), s3c, "evidence", "jitbot/audit")
		return err == nil && len(exported) > 0 && strings.Contains(string(exported[len(exported)-1].Raw), id)
	})
	inRedis, err := l.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(exported) != len(inRedis) {
		t.Errorf("%d entries in S3, %d in Redis", len(exported), len(inRedis))
	}
	if n, br := auditlog.Verify(exported, 0, "", []byte(testSigningKey)); br != nil || n == 0 {
		t.Errorf("the S3 copy does not verify: %d entries, %v", n, br)
	}
}
