package rules

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// costLimit bounds the work one evaluation may do. Real rules cost tens to
// a few hundred; a comprehension over a large list is refused instead of
// stalling the bot.
const costLimit = 10_000

// evalTimeout is the backstop for anything the cost limit does not count,
// for one evaluation of a user that is not Prepared. A rule at the cost
// limit takes about a millisecond, so the limit, with its clear message,
// always comes first; at 100 ms a loaded machine (CI under -race) let the
// timer win now and then.
const evalTimeout = time.Second

// CallTimeout bounds a call that evaluates the rules of many roles for one
// Prepared user, such as /jit roles over the whole catalog. Such
// evaluations have no timer each (setting one up cost as much as a simple
// rule); the caller checks this bound between them, and the cost limit
// stops each one. A 1,000-role catalog takes a few milliseconds.
const CallTimeout = time.Second

// celUser and celRequest are what CEL sees of User and Input. Declaring
// them as native types makes cel-go check field names and types at load
// time, so `user.emial` is an error in `rules check`, not a false at 3 a.m.
type celUser struct {
	ID              string   `cel:"id"`
	Name            string   `cel:"name"`
	Email           string   `cel:"email"`
	Groups          []string `cel:"groups"`
	IsGuest         bool     `cel:"is_guest"`
	IsExternal      bool     `cel:"is_external"`
	OnCall          bool     `cel:"oncall"`
	OnCallSchedules []string `cel:"oncall_schedules"`

	// converted holds the fields above as CEL values, by CEL name, for a
	// Prepared user; nil otherwise. Rules then read them as they are
	// instead of converting them at every use (the groups list alone was
	// a third of the allocations of a simple rule).
	converted map[string]ref.Val
}

type celRequest struct {
	Role     string        `cel:"role"`
	Account  string        `cel:"account"`
	Duration time.Duration `cel:"duration"`
	Reason   string        `cel:"reason"`
	Incident string        `cel:"incident"`
	Start    time.Time     `cel:"start"`
}

// celEnv is the CEL environment of every catalog. Building one registers the
// native types and the string library, the same work for every load and
// reload; a cel.Env is safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return newEnv("user", reflect.TypeFor[celUser](), withPrepared)
})

// celApproverEnv is that of approver_rule, which is about who approves:
// the same fields, named approver, and no user, so that a rule cannot mix
// up the two.
var celApproverEnv = sync.OnceValues(func() (*cel.Env, error) {
	return newEnv("approver", reflect.TypeFor[celUser](), withPrepared)
})

// newEnv declares who (user, approver or workload) as the native type of,
// beside request, now and the variables of extra; wrap wraps the native
// types' provider to serve some fields its own way.
func newEnv(who string, of reflect.Type, wrap func(types.Provider) types.Provider, extra ...cel.EnvOption) (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.NativeTypes(of, reflect.TypeFor[celRequest](), ext.ParseStructTags(true)),
		ext.Strings(),
		cel.Variable(who, cel.ObjectType("rules."+of.Name())),
		cel.Variable("request", cel.ObjectType("rules.celRequest")),
		cel.Variable("now", cel.TimestampType),
		// After NativeTypes, whose provider it wraps.
		func(e *cel.Env) (*cel.Env, error) {
			return cel.CustomTypeProvider(wrap(e.CELTypeProvider()))(e)
		},
	}
	return cel.NewEnv(append(opts, extra...)...)
}

// program is one compiled expression of a role.
type program struct {
	src string
	prg cel.Program
	// reads says which fields of request the rule reads, and usesNow
	// whether it reads the clock. A rule decides alike for requests that
	// differ only in fields it does not read, and at every moment if it
	// does not read now: /jit roles asks the same rule for every role.
	reads   requestFields
	usesNow bool
	// usesWholeUser says whether the rule uses user (or approver, or
	// grantee) other than to read a field (user == …, type(user)): it
	// then sees people without the converted fields, which would make
	// them unequal to one built in CEL.
	usesWholeUser bool
}

