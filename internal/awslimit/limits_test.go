package awslimit

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := Parse(" iam=4, sts=off,cloudtrail=0.5 ,s3=0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Limit{
		"iam":           {Rate: 4, Burst: 4},
		"sts":           {},
		"cloudtrail":    {Rate: 0.5, Burst: 1},
		"s3":            {},
		"sso-admin":     Defaults["sso-admin"], // not named: its default
		"identitystore": Defaults["identitystore"],
		"organizations": Defaults["organizations"],
	}
	if len(got) != len(want) {
		t.Errorf("Parse = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Parse: %s = %+v, want %+v", k, got[k], v)
		}
	}
	if Defaults["iam"].Rate != 10 {
		t.Errorf("Parse changed Defaults: iam %+v", Defaults["iam"])
	}
	if s := got.String(); s != "cloudtrail=0.5,iam=4,identitystore=10,organizations=5,s3=off,sso-admin=10,sts=off" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseEmptyIsDefaults(t *testing.T) {
	for _, s := range []string{"", "  "} {
		got, err := Parse(s)
		if err != nil || got.String() != Defaults.String() {
			t.Errorf("Parse(%q) = %v, %v; want the defaults %v", s, got, err, Defaults)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"iam", `expected service=rate pairs separated by commas, such as iam=10,sts=50; got "iam" in "iam"`},
		{"iam=10,", `got "" in "iam=10,"`},
		{"=10", `got "=10" in "=10"`},
		{"IAM=10", `unknown service "IAM"; expected one of cloudtrail, iam, identitystore, organizations, s3, sso-admin, sts`},
		{"ec2=10", `unknown service "ec2"`},
		{"iam=10,iam=5", "iam is named twice"},
		{"iam=-1", `iam: expected requests per second (such as 10 or 0.5), or 0 or off for no limit; got "-1"`},
		{"iam=fast", `iam: expected requests per second`},
		{"iam=", `iam: expected requests per second`},
		{"iam=Inf", `iam: expected requests per second`},
		{"iam=NaN", `iam: expected requests per second`},
		{"iam=10/s", `iam: expected requests per second`},
	} {
		_, err := Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
}

func TestServiceKey(t *testing.T) {
	for id, want := range map[string]string{"IAM": "iam", "SSO Admin": "sso-admin", "identitystore": "identitystore", "CloudTrail": "cloudtrail"} {
		if got := ServiceKey(id); got != want {
			t.Errorf("ServiceKey(%q) = %q, want %q", id, got, want)
		}
		if Defaults[want] == (Limit{}) {
			t.Errorf("no default limit for %s", want)
		}
	}
}
