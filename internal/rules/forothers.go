package rules

import (
	"reflect"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/google/cel-go/cel"
)

// celForOthersEnv is that of request_for_others, which is about two
// people: user, who files the request, and grantee, who it is for. Both
// have the fields of user, served alike for Prepared users.
var celForOthersEnv = sync.OnceValues(func() (*cel.Env, error) {
	return newEnv("user", reflect.TypeFor[celUser](), withPrepared, cel.Variable("grantee", cel.ObjectType("rules.celUser")))
})

// MayRequestFor evaluates the role's request_for_others rule: whether
// filer may ask for the role on grantee's behalf, for in at now. False
// when the role has no such rule: then people ask only for themselves.
func (r *Role) MayRequestFor(filer, grantee User, in Input, now time.Time) (bool, error) {
	if r.requestForOthers == nil {
		return false, nil
	}
	return r.requestForOthers.evalForOthers(filer, grantee, in, now)
}

// compileForOthers compiles the role's request_for_others rule in its own
// environment; nil when the role has none or it does not compile.
func (l *loader) compileForOthers(r *Role, keys map[string]*ast.MappingValueNode) *program {
	if r.RequestForOthers == "" {
		return nil
	}
	env, err := celForOthersEnv()
	if err != nil {
		l.addf(keys["request_for_others"].Key, "role %s: request_for_others: cannot set up CEL: %v", r.Name, err)
		return nil
	}
	return l.compileIn(env, r, "request_for_others", r.RequestForOthers, boolType, keys)
}

// evalForOthers evaluates a rule about filer and grantee. Its decisions
// are not remembered: they depend on both people, and a Prepared user
// remembers only those about itself. So it runs under the timer, as for a
// user that is not Prepared, but still reads what Prepare converted.
func (p *program) evalForOthers(filer, grantee User, in Input, now time.Time) (bool, error) {
	v := &vars{user: p.celOf(filer), grantee: p.celOf(grantee), request: toCELRequest(in, now), now: now}
	return p.boolOf(p.timedEval(v))
}

// celOf is what p sees of u: the form Prepare made of u while it is still
// u's, with the fields converted unless p uses the person as a whole
// (which must then be equal to one built in CEL); else a fresh one.
func (p *program) celOf(u User) *celUser {
	pu := u.prepared
	switch {
	case pu == nil || !sameCEL(pu.from, u):
		return toCEL(u)
	case p.usesWholeUser:
		return pu.plain
	}
	return pu.converted
}
