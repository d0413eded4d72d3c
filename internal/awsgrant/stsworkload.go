package awsgrant

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/jitbot/jitbot/internal/grants"
)

// sourceIdentity is the SourceIdentity of g's session: the person's email,
// or for a workload "<issuer name>-<subject>", in STS's alphabet and
// length. CloudTrail shows it on every call of the session and of any
// role chained from it, and the session cannot change it. "" when too
// short for STS (2 characters), which then leaves it out.
func sourceIdentity(g grants.Grant) string {
	id := g.RequesterEmail
	if w := g.Workload; w != nil {
		id = w.IssuerName + "-" + w.Subject
	}
	id = sanitizeName(id, maxSourceIdentity)
	if len(id) < 2 {
		return ""
	}
	return id
}

// workloadTags are the session tags naming g's job: its repository and
// run, each left out when the token did not have it. None for a person.
func workloadTags(g grants.Grant) []ststypes.Tag {
	w := g.Workload
	if w == nil {
		return nil
	}
	var tags []ststypes.Tag
	for _, t := range []struct{ key, value string }{{tagRepository, w.Repository}, {tagRun, w.RunID}} {
		if v := tagValue(t.value); v != "" {
			tags = append(tags, ststypes.Tag{Key: aws.String(t.key), Value: aws.String(v)})
		}
	}
	return tags
}
