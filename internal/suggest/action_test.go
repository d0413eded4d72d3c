package suggest

import (
	"strings"
	"testing"
)

func TestParseAction(t *testing.T) {
	tests := []struct{ name, in, want, wantErr string }{
		{name: "plain", in: "s3:GetObject", want: "s3:GetObject"},
		{name: "service with dash", in: "resource-groups:ListGroups", want: "resource-groups:ListGroups"},
		{name: "lambda api version", in: "lambda:ListFunctions20150331", want: "lambda:ListFunctions"},
		{name: "lambda api version v2", in: "lambda:GetFunctionConfiguration20150331v2", want: "lambda:GetFunctionConfiguration"},
		{name: "no colon", in: "GetObject", wantErr: "want service:Name"},
		{name: "wildcard", in: "s3:Get*", wantErr: "not an IAM action name"},
		{name: "upper-case service", in: "S3:GetObject", wantErr: "not a lowercase IAM service prefix"},
		{name: "markup", in: "s3:<!channel>", wantErr: "not an IAM action name"},
		{name: "two colons", in: "s3:Get:Object", wantErr: "not an IAM action name"},
		{name: "empty name", in: "s3:", wantErr: "not an IAM action name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAction(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAction(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParseAction(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestReadOnlyAndVerb(t *testing.T) {
	tests := []struct {
		in       string
		readOnly bool
		verb     string
	}{
		{"s3:GetObject", true, "Get"},
		{"ec2:DescribeInstances", true, "Describe"},
		{"dynamodb:BatchGetItem", true, "BatchGet"},
		{"dynamodb:BatchWriteItem", false, "Batch"},
		{"s3:HeadObject", true, "Head"},
		{"cloudtrail:LookupEvents", true, "Lookup"},
		{"s3:PutObject", false, "Put"},
		{"ec2:TerminateInstances", false, "Terminate"},
		{"sts:GetCallerIdentity", true, "Get"},
		// A read verb only counts as a whole word.
		{"foo:Getaway", false, "Getaway"},
		{"foo:Listen", false, "Listen"},
		{"s3:Get", true, "Get"},
	}
	for _, tt := range tests {
		a, err := ParseAction(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if a.ReadOnly() != tt.readOnly || a.Verb() != tt.verb {
			t.Errorf("%s: ReadOnly %v Verb %q; want %v %q", tt.in, a.ReadOnly(), a.Verb(), tt.readOnly, tt.verb)
		}
	}
}
