package deploy_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The Terraform module cannot be planned here (terraform init downloads
// the AWS provider), so these tests evaluate its expressions with HCL
// itself, with the few Terraform functions the module uses, and check what
// it would send to AWS.

const (
	tfDir      = "iam/terraform"
	tfAccount  = "123456789012"
	tfBotARN   = "arn:aws:iam::" + tfAccount + ":role/jitbot"
	tfOIDCHost = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
	tfInstance = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
	tfStore    = "d-9067abcdef"
)

// TestTerraformAppliesTheTestedPolicies evaluates the module and checks
// that the policy it puts on jitbot's role is deploy/iam/iam-policy.json
// (the one checked against the code) with only the account and the audit
// bucket filled in, minus the statements of features that are off, and
// that its example target role trusts jitbot through
// deploy/iam/trust-policy.json.
func TestTerraformAppliesTheTestedPolicies(t *testing.T) {
	m := loadModule(t)
	tests := []struct {
		name     string
		vars     map[string]cty.Value
		optional bool // usage lookups, audit export and OU listing on
		bucket   string
		sso      map[string]any // the Identity Center ARNs of the file → what the module puts in their place; nil: left out
	}{
		{name: "defaults"},
		{name: "identity center, any account and group", vars: map[string]cty.Value{
			"identity_center_instance_arn": cty.StringVal(tfInstance), "identity_store_id": cty.StringVal(tfStore)},
			sso: map[string]any{
				"arn:aws:sso:::instance/*":                 tfInstance,
				"arn:aws:sso:::permissionSet/*/*":          "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/*",
				"arn:aws:sso:::account/*":                  "arn:aws:sso:::account/*",
				"arn:aws:identitystore::*:identitystore/*": "arn:aws:identitystore::" + tfAccount + ":identitystore/" + tfStore,
				"arn:aws:identitystore:::group/*":          "arn:aws:identitystore:::group/*",
			}},
		{name: "identity center, listed accounts and groups", vars: map[string]cty.Value{
			"identity_center_instance_arn": cty.StringVal(tfInstance), "identity_store_id": cty.StringVal(tfStore),
			"identity_center_accounts":  cty.ListVal([]cty.Value{cty.StringVal("111111111111"), cty.StringVal("222222222222")}),
			"identity_center_group_ids": cty.ListVal([]cty.Value{cty.StringVal("g-billing")})},
			sso: map[string]any{
				"arn:aws:sso:::instance/*":                 tfInstance,
				"arn:aws:sso:::permissionSet/*/*":          "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/*",
				"arn:aws:sso:::account/*":                  []any{"arn:aws:sso:::account/111111111111", "arn:aws:sso:::account/222222222222"},
				"arn:aws:identitystore::*:identitystore/*": "arn:aws:identitystore::" + tfAccount + ":identitystore/" + tfStore,
				"arn:aws:identitystore:::group/*":          "arn:aws:identitystore:::group/g-billing",
			}},
		{name: "usage and export on", optional: true, bucket: "evidence/team-a/audit", vars: map[string]cty.Value{
			"usage_lookup": cty.True, "audit_s3_bucket": cty.StringVal("evidence"), "audit_s3_prefix": cty.StringVal("team-a/audit"),
			"organizational_units": cty.True}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := m.eval(t, tt.vars)
			got := jsonOf(t, m.attr(t, e, "aws_iam_role_policy.bot", "policy").AsString())

			want := fileJSON(t, botPolicyFile)
			var kept []any
			for _, s := range want["Statement"].([]any) {
				st := s.(map[string]any)
				actions := st["Action"].([]any)
				if !tt.optional && (slices.Contains(actions, any("cloudtrail:LookupEvents")) || slices.Contains(actions, any("s3:PutObject")) ||
					slices.Contains(actions, any("organizations:ListAccountsForParent"))) {
					continue
				}
				res := st["Resource"].(string)
				if identityCenter(actions) {
					if tt.sso == nil {
						continue
					}
					if narrowed, ok := tt.sso[res]; ok {
						st["Resource"] = narrowed
						kept = append(kept, st)
						continue
					}
				}
				if tt.bucket != "" {
					res = strings.Replace(res, "arn:aws:s3:::jit-audit-evidence/jitbot/audit/", "arn:aws:s3:::"+tt.bucket+"/", 1)
				}
				st["Resource"] = res
				// The account goes into every IAM ARN, Resource and the
				// permissions boundary conditions, but those of the
				// statements that reach the whole organisation.
				if !inOrganisation(st) {
					st = jsonOf(t, strings.ReplaceAll(pretty(st), "arn:aws:iam::*:", "arn:aws:iam::"+tfAccount+":"))
				}
				kept = append(kept, st)
			}
			want["Statement"] = kept
			var orgWide []string
			for _, st := range got["Statement"].([]any) {
				if st := st.(map[string]any); inOrganisation(st) && strings.HasPrefix(st["Resource"].(string), "arn:aws:iam::*:role/") {
					orgWide = append(orgWide, st["Resource"].(string))
				}
			}
			if !slices.Equal(orgWide, []string{"arn:aws:iam::*:role/jit-*", "arn:aws:iam::*:role/jitbot-member"}) {
				t.Errorf("statements reaching every account of the organisation: %q; want jit-* and jitbot-member", orgWide)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("policy on jitbot's role:\n%s\nwant %s with the account and bucket filled in:\n%s", pretty(got), botPolicyFile, pretty(want))
			}
			if !slices.Contains(e.read, filepath.Clean(botPolicyFile)) || !slices.Contains(e.read, filepath.Clean(trustPolicyFile)) {
				t.Errorf("the module read %v; want %s and %s", e.read, botPolicyFile, trustPolicyFile)
			}

			trust := jsonOf(t, m.attr(t, e, "aws_iam_role.example", "assume_role_policy").AsString())
			wantTrust := fileJSON(t, trustPolicyFile)
			for _, s := range wantTrust["Statement"].([]any) {
				s.(map[string]any)["Principal"] = map[string]any{"AWS": tfBotARN}
			}
			if !reflect.DeepEqual(trust, wantTrust) {
				t.Errorf("trust policy of jit-example-readonly:\n%s\nwant %s naming jitbot's role:\n%s", pretty(trust), trustPolicyFile, pretty(wantTrust))
			}
		})
	}
}

