# jitbot's own IAM role with its least-privilege policy, the trust policy
# its target roles need, and one example role and group.
#
# Both policies are read from the JSON files beside this module
# (../iam-policy.json, ../trust-policy.json), the same files the tests in
# deploy/ check against the code, so what Terraform applies is what was
# tested. Only the account, the audit bucket and jitbot's role ARN are
# filled in here, and statements of features that are off are left out.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id

  # ../iam-policy.json names its optional statements by Sid; the others
  # are always kept.
  optional_statements = {
    SummariseUsageWhenJitUsageLookupIsOn               = var.usage_lookup
    ExportAuditLogWhenJitAuditS3BucketIsSet            = var.audit_s3_bucket != ""
    ListAccountsOfOrganizationalUnitsWhenARoleNamesOne = var.organizational_units
    FindTheIdentityCenterInstance                      = local.identity_center
    AssignPermissionSetsInTheIdentityCenterInstance    = local.identity_center
    FindPermissionSetsByName                           = local.identity_center
    AssignOnlyJitManagedPermissionSets                 = local.identity_center
    AssignPermissionSetsInAccounts                     = local.identity_center
    UseTheIdentityStore                                = local.identity_center
    FindIdentityCenterUsers                            = local.identity_center
    ManageIdentityCenterGroupMembers                   = local.identity_center
    ReadAndEndIdentityCenterMemberships                = local.identity_center
  }

  # The Identity Center statements, kept when identity_center_instance_arn
  # is set, are narrowed to that instance and its identity store and, when
  # given, to the accounts and groups listed: the policy file cannot know
  # them. Users and memberships are named by IDs made at grant time, so
  # they stay "*" (the tag condition on permission sets still holds).
  identity_center = var.identity_center_instance_arn != ""
  sso_instance_id = local.identity_center ? element(split("/", var.identity_center_instance_arn), 1) : ""
  sso_resources = {
    "arn:aws:sso:::instance/*"                 = [var.identity_center_instance_arn]
    "arn:aws:sso:::permissionSet/*/*"          = ["arn:aws:sso:::permissionSet/${local.sso_instance_id}/*"]
    "arn:aws:sso:::account/*"                  = length(var.identity_center_accounts) > 0 ? [for a in var.identity_center_accounts : "arn:aws:sso:::account/${a}"] : ["arn:aws:sso:::account/*"]
    "arn:aws:identitystore::*:identitystore/*" = ["arn:aws:identitystore::${local.account_id}:identitystore/${var.identity_store_id}"]
    "arn:aws:identitystore:::group/*"          = length(var.identity_center_group_ids) > 0 ? [for g in var.identity_center_group_ids : "arn:aws:identitystore:::group/${g}"] : ["arn:aws:identitystore:::group/*"]
  }
  # As JSON, so that one expression can give a statement a list where the
  # file has a string.
  sso_resources_json = { for k, v in local.sso_resources : k => length(v) == 1 ? jsonencode(v[0]) : jsonencode(v) }

  # The statements that reach the jit-* roles and jitbot-member of every
  # account of the organisation (their condition keeps them inside it);
  # see member/ for what a member account needs.
  organisation_statements = {
    IssueStsGrantsInTheOrganisation      = true
    ReachMemberAccountsInTheOrganisation = true
  }

  bot_policy_doc = jsondecode(file("${path.module}/../iam-policy.json"))
  bot_statements = [
    for s in local.bot_policy_doc.Statement : merge(s, {
      Resource = jsondecode(lookup(local.sso_resources_json, s.Resource,
      jsonencode(replace(s.Resource, "arn:aws:s3:::jit-audit-evidence/jitbot/audit/", "arn:aws:s3:::${var.audit_s3_bucket}/${var.audit_s3_prefix}/"))))
    })
    if lookup(local.optional_statements, s.Sid, true)
  ]
  # Every IAM ARN of the other statements, in Resource and in the boundary
  # conditions alike, gets this account in place of "*".
  bot_policy = jsonencode(merge(local.bot_policy_doc, {
    Statement = [
      for s in local.bot_statements : lookup(local.organisation_statements, s.Sid, false) ? s : jsondecode(replace(jsonencode(s), "arn:aws:iam::*:", "arn:aws:iam::${local.account_id}:"))
    ]
  }))

  # The permissions boundary every jit-* role must carry: jitbot may write
  # its revoke deny only on roles that have it, and may never remove or
  # change it, so whoever holds jitbot's credentials cannot lift a role
  # above it, whatever inline policy they write.
  boundary_arn = "arn:aws:iam::${local.account_id}:policy/jit-boundary"

  # The trust policy of every role jitbot hands out: only jitbot's role,
  # and only with the requester as source identity and the request tag.
  target_trust_doc = jsondecode(file("${path.module}/../trust-policy.json"))
  target_trust_policy = jsonencode(merge(local.target_trust_doc, {
    Statement = [
      for s in local.target_trust_doc.Statement : merge(s, { Principal = { AWS = aws_iam_role.bot.arn } })
    ]
  }))

  bot_trust_statements = concat(
    [for arn in compact([var.oidc_provider_arn]) : {
      Sid       = "EksServiceAccount"
      Effect    = "Allow"
      Principal = { Federated = arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${element(split("oidc-provider/", arn), 1)}:sub" = "system:serviceaccount:${var.namespace}:${var.service_account}"
          "${element(split("oidc-provider/", arn), 1)}:aud" = "sts.amazonaws.com"
        }
      }
    }],
    [for cluster in compact([var.pod_identity_cluster_name]) : {
      Sid       = "EksPodIdentity"
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }],
    [for arns in [var.trusted_principal_arns] : {
      Sid       = "TrustedPrincipals"
      Effect    = "Allow"
      Principal = { AWS = arns }
      Action    = "sts:AssumeRole"
    } if length(arns) > 0],
  )
}

