package rules

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// costLimit bounds the work one evaluation may do. Real rules cost tens to
// a few hundred; a comprehension over a large list is refused instead of
// stalling the bot.
const costLimit = 10_000

// evalTimeout is the backstop for anything the cost limit does not count.
const evalTimeout = 100 * time.Millisecond

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
}

type celRequest struct {
	Role     string        `cel:"role"`
	Duration time.Duration `cel:"duration"`
	Reason   string        `cel:"reason"`
	Incident string        `cel:"incident"`
}

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[celUser](), reflect.TypeFor[celRequest](), ext.ParseStructTags(true)),
		ext.Strings(),
		cel.Variable("user", cel.ObjectType("rules.celUser")),
		cel.Variable("request", cel.ObjectType("rules.celRequest")),
		cel.Variable("now", cel.TimestampType),
	)
}

// program is one compiled expression of a role.
type program struct {
	src string
	prg cel.Program
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
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, err
	}
	return &program{src: src, prg: prg}, nil
}

func (p *program) eval(u User, in Input, now time.Time) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), evalTimeout)
	defer cancel()
	out, _, err := p.prg.ContextEval(ctx, map[string]any{
		"user": celUser{ID: u.ID, Name: u.Name, Email: u.Email, Groups: nonNil(u.Groups), IsGuest: u.IsGuest,
			IsExternal: u.IsExternal, OnCall: u.OnCall, OnCallSchedules: nonNil(u.OnCallSchedules)},
		"request": celRequest{Role: in.Role, Duration: in.Duration, Reason: in.Reason, Incident: in.Incident},
		"now":     now,
	})
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", p.src, err)
	}
	return out.Value(), nil
}

func (p *program) evalBool(u User, in Input, now time.Time) (bool, error) {
	v, err := p.eval(u, in, now)
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