// identityCenter reports whether a statement is one of the Identity
// Center statements, which the module keeps only with an instance.
func identityCenter(actions []any) bool {
	return slices.ContainsFunc(actions, func(a any) bool {
		return strings.HasPrefix(a.(string), "sso:") || strings.HasPrefix(a.(string), "identitystore:")
	})
}

// inOrganisation reports whether a statement is limited to the roles of
// jitbot's organisation: its resource's account stays "*".
func inOrganisation(st map[string]any) bool {
	cond, _ := st["Condition"].(map[string]any)
	eq, _ := cond["StringEquals"].(map[string]any)
	return eq["aws:ResourceOrgID"] == "${aws:PrincipalOrgID}"
}

// TestTerraformExamplesAndWiring checks the module's resources: the example
// role and group carry jit- names (so jitbot's policy reaches them), can be
// left out, the inline policy sits on jitbot's role, and every reference
// names a declared variable, local or resource (what terraform validate
// would say, without the provider).
func TestTerraformExamplesAndWiring(t *testing.T) {
	m := loadModule(t)
	e := m.eval(t, nil)
	for resource, want := range map[string]string{
		"aws_iam_role.bot":      "jitbot",
		"aws_iam_role.example":  "jit-example-readonly",
		"aws_iam_group.example": "jit-example-admins",
	} {
		if got := m.attr(t, e, resource, "name").AsString(); got != want {
			t.Errorf("%s name %q; want %q", resource, got, want)
		}
	}
	for _, r := range []string{"aws_iam_role.example", "aws_iam_role_policy_attachment.example", "aws_iam_group.example", "aws_iam_group_policy_attachment.example"} {
		if n := m.attr(t, e, r, "count"); !n.Equals(cty.NumberIntVal(1)).True() {
			t.Errorf("%s count %#v with create_examples on", r, n)
		}
		off := m.eval(t, map[string]cty.Value{"create_examples": cty.False})
		if n := m.attr(t, off, r, "count"); !n.Equals(cty.NumberIntVal(0)).True() {
			t.Errorf("%s count %#v with create_examples off", r, n)
		}
	}
	if got := m.attr(t, e, "aws_iam_role_policy.bot", "role").AsString(); got != "jitbot" {
		t.Errorf("the policy is put on role %q; want jitbot's", got)
	}

	m.checkReferences(t)
}