resource "aws_iam_role" "bot" {
  name               = var.name
  description        = "jitbot: issues and revokes just-in-time access to jit-* roles and groups"
  assume_role_policy = jsonencode({ Version = "2012-10-17", Statement = local.bot_trust_statements })
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = length(local.bot_trust_statements) > 0
      error_message = "Nobody could run as jitbot: set oidc_provider_arn (IRSA), pod_identity_cluster_name (EKS Pod Identity) or trusted_principal_arns."
    }
  }
}

resource "aws_iam_role_policy" "bot" {
  name   = "jitbot"
  role   = aws_iam_role.bot.id
  policy = local.bot_policy

  lifecycle {
    precondition {
      condition = !local.identity_center || (length(regexall("^arn:aws[a-z-]*:sso:::instance/ssoins-[0-9a-f]{16}$", var.identity_center_instance_arn)) > 0 &&
      length(regexall("^d-[0-9a-z]{10}$", var.identity_store_id)) > 0)
      error_message = "identity_center_instance_arn must be an instance ARN (arn:aws:sso:::instance/ssoins-…) and identity_store_id its identity store (d-…), as aws sso-admin list-instances shows them."
    }
  }
}

resource "aws_eks_pod_identity_association" "bot" {
  count           = var.pod_identity_cluster_name == "" ? 0 : 1
  cluster_name    = var.pod_identity_cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.bot.arn
  tags            = var.tags
}

resource "aws_iam_policy" "boundary" {
  name        = "jit-boundary"
  description = "jitbot: the ceiling of every jit-* role; jitbot may not change it"
  policy      = file("${path.module}/../boundary-policy.json")
  tags        = var.tags
}

# An aws_sts target: requested with /jit request example-readonly …
# (catalog: backend aws_sts, role_arn = this role's ARN).
resource "aws_iam_role" "example" {
  count                = var.create_examples ? 1 : 0
  name                 = "jit-example-readonly"
  description          = "Example jitbot target: read-only, issued for one task at a time"
  assume_role_policy   = local.target_trust_policy
  max_session_duration = var.example_max_session_duration
  permissions_boundary = local.boundary_arn
  tags                 = var.tags
  depends_on           = [aws_iam_policy.boundary]
}

resource "aws_iam_role_policy_attachment" "example" {
  count      = var.create_examples ? 1 : 0
  role       = aws_iam_role.example[0].name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}

# An aws_iam_group target: empty until jitbot adds an approved user, who
# is removed again at expiry (catalog: backend aws_iam_group, group =
# jit-example-admins).
resource "aws_iam_group" "example" {
  count = var.create_examples ? 1 : 0
  name  = "jit-example-admins"
}

resource "aws_iam_group_policy_attachment" "example" {
  count      = var.create_examples ? 1 : 0
  group      = aws_iam_group.example[0].name
  policy_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
}
