package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Creating 10,000 grants through Slack would take far longer than the
// minute they are to expire in, so the revocation phases seed them. The
// IAM memberships are real (AddUserToGroup in moto). The records are
// copies of a template that the real service made: makeTemplate grants
// one request through grants.Service in this process (redisstore on the
// bench's Redis, the aws_iam_group backend on moto) and revokes it again;
// each seeded record is that record with its own ID, requester, role,
// IAM user and AWS request ID, every timestamp moved by the same amount,
// written through redisstore's Create, the Lua script the service writes
// with. So seeded records follow the service's record format as it
// changes, without the bench knowing its fields.

// templateUser is the Slack user and IAM user of the template grant; it
// has its own IAM user so that no seeded grant shares its membership.
const (
	templateUserID = "UTEMPLATE"
	templateIAM    = "bench-template"
	// templateDuration is short enough that the service sets no expiry
	// warning, as for the short grants of an incident.
	templateDuration = 5 * time.Minute
)

// seeded is one grant written by the bench.
type seeded struct {
	id      grants.RequestID
	key     string // grantSpec.key
	expires time.Time
}

// grantSpec is what makes seeded grant k its own.
type grantSpec struct {
	role      string
	requester int // the engineer's index
	principal string
	target    string
	account   string // aws_sso only
	// key names the access at the proxy: "group/user" for an IAM
	// membership, "account/user ID" for an account assignment.
	key string
}

// makeTemplate grants one request of role (in account, for aws_sso)
// through the real service, revokes it, and returns the record as it was
// when active.
func makeTemplate(ctx context.Context, store grants.Store, cat *rules.Catalog, dir grants.Directory, awsCfg aws.Config, role, account string) (*grants.Request, error) {
	log := slog.New(slog.DiscardHandler)
	svc, err := app.NewService(awsCfg, grants.Options{
		Store: store, Catalog: cat, Directory: dir, Logger: log, MinDuration: time.Second,
	}, "")
	if err != nil {
		return nil, err
	}
	req, err := svc.Request(ctx, grants.RequestInput{UserID: templateUserID, Role: role, Account: account, Duration: templateDuration, Reason: "bench: the template of the seeded grants"})
	if err != nil {
		return nil, fmt.Errorf("template request: %w", err)
	}
	if _, err := svc.Approve(ctx, req.ID, approverID); err != nil {
		return nil, fmt.Errorf("template approval: %w", err)
	}
	active, err := store.Get(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if active.State != grants.Active {
		return nil, fmt.Errorf("template grant %s is %s, not active", active.ID, active.State)
	}
	if _, err := svc.Revoke(ctx, req.ID, templateUserID, "bench template"); err != nil {
		return nil, fmt.Errorf("revoke the template grant: %w", err)
	}
	return active, nil
}

// cloneGrant is tmpl as a grant of role to requester, of spec's principal
// and target, expiring at expires, with the AWS request ID of the call
// that gave the access.
func cloneGrant(tmpl *grants.Request, role *rules.Role, requester rules.User, spec grantSpec, expires time.Time, awsRequestID string) (*grants.Request, error) {
	data, err := json.Marshal(tmpl)
	if err != nil {
		return nil, err
	}
	var r grants.Request
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	shiftTimes(reflect.ValueOf(&r).Elem(), expires.Sub(tmpl.ExpiresAt))
	r.ID = grants.NewRequestID()
	r.Requester = requester
	r.Role, r.Target, r.Principal, r.Account = role.Name, spec.target, spec.principal, spec.account
	r.Rule, r.ApprovalsRequired, r.SessionPolicy = role.Eligible, role.ApprovalsRequired, role.SessionPolicy
	r.GrantAWSRequestID = awsRequestID
	return &r, nil
}

var timeType = reflect.TypeFor[time.Time]()

// shiftTimes adds d to every non-zero time.Time in v, in nested structs
// and slices too.
func shiftTimes(v reflect.Value, d time.Duration) {
	switch {
	case v.Type() == timeType:
		if t := v.Interface().(time.Time); !t.IsZero() && v.CanSet() {
			v.Set(reflect.ValueOf(t.Add(d)))
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				shiftTimes(v.Field(i), d)
			}
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			shiftTimes(v.Index(i), d)
		}
	case v.Kind() == reflect.Pointer && !v.IsNil():
		shiftTimes(v.Elem(), d)
	}
}

// seed writes one granted record of kind per pair [0, len(expires)),
// pair k expiring at expires[k]. requesters[u] is engineer u as the bot's
// directory sees them; awsIDs[k] is the request ID of the call that gave
// pair k its access.
func (s *stack) seed(ctx context.Context, kind grantKind, catalog *rules.Catalog, requesters []rules.User, expires []time.Time, awsIDs []string) ([]seeded, error) {
	out := make([]seeded, len(expires))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for k, at := range expires {
		spec := kind.spec(k)
		role, ok := catalog.Role(spec.role)
		if !ok {
			return nil, fmt.Errorf("catalog has no role %s", spec.role)
		}
		g.Go(func() error {
			r, err := cloneGrant(kind.tmpl, role, requesters[spec.requester], spec, at, awsIDs[k])
			if err != nil {
				return err
			}
			// Like the service, draw another ID on the rare collision
			// (30⁶ IDs: among 10,000 one is likely).
			for range 5 {
				if err = s.store.Create(ctx, r); !errors.Is(err, grants.ErrExists) {
					break
				}
				r.ID = grants.NewRequestID()
			}
			if err != nil {
				return fmt.Errorf("seed grant %d: %w", k, err)
			}
			out[k] = seeded{id: r.ID, key: spec.key, expires: at}
			return nil
		})
	}
	return out, g.Wait()
}
