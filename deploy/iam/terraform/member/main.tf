# The member-account side of jitbot: apply it in every other account of
# the organisation whose jit-* roles the catalog names.
#
# jitbot issues grants there with its own role (each jit-* role trusts it
# directly), but its credentials reach IAM in its own account only, so it
# checks those roles and writes its revoke deny on them as jitbot-member,
# the role this module creates. The policies are read from the JSON files
# of deploy/iam, which the tests in deploy/ check against the code.

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

  # jitbot-member may act on this account's jit-* roles only, and never
  # lift their boundary: every IAM ARN gets this account in place of "*".
  member_policy = replace(file("${path.module}/../../member-policy.json"), "arn:aws:iam::*:", "arn:aws:iam::${local.account_id}:")

  member_trust_doc = jsondecode(file("${path.module}/../../member-trust-policy.json"))
  member_trust_policy = jsonencode(merge(local.member_trust_doc, {
    Statement = [
      for s in local.member_trust_doc.Statement : merge(s, { Principal = { AWS = var.jitbot_role_arn } })
    ]
  }))

  boundary_arn = "arn:aws:iam::${local.account_id}:policy/jit-boundary"

  # What every jit-* role of this account must trust: jitbot's own role,
  # which issues the grants.
  target_trust_doc = jsondecode(file("${path.module}/../../trust-policy.json"))
  target_trust_policy = jsonencode(merge(local.target_trust_doc, {
    Statement = [
      for s in local.target_trust_doc.Statement : merge(s, { Principal = { AWS = var.jitbot_role_arn } })
    ]
  }))
}

resource "aws_iam_role" "member" {
  name               = "jitbot-member"
  description        = "jitbot: checks this account's jit-* roles and writes its revoke deny on them"
  assume_role_policy = local.member_trust_policy
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = length(regexall("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.jitbot_role_arn)) > 0
      error_message = "jitbot_role_arn must be jitbot's role ARN (the output bot_role_arn of the main module)."
    }
  }
}

resource "aws_iam_role_policy" "member" {
  name   = "jitbot-member"
  role   = aws_iam_role.member.id
  policy = local.member_policy
}

resource "aws_iam_policy" "boundary" {
  name        = "jit-boundary"
  description = "jitbot: the ceiling of every jit-* role; jitbot may not change it"
  policy      = file("${path.module}/../../boundary-policy.json")
  tags        = var.tags
}

# An aws_sts target in this account (catalog: backend aws_sts, role_arn =
# this role's ARN).
resource "aws_iam_role" "example" {
  count                = var.create_example ? 1 : 0
  name                 = "jit-example-readonly"
  description          = "Example jitbot target: read-only, issued for one task at a time"
  assume_role_policy   = local.target_trust_policy
  max_session_duration = var.example_max_session_duration
  permissions_boundary = local.boundary_arn
  tags                 = var.tags
  depends_on           = [aws_iam_policy.boundary]
}

resource "aws_iam_role_policy_attachment" "example" {
  count      = var.create_example ? 1 : 0
  role       = aws_iam_role.example[0].name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}
