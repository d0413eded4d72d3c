package rules

import (
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// withPrepared is the provider of the people's environments: the native
// types', serving a Prepared user's fields as they were converted once.
func withPrepared(p types.Provider) types.Provider { return preparedFields{p} }

// preparedFields serves the fields of a Prepared user from its converted
// values and everything else from the native types it wraps.
type preparedFields struct{ types.Provider }

func (p preparedFields) FindStructFieldType(structType, fieldName string) (*types.FieldType, bool) {
	ft, ok := p.Provider.FindStructFieldType(structType, fieldName)
	if !ok || structType != "rules.celUser" {
		return ft, ok
	}
	native := ft.GetFrom
	fast := *ft
	fast.GetFrom = func(obj any) (any, error) {
		if u, ok := obj.(*celUser); ok && u.converted != nil {
			if v, ok := u.converted[fieldName]; ok {
				return v, nil
			}
		}
		return native(obj)
	}
	return &fast, true
}

// convert returns the CEL fields of u as CEL values, as the native types
// would convert them at each use, except that lists of strings hold their
// elements already converted, so that `"sre" in user.groups` converts none.
func convert(a types.Adapter, u *celUser) map[string]ref.Val {
	rv := reflect.ValueOf(u).Elem()
	m := make(map[string]ref.Val, rv.NumField())
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		name := f.Tag.Get("cel")
		if !f.IsExported() || name == "" {
			continue
		}
		switch v := rv.Field(i).Interface().(type) {
		case []string:
			elems := make([]ref.Val, len(v))
			for i, s := range v {
				elems[i] = types.String(s)
			}
			m[name] = types.NewRefValList(a, elems)
		default:
			m[name] = a.NativeToValue(v)
		}
	}
	return m
}

// Prepare returns u ready for evaluating the rules of many roles in one
// call, as /jit roles does over the whole catalog. Its CEL form is built
// once, instead of at every rule, and it remembers each decision, so a rule
// that many roles share is evaluated once for them all (a rule's decision
// depends only on its text, the user, and the request and moment if it
// reads them). Rules evaluated with the returned User decide as they do
// with u, but without a timer each: the cost limit stops each evaluation
// and the caller bounds the call (see CallTimeout). A copy whose fields
// are changed afterwards is evaluated afresh and timed as usual. The
// returned User is safe for concurrent use.
func Prepare(u User) User {
	env, err := celEnv()
	if err != nil {
		return u // no catalog loads either
	}
	// Its own copy of the lists, so that a list changed in place later is
	// seen as a change.
	from := u
	from.Groups, from.OnCallSchedules = slices.Clone(u.Groups), slices.Clone(u.OnCallSchedules)
	from.prepared = nil
	plain := toCEL(from)
	converted := *plain
	converted.converted = convert(env.CELTypeAdapter(), plain)
	u.prepared = &preparedUser{from: from, plain: plain, converted: &converted, decided: map[decisionKey]decision{}}
	return u
}

// preparedUser is a User's CEL form, with and without its fields
// converted, the fields it was made from, and the decisions made for it.
type preparedUser struct {
	from             User
	plain, converted *celUser

	mu      sync.Mutex
	decided map[decisionKey]decision
}

// decisionKey is what a decision depends on: the rule, the fields of the
// request it reads (the others zero), and the moment if it reads it (zero
// otherwise).
type decisionKey struct {
	p       *program
	request celRequest
	now     time.Time
}

// requestFields is a set of the fields of request.
type requestFields uint8

const (
	readsRole requestFields = 1 << iota
	readsDuration
	readsReason
	readsIncident
	readsAccount
	readsStart
	readsWholeRequest = readsRole | readsDuration | readsReason | readsIncident | readsAccount | readsStart
)

// requestField maps celRequest's CEL field names to their bit.
var requestField = map[string]requestFields{
	"role": readsRole, "duration": readsDuration, "reason": readsReason, "incident": readsIncident,
	"account": readsAccount, "start": readsStart,
}

// only returns r with the fields outside f zeroed: what a decision on r
// depends on.
func (f requestFields) only(r celRequest) celRequest {
	var k celRequest
	if f&readsRole != 0 {
		k.Role = r.Role
	}
	if f&readsDuration != 0 {
		k.Duration = r.Duration
	}
	if f&readsReason != 0 {
		k.Reason = r.Reason
	}
	if f&readsIncident != 0 {
		k.Incident = r.Incident
	}
	if f&readsAccount != 0 {
		k.Account = r.Account
	}
	if f&readsStart != 0 {
		k.Start = r.Start
	}
	return k
}

type decision struct {
	out any
	err error
}

func (pu *preparedUser) eval(p *program, req celRequest, now time.Time) (any, error) {
	k := decisionKey{p: p, request: p.reads.only(req)}
	if p.usesNow {
		k.now = now
	}
	pu.mu.Lock()
	d, ok := pu.decided[k]
	pu.mu.Unlock()
	if ok {
		return d.out, d.err
	}
	v := &vars{user: pu.converted, request: req, now: now}
	if p.usesWholeUser {
		v.user = pu.plain
	}
	d.out, d.err = p.result(p.prg.Eval(v))
	pu.mu.Lock()
	pu.decided[k] = d
	pu.mu.Unlock()
	return d.out, d.err
}

// sameCEL reports whether CEL sees a and b alike. Strings that share
// memory compare in constant time, so for a prepared user this costs a
// few comparisons.
func sameCEL(a, b User) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Email == b.Email && a.IsGuest == b.IsGuest &&
		a.IsExternal == b.IsExternal && a.OnCall == b.OnCall &&
		slices.Equal(a.Groups, b.Groups) && slices.Equal(a.OnCallSchedules, b.OnCallSchedules)
}
