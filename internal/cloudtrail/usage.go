// Package cloudtrail finds out what a grant was used for, from CloudTrail, so
// that the evidence says not only who had access but what they did with it
// (or that they never used it). After a grant ends jitbot looks once at
// once and again after CloudTrail's delivery delay, and posts a summary.
package cloudtrail

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ctapi "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/jitbot/jitbot/internal/grants"
)

// maxEvents bounds how much of a grant's activity one look reads: enough
// for a summary, not a CloudTrail export.
const maxEvents = 2000

// Summary is what a grant was used for.
type Summary struct {
	Calls      int
	Errors     int
	TopActions []ActionCount // at most 5, most frequent first
	Truncated  bool          // more than maxEvents: the figures are a floor
}

// ActionCount is how often one API action was called.
type ActionCount struct {
	Action string // e.g. s3:GetObject
	Count  int
}

// String is the summary in one line, for the audit thread and log.
func (s Summary) String() string {
	if s.Calls == 0 {
		return "never used"
	}
	var top []string
	for _, a := range s.TopActions {
		top = append(top, fmt.Sprintf("%s ×%d", a.Action, a.Count))
	}
	more := ""
	if s.Truncated {
		more = " or more"
	}
	return fmt.Sprintf("%d API calls%s, %d failed; top: %s", s.Calls, more, s.Errors, strings.Join(top, ", "))
}

// Lookup reads CloudTrail.
type Lookup struct {
	ct *ctapi.Client
}

// NewLookup returns a Lookup on cfg; the bot needs cloudtrail:LookupEvents.
func NewLookup(cfg aws.Config) *Lookup { return &Lookup{ct: ctapi.NewFromConfig(cfg)} }

// Summarize looks up the calls of r's grant: by its STS access key, or by
// the IAM user within the grant's window for an IAM group grant.
func (l *Lookup) Summarize(ctx context.Context, r *grants.Request) (Summary, error) {
	counts := map[string]int{}
	var s Summary
	truncated, err := l.each(ctx, r, func(e cttypes.Event) {
		s.Calls++
		counts[action(e)]++
		if failed(e) {
			s.Errors++
		}
	})
	if err != nil {
		return Summary{}, err
	}
	s.Truncated = truncated
	for a, n := range counts {
		s.TopActions = append(s.TopActions, ActionCount{a, n})
	}
	slices.SortFunc(s.TopActions, func(a, b ActionCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Action, b.Action)
	})
	s.TopActions = s.TopActions[:min(len(s.TopActions), 5)]
	return s, nil
}

// each calls f on every CloudTrail event of r's grant, up to maxEvents;
// true means there were more.
func (l *Lookup) each(ctx context.Context, r *grants.Request, f func(cttypes.Event)) (bool, error) {
	attr := cttypes.LookupAttribute{AttributeKey: cttypes.LookupAttributeKeyAccessKeyId, AttributeValue: aws.String(r.AccessKeyID)}
	if r.Backend == grants.BackendGroup || r.AccessKeyID == "" {
		attr = cttypes.LookupAttribute{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String(r.Principal)}
	}
	end := r.RevokedAt
	if end.IsZero() || end.After(r.ExpiresAt) && !r.ExpiresAt.IsZero() {
		end = r.ExpiresAt
	}
	in := &ctapi.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{attr},
		StartTime:        aws.Time(r.GrantedAt), EndTime: aws.Time(end),
		MaxResults: aws.Int32(50),
	}
	n := 0
	p := ctapi.NewLookupEventsPaginator(l.ct, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("cloudtrail LookupEvents for %s: %w", r.ID, err)
		}
		for _, e := range page.Events {
			f(e)
		}
		if n += len(page.Events); n >= maxEvents {
			return p.HasMorePages(), nil
		}
	}
	return false, nil
}

// action names a call the way IAM policies do: s3:GetObject.
func action(e cttypes.Event) string {
	svc, _, _ := strings.Cut(aws.ToString(e.EventSource), ".")
	return svc + ":" + aws.ToString(e.EventName)
}

// failed says whether the call failed.
func failed(e cttypes.Event) bool { return errorCode(e) != "" }

// errorCode reads the errorCode of the full CloudTrail record.
func errorCode(e cttypes.Event) string {
	var rec struct {
		ErrorCode string `json:"errorCode"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec)
	return rec.ErrorCode
}
