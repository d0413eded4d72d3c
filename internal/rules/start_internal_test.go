package rules

import (
	"reflect"
	"testing"
	"time"
)

// TestRequestFieldsCoverCELRequest: every field CEL sees of request has
// its bit, and only keeps exactly that field for it, so that a field added
// to celRequest without one cannot be left out of a remembered decision's
// key.
func TestRequestFieldsCoverCELRequest(t *testing.T) {
	full := celRequest{Role: "r", Account: "111111111111", Duration: time.Hour, Reason: "why", Incident: "INC-1",
		Start: time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC)}
	rt := reflect.TypeFor[celRequest]()
	fv := reflect.ValueOf(full)
	for i := range rt.NumField() {
		name := rt.Field(i).Tag.Get("cel")
		if fv.Field(i).IsZero() {
			t.Fatalf("test request leaves %s zero", name)
		}
		bit, ok := requestField[name]
		if !ok {
			t.Errorf("request.%s has no bit in requestField", name)
			continue
		}
		if readsWholeRequest&bit == 0 {
			t.Errorf("readsWholeRequest leaves out request.%s", name)
		}
		kept := reflect.ValueOf(bit.only(full))
		for j := range rt.NumField() {
			if got, want := !kept.Field(j).IsZero(), i == j; got != want {
				t.Errorf("only(%s) keeps %s: %v, want %v", name, rt.Field(j).Tag.Get("cel"), got, want)
			}
		}
	}
	if got := readsWholeRequest.only(full); got != full {
		t.Errorf("readsWholeRequest.only = %+v, want all of %+v", got, full)
	}
}

// TestPreparedRemembersPerStart: a Prepared user's decision on a rule that
// reads request.start, but not now, is remembered per start: /jit roles
// must not answer a window at 23:00 with what it decided for one at 10:00.
func TestPreparedRemembersPerStart(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile(env, `request.start.getHours("Europe/Berlin") >= 22`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	u := Prepare(User{ID: "U0ALICE"})
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		start time.Time
		want  bool
	}{
		{time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC), false},
		{time.Date(2026, 3, 10, 21, 30, 0, 0, time.UTC), true}, // 22:30 in Berlin
		{time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC), false},
		{time.Time{}, false}, // now: 10:00 in Berlin
	} {
		got, err := p.evalBool(u, Input{Role: "r", Start: c.start}, now)
		if err != nil || got != c.want {
			t.Errorf("start %v: %v, %v; want %v", c.start, got, err, c.want)
		}
	}
}