// exprError is a compile error at a line and column of the expression.
type exprError struct {
	line, col int
	msg       string
}

func (e *exprError) Error() string { return e.msg }

// compile type-checks src and requires its result to be of type want.
func compile(env *cel.Env, src string, want *cel.Type) (*program, error) {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		first := iss.Errors()[0]
		msgs := make([]string, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			msgs = append(msgs, e.Message)
		}
		return nil, &exprError{line: first.Location.Line(), col: first.Location.Column() + 1, msg: strings.Join(msgs, "; ")}
	}
	if !ast.OutputType().IsExactType(want) {
		return nil, &exprError{line: 1, msg: fmt.Sprintf("must give a %s, but gives a %s", want, ast.OutputType())}
	}
	// OptOptimize compiles constant regular expressions (matches) once,
	// here, instead of at every evaluation.
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	p := &program{src: src, prg: prg}
	// The checker resolved every name the rule uses to its declaration.
	checked := ast.NativeRep()
	selected := map[int64]string{} // names whose field the rule reads: the field
	celast.PostOrderVisit(checked.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.SelectKind {
			selected[e.AsSelect().Operand().ID()] = e.AsSelect().FieldName()
		}
	}))
	for id, ref := range checked.ReferenceMap() {
		switch ref.Name {
		case "user", "approver", "grantee":
			_, ok := selected[id]
			p.usesWholeUser = p.usesWholeUser || !ok
		case "request":
			// request used other than to read a field (request == …,
			// [request], cel.bind) counts as reading every field.
			f, ok := requestField[selected[id]]
			if !ok {
				f = readsWholeRequest
			}
			p.reads |= f
		case "now":
			p.usesNow = true
		}
	}
	return p, nil
}

func toCEL(u User) *celUser {
	return &celUser{ID: u.ID, Name: u.Name, Email: u.Email, Groups: nonNil(u.Groups), IsGuest: u.IsGuest,
		IsExternal: u.IsExternal, OnCall: u.OnCall, OnCallSchedules: nonNil(u.OnCallSchedules)}
}

// vars are the variables of one evaluation. CEL asks for a variable only
// when the rule uses it, and reads the fields of user and request in place.
// A workload rule has a workload instead of a user; request_for_others
// has a grantee as well.
type vars struct {
	user     *celUser
	grantee  *celUser
	workload *celWorkload
	request  celRequest
	now      time.Time
}

func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "user", "approver":
		return v.user, true
	case "grantee":
		return v.grantee, true
	case "workload":
		return v.workload, true
	case "request":
		return &v.request, true
	case "now":
		return types.Timestamp{Time: v.now}, true
	}
	return nil, false
}

func (v *vars) Parent() interpreter.Activation { return nil }

func (p *program) eval(u User, in Input, now time.Time) (any, error) {
	req := toCELRequest(in, now)
	if pu := u.prepared; pu != nil && sameCEL(pu.from, u) {
		return pu.eval(p, req, now)
	}
	return p.timedEval(&vars{user: toCEL(u), request: req, now: now})
}

// timedEval evaluates p over v, stopped by evalTimeout as well as by the
// cost limit.
func (p *program) timedEval(v *vars) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), evalTimeout)
	defer cancel()
	return p.result(p.prg.ContextEval(ctx, v))
}

// result is the value of an evaluation, or its error naming the rule.
func (p *program) result(out ref.Val, _ *cel.EvalDetails, err error) (any, error) {
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", p.src, err)
	}
	return out.Value(), nil
}

func (p *program) evalBool(u User, in Input, now time.Time) (bool, error) {
	return p.boolOf(p.eval(u, in, now))
}

// boolOf is the outcome of an evaluation that must give a bool.
func (p *program) boolOf(v any, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %T, want bool", p.src, v)
	}
	return b, nil
}

func (p *program) evalString(u User, in Input, now time.Time) (string, error) {
	v, err := p.eval(u, in, now)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("evaluate %q: got %T, want string", p.src, v)
	}
	return s, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var (
	boolType   = types.BoolType
	stringType = types.StringType
)
