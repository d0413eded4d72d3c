package suggest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func call(action string, min int, resources ...string) Call {
	a, err := ParseAction(action)
	if err != nil {
		panic(err)
	}
	return Call{Action: a, At: t0.Add(time.Duration(min) * time.Minute), Resources: resources}
}

// TestBuild: six one-hour grants; the figures below are worked out by hand
// from the calls, not by the code under test.
func TestBuild(t *testing.T) {
	const bucket = "arn:aws:s3:::logs/app.log"
	denied := call("s3:DeleteObject", 5)
	denied.Denied = true
	grants := []Grant{
		{ID: "g1", Calls: []Call{call("s3:GetObject", 0, bucket), call("s3:GetObject", 10, bucket)}},          // 10m, read
		{ID: "g2", Calls: []Call{call("ec2:DescribeInstances", 0), call("s3:GetObject", 20, bucket, "logs")}}, // 20m, read
		{ID: "g3", Calls: []Call{call("s3:PutObject", 0, bucket), call("ec2:DescribeInstances", 5), denied}},  // 5m, write
		{ID: "g4", Calls: []Call{call("ec2:DescribeInstances", 0), call("ec2:DescribeVpcs", 15)}},             // 15m, read
		{ID: "g5", Calls: []Call{call("ec2:DescribeInstances", 0), call("ec2:DescribeInstances", 25)}},        // 25m, read
		{ID: "g6"}, // never used
		{ID: "g7", Calls: []Call{call("ec2:DescribeInstances", 0), call("s3:ListBucket", 30)}}, // 30m, read; ListBucket names nothing
	}
	for i := range grants {
		grants[i].Start, grants[i].End = t0, t0.Add(time.Hour)
	}
	s := Build("readonly", 2*time.Hour, grants)

	if s.Grants != 7 || s.Used != 6 || s.ReadOnly != 5 {
		t.Errorf("grants %d used %d read-only %d; want 7, 6, 5", s.Grants, s.Used, s.ReadOnly)
	}
	// Used spans 5, 10, 15, 20, 25, 30 min: nearest-rank p90 of six is the
	// sixth, 30m; rounded up to 15m steps it stays 30m, at most 3/4 of 2h.
	if s.UsedP90 != 30*time.Minute || s.GrantedMedian != time.Hour || s.Duration != 30*time.Minute {
		t.Errorf("p90 %s median %s suggested %s; want 30m, 1h, 30m", s.UsedP90, s.GrantedMedian, s.Duration)
	}
	type use struct {
		action        string
		calls, grants int
		resources     []string
	}
	var got []use
	for _, u := range s.Actions {
		got = append(got, use{u.Action.String(), u.Calls, u.Grants, u.Resources})
	}
	want := []use{
		{"ec2:DescribeInstances", 6, 5, nil},
		{"ec2:DescribeVpcs", 1, 1, nil},
		{"s3:GetObject", 3, 2, []string{bucket}},
		{"s3:ListBucket", 1, 1, nil},
		{"s3:PutObject", 1, 1, []string{bucket}},
	}
	if !slices.EqualFunc(got, want, func(a, b use) bool {
		return a.action == b.action && a.calls == b.calls && a.grants == b.grants && slices.Equal(a.resources, b.resources)
	}) {
		t.Errorf("actions\n got %v\nwant %v", got, want)
	}

	// The policy: valid JSON, exactly the used actions, the bucket where
	// the events named it.
	var p struct {
		Version   string
		Statement []struct {
			Sid, Effect      string
			Action, Resource []string
		}
	}
	if err := json.Unmarshal([]byte(s.Policy.JSON()), &p); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, s.Policy.JSON())
	}
	allowed := map[string][]string{}
	for _, st := range p.Statement {
		if st.Effect != "Allow" || st.Sid == "" {
			t.Errorf("statement %+v", st)
		}
		for _, a := range st.Action {
			allowed[a] = append(allowed[a], st.Resource...)
		}
	}
	wantAllowed := map[string][]string{
		"ec2:DescribeInstances": {"*"}, "ec2:DescribeVpcs": {"*"},
		"s3:GetObject": {bucket}, "s3:PutObject": {bucket}, "s3:ListBucket": {"*"},
	}
	if p.Version != "2012-10-17" || len(allowed) != len(wantAllowed) {
		t.Errorf("policy allows %v; want %v", allowed, wantAllowed)
	}
	for a, r := range wantAllowed {
		if !slices.Equal(allowed[a], r) {
			t.Errorf("policy allows %s on %v; want %v", a, allowed[a], r)
		}
	}
	if len(p.Statement) != 3 { // ec2 on *, s3 on the bucket, s3 on *
		t.Errorf("%d statements; want 3:\n%s", len(p.Statement), s.Policy.JSON())
	}

	if line, want := s.Line(), "the last 7 grants used only ec2:Describe*, s3:GetObject, s3:ListBucket, s3:PutObject"; line != want {
		t.Errorf("Line() = %q; want %q", line, want)
	}
}

func TestSuggestDuration(t *testing.T) {
	tests := []struct {
		name     string
		p90, def time.Duration
		want     time.Duration
	}{
		{name: "rounds up to 15m", p90: 31 * time.Minute, def: 4 * time.Hour, want: 45 * time.Minute},
		{name: "at least 15m", p90: 0, def: time.Hour, want: 15 * time.Minute},
		{name: "exactly three quarters", p90: 45 * time.Minute, def: time.Hour, want: 45 * time.Minute},
		{name: "not clearly below", p90: 46 * time.Minute, def: time.Hour, want: 0},
		{name: "longer than the default", p90: 3 * time.Hour, def: time.Hour, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggestDuration(tt.p90, tt.def); got != tt.want {
				t.Errorf("suggestDuration(%s, %s) = %s; want %s", tt.p90, tt.def, got, tt.want)
			}
		})
	}
}

// TestLineNeedsHistory: fewer than MinHistory used grants say nothing to
// approvers and suggest no duration.
func TestLineNeedsHistory(t *testing.T) {
	var gs []Grant
	for i := range MinHistory - 1 {
		gs = append(gs, Grant{Start: t0, End: t0.Add(time.Hour), Calls: []Call{call("s3:GetObject", i)}})
	}
	gs = append(gs, Grant{Start: t0, End: t0.Add(time.Hour)}) // unused: does not count
	s := Build("r", time.Hour, gs)
	if s.Line() != "" || s.Duration != 0 {
		t.Errorf("with %d used grants: line %q, duration %s; want none", s.Used, s.Line(), s.Duration)
	}
	gs = append(gs, Grant{Start: t0, End: t0.Add(time.Hour), Calls: []Call{call("s3:GetObject", 0)}})
	if s := Build("r", time.Hour, gs); s.Line() != "the last 6 grants used only s3:GetObject (read-only)" {
		t.Errorf("with %d used grants: line %q", s.Used, s.Line())
	}
}
