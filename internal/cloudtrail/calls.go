package cloudtrail

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/suggest"
)

// Calls returns the calls of r's grant as jitbot rules suggest reads them:
// action, resources named, time, and whether it was refused for want of
// permission. An event whose name is not an IAM action (a console sign-in
// has no service prefix we can use) is left out; skipped counts them.
// truncated says there were more than maxEvents.
func (l *Lookup) Calls(ctx context.Context, r *grants.Request) (calls []suggest.Call, skipped int, truncated bool, err error) {
	truncated, err = l.each(ctx, r, func(e cttypes.Event) {
		a, perr := suggest.ParseAction(action(e))
		if perr != nil {
			skipped++
			return
		}
		c := suggest.Call{Action: a, At: aws.ToTime(e.EventTime), Denied: denied(errorCode(e))}
		for _, res := range e.Resources {
			c.Resources = append(c.Resources, aws.ToString(res.ResourceName))
		}
		calls = append(calls, c)
	})
	return calls, skipped, truncated, err
}

// denied says an errorCode means the caller lacked permission, as
// opposed to a call that was allowed and failed (NoSuchKey, throttling).
// AWS spells it per service: AccessDenied (S3), AccessDeniedException
// (most JSON APIs), Client.UnauthorizedOperation (EC2).
func denied(code string) bool {
	return strings.Contains(code, "AccessDenied") || strings.Contains(code, "UnauthorizedOperation")
}