// TestTerraformWhoRunsAsJitbot checks the trust policy of jitbot's own
// role for each way to run it: IRSA (the service account's OIDC subject),
// EKS Pod Identity (with its association), other principals, and none,
// which the module refuses.
func TestTerraformWhoRunsAsJitbot(t *testing.T) {
	m := loadModule(t)
	trust := func(e *moduleEval) []any {
		return jsonOf(t, m.attr(t, e, "aws_iam_role.bot", "assume_role_policy").AsString())["Statement"].([]any)
	}

	irsa := m.eval(t, map[string]cty.Value{
		"oidc_provider_arn": cty.StringVal("arn:aws:iam::" + tfAccount + ":oidc-provider/" + tfOIDCHost),
		"namespace":         cty.StringVal("security"), "service_account": cty.StringVal("jit"),
	})
	want := []any{map[string]any{
		"Sid": "EksServiceAccount", "Effect": "Allow",
		"Principal": map[string]any{"Federated": "arn:aws:iam::" + tfAccount + ":oidc-provider/" + tfOIDCHost},
		"Action":    "sts:AssumeRoleWithWebIdentity",
		"Condition": map[string]any{"StringEquals": map[string]any{
			tfOIDCHost + ":sub": "system:serviceaccount:security:jit",
			tfOIDCHost + ":aud": "sts.amazonaws.com",
		}},
	}}
	if got := trust(irsa); !reflect.DeepEqual(got, want) {
		t.Errorf("IRSA trust:\n%s\nwant\n%s", pretty(got), pretty(want))
	}
	ann, diags := m.outputs["service_account_annotations"].Value(irsa.ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if b, _ := ctyjson.Marshal(ann, ann.Type()); string(b) != `{"eks.amazonaws.com/role-arn":"`+tfBotARN+`"}` {
		t.Errorf("output service_account_annotations %s; want the chart's IRSA annotation", b)
	}

	pod := m.eval(t, map[string]cty.Value{"pod_identity_cluster_name": cty.StringVal("prod")})
	want = []any{map[string]any{
		"Sid": "EksPodIdentity", "Effect": "Allow",
		"Principal": map[string]any{"Service": "pods.eks.amazonaws.com"},
		"Action":    []any{"sts:AssumeRole", "sts:TagSession"},
	}}
	if got := trust(pod); !reflect.DeepEqual(got, want) {
		t.Errorf("Pod Identity trust:\n%s\nwant\n%s", pretty(got), pretty(want))
	}
	if n := m.attr(t, pod, "aws_eks_pod_identity_association.bot", "count"); !n.Equals(cty.NumberIntVal(1)).True() {
		t.Errorf("no Pod Identity association for cluster prod")
	}
	if n := m.attr(t, irsa, "aws_eks_pod_identity_association.bot", "count"); !n.Equals(cty.NumberIntVal(0)).True() {
		t.Errorf("a Pod Identity association without a cluster")
	}

	root := "arn:aws:iam::" + tfAccount + ":root"
	other := m.eval(t, map[string]cty.Value{"trusted_principal_arns": cty.ListVal([]cty.Value{cty.StringVal(root)})})
	want = []any{map[string]any{
		"Sid": "TrustedPrincipals", "Effect": "Allow",
		"Principal": map[string]any{"AWS": []any{root}},
		"Action":    "sts:AssumeRole",
	}}
	if got := trust(other); !reflect.DeepEqual(got, want) {
		t.Errorf("principal trust:\n%s\nwant\n%s", pretty(got), pretty(want))
	}

	for _, tt := range []struct {
		instance, store string
		ok              bool
	}{{"", "", true}, {tfInstance, tfStore, true}, {tfInstance, "", false}, {"ssoins-0123456789abcdef", tfStore, false}} {
		e := m.eval(t, map[string]cty.Value{"identity_center_instance_arn": cty.StringVal(tt.instance), "identity_store_id": cty.StringVal(tt.store)})
		if ok := m.attr(t, e, "aws_iam_role_policy.bot", "lifecycle", "precondition", "condition"); ok.True() != tt.ok {
			t.Errorf("instance %q and store %q: the policy's precondition holds = %v, want %v", tt.instance, tt.store, ok.True(), tt.ok)
		}
	}

	none := m.eval(t, nil)
	if ok := m.attr(t, none, "aws_iam_role.bot", "lifecycle", "precondition", "condition"); ok.True() {
		t.Errorf("with no way to run as jitbot, the role's precondition holds; want the module to refuse")
	}
	if ok := m.attr(t, irsa, "aws_iam_role.bot", "lifecycle", "precondition", "condition"); !ok.True() {
		t.Errorf("with IRSA the role's precondition fails")
	}
}
